"""TPU-compile layer for the Progressive GAN (tests/tpu_compile.py): every stage of a 4 -> 8 -> 16
growth (configs/progan_32.yaml + tpu.yaml, tiny widths, final resolution 16) builds TRAIN (in the
2-step loop, with the WGAN-GP second-order gradient, the fade-in alpha from the global step and
the generator EMA), EVAL and PREDICT with the real model_fn, compiled with XLA on CPU, every stage
in float32 and in bfloat16 (as tpu.yaml trains). The 18 cases took 173 s on 2 quiet cores
(2026-12-01, nice 19; 98 s when only the 8x8 stage had bfloat16), most of it the TRAIN and EVAL
compiles. PREDICT's images are checked at the FINAL resolution (the generator upsamples every
stage's output to it).

configs/tiny.yaml sets DCGAN's widths (gf_dim, df_dim), which progan has not: the layer's tiny
overlay is replaced here by progan's tiny widths and schedule (tests/test_progan.py's) with
tiny.yaml's keys that progan has on top."""
import os

import pytest
import tensorflow as tf
import yaml

import tpu_compile
from datasets import make_dataset
from runs import TINY
from test_progan import FINAL, TINY_PROGAN
from tpu_compile import check_mode
from trainer import config
from trainer.models import progan_schedule as ps

ModeKeys = tf.estimator.ModeKeys
STAGES = ps.resolutions(FINAL)  # every stage of the growth: 4, 8, 16
CASES = [(stage, precision, mode) for stage in STAGES for precision in ("float32", "bfloat16")
         for mode in (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(str(tmp_path_factory.mktemp("compile") / "progan"), FINAL, count=8)


@pytest.fixture
def progan_tiny(tmp_path, monkeypatch):
    """tpu_compile's tiny overlay, made for progan."""
    with open(TINY) as f:
        tiny = yaml.safe_load(f)
    keys = config.fields_for("progan")
    overlay = dict(config.parse_set(item) for item in TINY_PROGAN)
    overlay.update({k: v for k, v in tiny.items() if k in keys})  # tiny.yaml's cadences win
    overlay["g_ema_decay"] = 0.99
    path = tmp_path / "progan_tiny.yaml"
    path.write_text(yaml.safe_dump(overlay))
    monkeypatch.setattr(tpu_compile, "TINY", str(path))


@pytest.mark.parametrize("stage,precision,mode", CASES)
def test_stage_compiles_for_tpu(data, progan_tiny, stage, precision, mode, tmp_path):
    check_mode("progan_32", data, precision, mode, str(tmp_path / "m"), f"progan_stage_resolution={stage}")
