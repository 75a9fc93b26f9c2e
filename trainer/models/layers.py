"""Small building blocks shared by the model modules: depth from resolution, the papers' conv
initialiser, and the normalisation layers (batch, instance, per-example batch statistics)."""
import contextlib
import math

import tensorflow as tf


def log2_int(resolution: int) -> int:
    """log2 of a power-of-two resolution (network depth follows it)."""
    value = int(round(math.log2(resolution)))
    if 2 ** value != resolution:
        raise ValueError(f"resolution {resolution} is not a power of two")
    return value


class InstanceNormalization(tf.keras.layers.Layer):
    """Normalises each example and channel over its spatial axes (Ulyanov et al. 2016):
    [batch, H, W, C] -> same shape, per (example, channel) mean 0 and variance 1, then an
    optional learned scale (`scale`, gamma [C] initialised 1) and offset (`center`, beta [C]
    initialised 0). Statistics are computed in float32 whatever the compute dtype; no moving
    averages (training and inference behave the same). PyTorch's `InstanceNorm2d` default, as
    used by pytorch-CycleGAN-and-pix2pix, is `center=False, scale=False`."""

    def __init__(self, epsilon: float = 1e-5, center: bool = True, scale: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.epsilon, self.center, self.scale = epsilon, center, scale

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.gamma = self.add_weight("gamma", [channels], initializer="ones") if self.scale else None
        self.beta = self.add_weight("beta", [channels], initializer="zeros") if self.center else None
        super().build(input_shape)

    def call(self, inputs):
        x = tf.cast(inputs, tf.float32)
        mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        x = (x - mean) * tf.math.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            x = x * tf.cast(self.gamma, tf.float32)
        if self.beta is not None:
            x = x + tf.cast(self.beta, tf.float32)
        return tf.cast(x, inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "center": self.center, "scale": self.scale}


class BatchNormalization(tf.keras.layers.BatchNormalization):
    """Keras batch norm (same variables and names: gamma, beta, moving_mean, moving_variance)
    that can also normalise each example with its own statistics: inside
    `per_example_statistics(model)`, a training-mode call on [batch, H, W, C] gives every example
    what a batch of one would (mean and biased variance over H, W per channel, then gamma and
    beta), with no moving-average update. pix2pix tests this way (its reference code runs test
    batches of 1); here a whole batch runs at once instead of one example per loop step."""

    per_example = False

    def call(self, inputs, training=None):
        if not (self.per_example and training):
            return super().call(inputs, training=training)
        x = tf.cast(inputs, tf.float32)
        mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        scale = None if self.gamma is None else tf.cast(self.gamma, tf.float32)
        offset = None if self.beta is None else tf.cast(self.beta, tf.float32)
        return tf.cast(tf.nn.batch_normalization(x, mean, variance, offset, scale, self.epsilon), inputs.dtype)


@contextlib.contextmanager
def per_example_statistics(network):
    """Calls of `network` (a Keras model, or the skeleton's Network wrapping one as `.model`)
    made inside use per-example batch-norm statistics (see BatchNormalization); graph and
    tf.function code read the flag when they trace."""
    keras_model = getattr(network, "model", network)
    norms = [m for m in keras_model.submodules if isinstance(m, BatchNormalization)]
    for norm in norms:
        norm.per_example = True
    try:
        yield
    finally:
        for norm in norms:
            norm.per_example = False


NORMS = ("batch", "instance", "none")


def kernel_init():
    """The papers' N(0, 0.02) conv initialiser; a new instance per layer (Keras returns the
    same values from an unseeded initialiser instance that is called twice)."""
    return tf.keras.initializers.RandomNormal(0.0, 0.02)


def norm_layer(norm: str, name: str):
    """A normalisation layer for `norm` ('batch' | 'instance'); None for 'none'. Batch norm uses
    PyTorch's momentum and epsilon and N(1, 0.02) for gamma, as the reference code does."""
    if norm == "batch":
        return BatchNormalization(momentum=0.9, epsilon=1e-5, name=name,
                                    gamma_initializer=tf.keras.initializers.RandomNormal(1.0, 0.02))
    if norm == "instance":
        return InstanceNormalization(center=False, scale=False, name=name)
    if norm == "none":
        return None
    raise ValueError(f"unknown norm {norm!r}; allowed: {', '.join(NORMS)}")
