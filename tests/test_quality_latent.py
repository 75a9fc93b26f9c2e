"""Latent tools: interpolation keeps its endpoints and the norm, projection recovers a latent the
generator itself produced, and the eager generator restored from a checkpoint computes what
the estimator's graph computes."""
import os

import numpy as np
import pytest
import tensorflow as tf

import runs
from trainer import models
from trainer.gan_model_fn import build_networks
from trainer.quality import generator, latent


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return runs.tiny_config("dcgan_32", str(tmp_path_factory.mktemp("unused_data")))


@pytest.mark.parametrize("method", ["slerp", "nlerp"])
def test_interpolation_keeps_endpoints_and_norm(method):
    rng = np.random.default_rng(0)
    v1, v2 = rng.normal(size=100), rng.normal(size=100)
    path = latent.interpolate(v1, v2, 9, method)
    assert path.shape == (9, 100)
    np.testing.assert_array_equal(path[0], v1.astype(np.float32))
    np.testing.assert_array_equal(path[-1], v2.astype(np.float32))
    norms = np.linalg.norm(path, axis=1)
    expected = np.linspace(np.linalg.norm(v1), np.linalg.norm(v2), 9)
    np.testing.assert_allclose(norms, expected, rtol=1e-5)
    # A plain lerp would dip to ~|v| / sqrt(2) halfway between two random latents.
    assert np.linalg.norm((v1 + v2) / 2) < 0.8 * norms[4]
    # Equal-norm endpoints: the norm stays constant along the whole path (seed 003's property).
    u2 = v2 * np.linalg.norm(v1) / np.linalg.norm(v2)
    same_norm = np.linalg.norm(latent.interpolate(v1, u2, 7, method), axis=1)
    np.testing.assert_allclose(same_norm, np.linalg.norm(v1), rtol=1e-5)


def test_slerp_moves_at_constant_angular_speed():
    v1, v2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    path = latent.interpolate(v1, v2, 5, "slerp")
    angles = np.degrees(np.arctan2(path[:, 1], path[:, 0]))
    np.testing.assert_allclose(angles, [0, 22.5, 45, 67.5, 90], atol=1e-4)


def test_walk_loops_through_the_points():
    points = np.random.default_rng(1).normal(size=(3, 10)).astype(np.float32)
    path = latent.walk(points, 5)
    assert path.shape == (3 * 4, 10)
    np.testing.assert_array_equal(path[[0, 4, 8]], points)


def test_projection_recovers_a_generated_latent(cfg):
    tf.keras.utils.set_random_seed(0)
    net = generator.build(cfg)  # untrained: tiny widths at 32 px
    z_true, z_start = generator.noise(cfg, 2, stream=99)
    target = generator.generate(net, z_true[None])[0]
    start_error = np.abs(generator.generate(net, z_start[None])[0] - target).mean()
    result = latent.project(net, target, z_start, steps=150, learning_rate=0.05)
    assert result["error"] < 0.25 * start_error
    assert result["errors"][-1] < result["errors"][0]
    assert len(result["frames"]) == 150 // 5 + 1 and result["frames"][-1].shape == (32, 32, 3)
    # Not just a look-alike: the latent itself is found again.
    assert np.linalg.norm(result["z"] - z_true) < 0.2 * np.linalg.norm(z_start - z_true)


def test_eager_generator_restores_what_the_estimator_saved(cfg, tmp_path):
    """The estimator's graph names the weights generator/<layer>/<weight>; the eager model
    restored from that checkpoint gives the same images (batch-norm statistics included)."""
    model_dir = str(tmp_path / "run")
    z = generator.noise(cfg, 4)
    graph = tf.Graph()
    with graph.as_default():
        nets = build_networks(models.get(cfg["model"]), cfg)
        step = tf.compat.v1.train.get_or_create_global_step()
        images = nets["generator"](tf.constant(z), training=False)
        variables = nets["generator"].model.variables
        rng = np.random.default_rng(0)
        assigns = [v.assign(np.abs(rng.normal(0.5, 0.2, v.shape.as_list())).astype(np.float32))
                   if "variance" in v.name else v.assign(rng.normal(0, 0.2, v.shape.as_list()).astype(np.float32))
                   for v in variables]
        saver = tf.compat.v1.train.Saver(var_list=variables + [step])
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            session.run(assigns + [step.assign(7)])
            expected = session.run(images)
            saver.save(session, os.path.join(model_dir, "model.ckpt"), global_step=7)
    net, loaded_step = generator.load(cfg, model_dir)
    assert loaded_step == 7
    np.testing.assert_allclose(generator.generate(net, z), expected, atol=1e-5)


def test_generator_load_errors_are_one_line(cfg, tmp_path):
    from trainer.config import ConfigError
    with pytest.raises(ConfigError, match="no checkpoint"):
        generator.load(cfg, str(tmp_path))
    translator = runs.tiny_config("pix2pix_128", str(tmp_path))  # translates images: no latent to walk
    with pytest.raises(ConfigError, match="noise-driven"):
        generator.require_noise_model(translator, "interpolate")
