"""Noise-driven generators for the quality tools (metrics, interpolation, projection,
neighbours): the seeded latents each tool draws and batched generation. Building and
restoring the generator is trainer/trained_generator.py's."""
from typing import Tuple

import numpy as np
import tensorflow as tf

from trainer import models, trained_generator
from trainer.fields import ConfigError
from trainer.networks import GENERATOR, Network

NOISE_SEED = 11  # the quality metrics' noise: stateless_normal(seed=[cfg.seed, NOISE_SEED])


def require_noise_model(cfg, mode: str):
    """The GanModel, or a ConfigError for models whose generator does not take noise."""
    model = models.get(cfg["model"])
    if not model.takes_noise:
        raise ConfigError(f"--mode {mode} needs a noise-driven generator (dcgan); "
                          f"model {cfg['model']} translates images")
    return model


def build(cfg, network: str = GENERATOR) -> tf.keras.Model:
    """The network's eager Keras model with fresh (untrained) weights, float32."""
    return trained_generator.build(trained_generator.host_config(cfg), record_updates=False)[network].model


def restore(keras_model: tf.keras.Model, checkpoint_path: str, network: str = GENERATOR) -> None:
    """The checkpoint's weights (its generator average, when the run kept one) into an eager
    model made by `build`."""
    trained_generator.restore_eager({network: Network(network, keras_model, record_updates=False)},
                                    checkpoint_path)


def load(cfg, model_dir: str, network: str = GENERATOR) -> Tuple[tf.keras.Model, int]:
    """(generator with the latest checkpoint's weights, its global step); ConfigError if none."""
    return trained_generator.load(cfg, model_dir, network)


def noise(cfg, count: int, stream: int = NOISE_SEED) -> np.ndarray:
    """Seeded standard-normal latents [count, noise_dim]: the same in every run for the same
    `seed` and `stream` (each tool has its own stream)."""
    return tf.random.stateless_normal([count, cfg["noise_dim"]], seed=[cfg["seed"], stream]).numpy()


def generate(generator: tf.keras.Model, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Latents [n, d] -> float32 images [n, H, W, 3] in [-1, 1] (inference-mode batch norm)."""
    fn = tf.function(lambda x: generator(x, training=False), reduce_retracing=True)
    return np.concatenate([fn(tf.constant(z[s:s + batch_size], tf.float32)).numpy()
                           for s in range(0, len(z), batch_size)])
