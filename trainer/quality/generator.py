"""A trained generator as an eager Keras model, for the quality tools (metrics, interpolation,
projection, neighbours): no estimator, no session.

The model is built by the model module (DCGAN: dcgan.make_generator(cfg)) in float32 and its
weights are read from the checkpoint by name: the estimator saves the Keras layer `up0`'s
kernel of network `generator` as `generator/up0/kernel`, so weight `up0/kernel:0` of the eager
model maps to `<network>/up0/kernel`.
"""
from typing import Tuple

import numpy as np
import tensorflow as tf

from trainer import checkpoints, config, models

NOISE_SEED = 11  # the quality metrics' noise: stateless_normal(seed=[cfg.seed, NOISE_SEED])


def require_noise_model(cfg, mode: str):
    """The GanModel, or a ConfigError for models whose generator does not take noise."""
    model = models.get(cfg["model"])
    if model.predict_dataset is None or "noise_dim" not in cfg:
        raise config.ConfigError(f"--mode {mode} needs a noise-driven generator (dcgan); "
                                 f"model {cfg['model']} translates images")
    return model


def build(cfg, network: str = "generator") -> tf.keras.Model:
    """The network's Keras model with fresh (untrained) weights, float32."""
    model = models.get(cfg["model"])
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy("float32")
    try:
        return model.networks(cfg)[network]()
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)


def restore(keras_model: tf.keras.Model, checkpoint_path: str, network: str = "generator") -> None:
    """Copies `<network>/<layer>/<weight>` of a checkpoint into the model's weights."""
    reader = tf.train.load_checkpoint(checkpoint_path)
    stored = reader.get_variable_to_shape_map()
    for weight in keras_model.weights:
        name = f"{network}/{weight.name.split(':')[0]}"
        if name not in stored:
            raise config.ConfigError(f"{checkpoint_path}: no variable {name}; was it trained with this config?")
        value = reader.get_tensor(name)
        if tuple(stored[name]) != tuple(weight.shape):
            raise config.ConfigError(f"{checkpoint_path}: {name} has shape {stored[name]}, the config builds "
                                     f"{tuple(weight.shape)}")
        weight.assign(value)


def load(cfg, model_dir: str, network: str = "generator") -> Tuple[tf.keras.Model, int]:
    """(generator with the latest checkpoint's weights, its global step); ConfigError if none."""
    path = checkpoints.ensure_restorable(model_dir)
    if not path:
        raise config.ConfigError(f"{model_dir}: no checkpoint to load the {network} from; train first")
    keras_model = build(cfg, network)
    restore(keras_model, path, network)
    return keras_model, int(tf.train.load_variable(path, "global_step"))


def noise(cfg, count: int, stream: int = NOISE_SEED) -> np.ndarray:
    """Seeded standard-normal latents [count, noise_dim]: the same in every run for the same
    `seed` and `stream` (each tool has its own stream)."""
    return tf.random.stateless_normal([count, cfg["noise_dim"]], seed=[cfg["seed"], stream]).numpy()


def generate(generator: tf.keras.Model, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Latents [n, d] -> float32 images [n, H, W, 3] in [-1, 1] (inference-mode batch norm)."""
    fn = tf.function(lambda x: generator(x, training=False), reduce_retracing=True)
    return np.concatenate([fn(tf.constant(z[s:s + batch_size], tf.float32)).numpy()
                           for s in range(0, len(z), batch_size)])
