"""trainer/trained_generator.py: one way to build and restore a trained generator, and the
generator average (g_ema_decay) that predict, the sample grids and the quality tools use."""
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from datasets import make_dataset
from runs import checkpoint_values, event_tags, tiny_config
from trainer import images, models, run, sampling, trained_generator
from trainer.networks import checkpoint_name


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
    data = make_dataset(str(tmp_path_factory.mktemp("d")), 32, count=16)
    cfg = tiny_config("dcgan_32", data, "train_steps=3", "save_checkpoints_steps=3", "g_ema_decay=0.9",
                      "learning_rate=0.05")  # large steps: the average visibly trails the weights
    model_dir = str(tmp_path_factory.mktemp("m"))
    run.train(cfg, model_dir)
    return cfg, model_dir


def _generator_weights(values):
    return {n: v for n, v in values.items()
            if n.startswith("generator/") and "adam" not in n.lower() and not n.endswith(trained_generator.EMA_SUFFIX)}


def test_every_generator_weight_has_an_average_that_trails_it(ema_run):
    cfg, model_dir = ema_run
    values = checkpoint_values(model_dir)
    trainable = [n for n in _generator_weights(values) if not n.endswith(("moving_mean", "moving_variance"))]
    assert trainable and all(trained_generator.ema_name(n) in values for n in trainable)
    assert not any(n.startswith("discriminator/") and n.endswith(trained_generator.EMA_SUFFIX) for n in values)
    moved = [n for n in trainable if not np.allclose(values[n], values[trained_generator.ema_name(n)])]
    assert moved, "the average equals the weights: it is a copy, not an average"


def test_load_restores_the_average_not_the_raw_weights(ema_run):
    cfg, model_dir = ema_run
    values = checkpoint_values(model_dir)
    keras_model, step = trained_generator.load(cfg, model_dir)
    assert step == 3
    for weight in keras_model.weights:
        name = checkpoint_name("generator", weight)
        expected = values.get(trained_generator.ema_name(name), values[name])
        np.testing.assert_array_equal(weight.numpy(), expected)


def test_predict_and_sample_grid_show_the_average(ema_run, tmp_path):
    cfg, model_dir = ema_run
    written = run.predict(cfg, model_dir, str(tmp_path / "p"), count=4)
    predicted = np.stack([np.asarray(Image.open(os.path.join(str(tmp_path / "p"), "images", f"{i:05d}-image.png")))
                          for i in range(4)])
    keras_model, _ = trained_generator.load(cfg, model_dir)
    noise = next(iter(models.get("dcgan").predict_dataset(cfg, 4).batch(4)))["noise"]
    expected = images.to_uint8(keras_model(noise, training=False).numpy())
    assert int(written["count"]) == 4
    assert np.abs(predicted.astype(int) - expected.astype(int)).max() <= 1
    raw = trained_generator.build(trained_generator.host_config(cfg), record_updates=False)["generator"].model
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    for weight in raw.weights:
        weight.assign(reader.get_tensor(checkpoint_name("generator", weight)))
    from_raw = images.to_uint8(raw(noise, training=False).numpy())
    assert np.abs(predicted.astype(int) - from_raw.astype(int)).max() > 1, "predict used the raw weights"
    assert os.path.exists(os.path.join(model_dir, sampling.SAMPLES_DIR, sampling.LATEST))


def test_tensorboard_shows_the_average_beside_the_training_images(ema_run):
    cfg, model_dir = ema_run
    grids = event_tags(os.path.join(model_dir, sampling.SAMPLES_DIR))
    assert grids.get("sample_grid_average") == {0, 3}  # one per checkpoint (start and end), from the average
    assert event_tags(model_dir).get("samples") == {0, 1, 2}  # the raw generator, every step (tiny.yaml)


def test_without_an_average_the_weights_restore_under_their_own_names(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 32, count=8)
    cfg = tiny_config("dcgan_32", data, "train_steps=1")
    run.train(cfg, str(tmp_path / "m"))
    values = checkpoint_values(str(tmp_path / "m"))
    assert not any(n.endswith(trained_generator.EMA_SUFFIX) for n in values)
    nets = trained_generator.build(trained_generator.host_config(cfg), record_updates=False)
    mapping = trained_generator.restore_map(nets, set(values))
    assert mapping and all(name in values for name in mapping)
    assert all(checkpoint_name("generator", v) == name for name, v in mapping.items())


def test_a_checkpoint_of_another_config_is_a_one_line_error(ema_run, tmp_path):
    cfg, model_dir = ema_run
    wider = cfg.replace(gf_dim=cfg["gf_dim"] * 2)
    with pytest.raises(trained_generator.ConfigError, match=r"has shape .* the config builds"):
        trained_generator.load(wider, model_dir)
