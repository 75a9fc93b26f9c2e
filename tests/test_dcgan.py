"""DCGAN: network shapes and parameter counts per resolution, and 2-step runs of every shipped
DCGAN config through TPUEstimator(use_tpu=False): checkpoint, changed weights and BN
statistics, event-file scalars and images, sample grids, predict PNGs and the SavedModel."""
import glob
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from datasets import make_dataset
from runs import changed, checkpoint_values, event_tags, graph_events, tiny_config
from trainer import run
from trainer.models import dcgan, dcgan_networks


def expected_generator_params(res, gf, z):
    n = int(np.log2(res)) - 2
    width = gf * 2 ** (n - 1)
    total = z * 16 * width + 4 * width           # projection (no bias) + its batch norm
    for _ in range(n - 1):
        total += 16 * width * (width // 2) + 4 * (width // 2)
        width //= 2
    return total + 16 * width * 3 + 3            # to_rgb with bias


def expected_discriminator_params(res, df):
    n = int(np.log2(res)) - 2
    total, width_in, width = 0, 3, df
    for i in range(n):
        total += 16 * width_in * width + (width if i == 0 else 4 * width)
        width_in, width = width, width * 2
    return total + 16 * width_in + 1             # 4x4 map -> one logit


@pytest.mark.parametrize("res", dcgan.RESOLUTIONS)
def test_network_shapes_and_parameter_counts(res):
    cfg = {"resolution": res, "gf_dim": 64, "df_dim": 64, "noise_dim": 100}
    with tf.Graph().as_default():
        g, d = dcgan_networks.make_generator(cfg), dcgan_networks.make_discriminator(cfg)
        assert g.output_shape == (None, res, res, 3)
        assert d.output_shape == (None,)
        assert g.count_params() == expected_generator_params(res, 64, 100)
        assert d.count_params() == expected_discriminator_params(res, 64)


def test_generator_output_is_in_tanh_range():
    g = dcgan_networks.make_generator({"resolution": 32, "gf_dim": 8, "df_dim": 8, "noise_dim": 16})
    out = g(tf.random.normal([4, 16]) * 100.0, training=False).numpy()
    assert out.min() >= -1.0 and out.max() <= 1.0 and out.std() > 0


@pytest.fixture(scope="module")
def data_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dcgan_data")
    return {res: make_dataset(str(root / f"d{res}"), res, count=12) for res in dcgan.RESOLUTIONS}


@pytest.mark.parametrize("name", ["dcgan_32", "dcgan_64", "dcgan_128"])
def test_two_steps_per_shipped_config(name, data_dirs, tmp_path):
    res = int(name.split("_")[1])
    cfg = tiny_config(name, data_dirs[res])
    model_dir = str(tmp_path / "model")
    assert run.train(cfg, model_dir, max_steps=1) == 1
    before = checkpoint_values(model_dir)
    assert run.train(cfg, model_dir) == 2       # resumes from step 1
    after = checkpoint_values(model_dir)
    assert after["global_step"] == 2
    assert changed(before, after, "generator/") and changed(before, after, "discriminator/")
    assert not np.array_equal(before["generator/project_bn/moving_mean"], after["generator/project_bn/moving_mean"])
    assert not np.array_equal(before["discriminator/down1_bn/moving_variance"],
                              after["discriminator/down1_bn/moving_variance"])
    assert all(np.isfinite(v).all() for v in after.values() if v.dtype.kind == "f")

    tags = event_tags(model_dir)
    assert graph_events(model_dir)[:2] == (0, 0)  # tensorboard_graph: false (trainer/event_files.py)
    for scalar in ("d_loss", "d_loss_real", "d_loss_fake", "g_loss", "learning_rate", "samples"):
        assert scalar in tags, scalar
    grids = sorted(glob.glob(os.path.join(model_dir, "samples", "step_*.png")))
    assert [os.path.basename(p) for p in grids] == ["step_0000000.png", "step_0000001.png", "step_0000002.png"]
    assert Image.open(grids[-1]).size[0] > 2 * res  # a 2x2 grid with padding

    written = run.predict(cfg, model_dir, str(tmp_path / "pred"))
    pngs = glob.glob(str(tmp_path / "pred" / "images" / "*.png"))
    assert len(pngs) == cfg.num_samples and Image.open(pngs[0]).size == (res, res)
    assert os.path.exists(written["grid"])

    export_path = run.export(cfg, model_dir)
    loaded = tf.saved_model.load(export_path)
    images = loaded.signatures["serving_default"](noise=tf.random.normal([3, cfg.noise_dim]))["images"]
    assert images.shape == (3, res, res, 3) and images.dtype == tf.uint8


def test_bfloat16_precision_trains_on_cpu(data_dirs, tmp_path):
    cfg = tiny_config("dcgan_32", data_dirs[32], "precision=bfloat16")
    model_dir = str(tmp_path / "bf16")
    assert run.train(cfg, model_dir) == 2
    values = checkpoint_values(model_dir)
    kernel = values["generator/project/kernel"]
    assert kernel.dtype == np.float32 and np.isfinite(kernel).all()  # variables stay float32


def test_predict_is_deterministic_for_a_seed(data_dirs, tmp_path):
    cfg = tiny_config("dcgan_32", data_dirs[32], "train_steps=1")
    model_dir = str(tmp_path / "m")
    run.train(cfg, model_dir)
    a = run.predict(cfg, model_dir, str(tmp_path / "a"))
    b = run.predict(cfg, model_dir, str(tmp_path / "b"))
    c = run.predict(cfg.replace(seed=1), model_dir, str(tmp_path / "c"))
    read = lambda p: np.asarray(Image.open(p))
    assert np.array_equal(read(a["grid"]), read(b["grid"]))
    assert not np.array_equal(read(a["grid"]), read(c["grid"]))


def test_discriminator_learning_rate_applies_to_d_only(data_dirs, tmp_path):
    """d_learning_rate (TTUR) sets D's rate alone: at 0, D's weights stay put while G trains."""
    cfg = tiny_config("dcgan_32", data_dirs[32], "train_steps=1", "d_learning_rate=0.0")
    model_dir = str(tmp_path / "ttur")
    run.train(cfg, model_dir, max_steps=1)
    before = checkpoint_values(model_dir)
    run.train(cfg.replace(train_steps=2), model_dir)
    after = checkpoint_values(model_dir)
    assert changed(before, after, "generator/")
    assert [n for n in changed(before, after, "discriminator/") if "moving" not in n] == []
    assert changed(before, after, "discriminator/down1_bn/moving")  # D still ran (its BN statistics)
    assert "d_learning_rate" in event_tags(model_dir)
