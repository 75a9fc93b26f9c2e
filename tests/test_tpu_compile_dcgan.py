"""TPU-compile layer for DCGAN (32, 64, 128 px): TRAIN in a loop, EVAL and PREDICT, float32 and
bfloat16, built by the real model_fn and compiled with XLA on CPU (tests/tpu_compile.py).
One file per model family, so the test processes share the work."""
import numpy as np
import pytest
import tensorflow as tf

from tpu_compile import check_mode, compile_mode, datasets_fixture, every_case, tpu_config
from trainer import trained_generator

ModeKeys = tf.estimator.ModeKeys

CONFIGS = ("dcgan_32", "dcgan_64", "dcgan_128")
data = datasets_fixture(CONFIGS)


@every_case(CONFIGS)
def test_step_compiles_for_tpu(data, name, precision, mode, tmp_path):
    check_mode(name, data[name], precision, mode, str(tmp_path / "m"))


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_generator_average_compiles_and_moves(data, precision, tmp_path):
    """g_ema_decay: the average's update is part of the compiled TRAIN step (every G weight has
    one, finite, and it trails the weights instead of copying them)."""
    check_mode("dcgan_32", data["dcgan_32"], precision, ModeKeys.TRAIN, str(tmp_path / "m"), "g_ema_decay=0.99")
    cfg = tpu_config("dcgan_32", data["dcgan_32"], precision, "g_ema_decay=0.99")
    compiled = compile_mode(cfg, ModeKeys.TRAIN, str(tmp_path / "n"))
    with compiled.session.graph.as_default():
        weights = {v.op.name: v for v in tf.compat.v1.trainable_variables() if v.op.name.startswith("generator/")}
        averages = {v.op.name: v for v in tf.compat.v1.global_variables()
                    if v.op.name.endswith("/" + trained_generator.EMA_SUFFIX)}
    assert weights and set(averages) == {trained_generator.ema_name(n) for n in weights}
    compiled.session.run(compiled.outputs)
    raw, avg = compiled.session.run([weights, {n: averages[trained_generator.ema_name(n)] for n in weights}])
    assert all(np.isfinite(avg[n]).all() for n in weights)
    assert any(not np.allclose(raw[n], avg[n]) for n in weights)
    compiled.session.close()
