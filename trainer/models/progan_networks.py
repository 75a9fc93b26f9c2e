"""Progressive GAN networks (Karras et al. 2017) for ONE growth stage, as Keras functional models.

Generator: [latent [B, noise_dim], alpha (scalar, [B] or [B, 1]) in [0, 1]] -> image
[B, r, r, 3] float32, roughly in [-1, 1] (linear toRGB, no tanh, as the paper). Pixel norm of
the latent, a 4x4 block (dense to 4x4xC, 3x3 conv), then per resolution 8..r a block (nearest 2x
upscale, two 3x3 convs); LeakyReLU 0.2 after every layer and pixel norm after it (both pixel
norms with pixel_norm). During a fade-in the output is
lerp(upscale(to_rgb_{r/2}(features_{r/2})), to_rgb_r(features_r), alpha).
Discriminator: [images [B, r, r, 3], alpha] -> logits [B] float32. from_rgb_r (1x1 conv), per
resolution r..8 a block (two 3x3 convs, 2x2 average pool), with the first block's output faded in
against from_rgb_{r/2}(downscale(images)); then the 4x4 block: minibatch stddev, 3x3 conv,
dense, dense to 1. Widths: width(r) = min(fmap_base / 2^(log2(r) - 1), fmap_max).

Variable names do not depend on the stage (each <layer>/kernel and <layer>/bias, under the
caller's name scope): G block_4/dense, block_4/conv, block_<res>/conv0, block_<res>/conv1,
to_rgb_<res>; D from_rgb_<res>, block_<res>/conv0, block_<res>/conv1, block_4/conv,
block_4/dense0, block_4/dense1. Stage r holds every variable of stage r/2 except the one that
stage only used for its own fade-in (to_rgb_<r/4>, from_rgb_<r/4>), so it restores from the
previous stage's checkpoint by name; its new variables are block_<r>/* and to_rgb_<r> /
from_rgb_<r>. With alpha = 0 a stage computes exactly what the previous stage did (G: its
output upscaled 2x; D: the previous D on the 2x-downscaled images), so a fade-in starts where
the previous stage ended. During a fade-in D should see fade_in_reals(real images, alpha), as
the official code feeds it. Weights are stored float32; compute follows the Keras mixed precision
policy (e.g. 'mixed_bfloat16'); outputs are float32.
"""
import math
from typing import Mapping

import tensorflow as tf

from trainer.models.layers import log2_int

L = tf.keras.layers

# The paper's values (official networks.py); cfg keys of the same names override them.
DEFAULTS = {"noise_dim": 512, "fmap_base": 8192, "fmap_max": 512, "equalized_lr": True,
            "pixel_norm": True, "minibatch_stddev": True, "mbstd_group_size": 4}


def option(cfg: Mapping, key: str):
    return cfg[key] if key in cfg else DEFAULTS[key]


def width(cfg: Mapping, resolution: int) -> int:
    """Channels of the block at `resolution` (4, 8, ...): min(fmap_base / 2^(log2(r) - 1), fmap_max)."""
    return max(1, min(int(option(cfg, "fmap_base") / 2 ** (log2_int(resolution) - 1)), option(cfg, "fmap_max")))


class _Equalized(L.Layer):
    """Weights drawn N(0, 1) and multiplied at run time by gain / sqrt(fan_in) (equalised
    learning rate); with equalized=False drawn N(0, (gain / sqrt(fan_in))^2) and used as is."""

    def __init__(self, units: int, gain: float = math.sqrt(2.0), equalized: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.units, self.gain, self.equalized = units, gain, equalized

    def _make_weights(self, shape, fan_in):
        std = self.gain / math.sqrt(fan_in)
        self.scale = std if self.equalized else 1.0
        init = tf.keras.initializers.RandomNormal(0.0, 1.0 if self.equalized else std)
        self.kernel = self.add_weight("kernel", shape, initializer=init)
        self.bias = self.add_weight("bias", [self.units], initializer="zeros")

    def get_config(self):
        return {**super().get_config(), "units": self.units, "gain": self.gain, "equalized": self.equalized}


class EqualizedDense(_Equalized):
    """[B, in] -> [B, units]."""

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self._make_weights([fan_in, self.units], fan_in)

    def call(self, x):
        return tf.matmul(x, self.kernel * self.scale) + self.bias


class EqualizedConv2D(_Equalized):
    """[B, H, W, in] -> [B, H, W, units]: stride 1, SAME padding, square `kernel_size`."""

    def __init__(self, units: int, kernel_size: int = 3, **kwargs):
        super().__init__(units, **kwargs)
        self.kernel_size = kernel_size

    def build(self, input_shape):
        k, fan_in = self.kernel_size, int(input_shape[-1])
        self._make_weights([k, k, fan_in, self.units], k * k * fan_in)

    def call(self, x):
        return tf.nn.conv2d(x, self.kernel * self.scale, 1, "SAME") + self.bias

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size}


class PixelNorm(L.Layer):
    """Each feature vector scaled to unit mean square over the last axis (computed in float32)."""

    def call(self, x):
        y = tf.cast(x, tf.float32)
        y = y * tf.math.rsqrt(tf.reduce_mean(tf.square(y), axis=-1, keepdims=True) + 1e-8)
        return tf.cast(y, x.dtype)


class MinibatchStddev(L.Layer):
    """[B, H, W, C] -> [B, H, W, C + 1]: appends the stddev over a group of examples, averaged
    over features and pixels. Example n is in group n mod (B / G); G is the largest divisor of
    B that is <= group_size (the paper's min(4, B) when that divides B); computed statically when
    the batch is static (always inside a TPU step), else with ops."""

    def __init__(self, group_size: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.group_size = group_size

    def call(self, x):
        batch = x.shape[0]
        if batch is None:  # the same rule with ops (Keras' symbolic build; a dynamic-batch graph)
            sizes = tf.range(1, self.group_size + 1)
            group = tf.reduce_max(tf.where(tf.shape(x)[0] % sizes == 0, sizes, 1))
        else:
            group = max(g for g in range(1, min(self.group_size, batch) + 1) if batch % g == 0)
        _, h, w, c = x.shape
        y = tf.reshape(tf.cast(x, tf.float32), [group, -1, h, w, c])
        y = y - tf.reduce_mean(y, axis=0, keepdims=True)
        y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + 1e-8)
        y = tf.reduce_mean(y, axis=[1, 2, 3], keepdims=True)  # [B / G, 1, 1, 1]
        y = tf.tile(tf.reshape(y, [-1, 1, 1, 1]), [group, h, w, 1])
        return tf.concat([x, tf.cast(y, x.dtype)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size}


def upscale2d(x):
    """Nearest neighbour 2x: [B, H, W, C] -> [B, 2H, 2W, C] (static H, W, C)."""
    _, h, w, c = x.shape
    x = tf.tile(tf.reshape(x, [-1, h, 1, w, 1, c]), [1, 1, 2, 1, 2, 1])
    return tf.reshape(x, [-1, 2 * h, 2 * w, c])


def downscale2d(x):
    """2x2 average pooling: [B, H, W, C] -> [B, H/2, W/2, C] (static even H, W)."""
    _, h, w, c = x.shape
    return tf.reduce_mean(tf.reshape(x, [-1, h // 2, 2, w // 2, 2, c]), axis=[2, 4])


def lerp(a, b, alpha):
    """a + (b - a) * clip(alpha, 0, 1); alpha scalar, [B] or [B, 1], broadcast over a's other axes."""
    alpha = tf.clip_by_value(tf.cast(alpha, a.dtype), 0.0, 1.0)
    return a + (b - a) * tf.reshape(alpha, [-1] + [1] * (a.shape.rank - 1))


def fade_in_reals(images, alpha):
    """The real images D sees during a fade-in (the official train.py's crossfade):
    lerp(upscale2d(downscale2d(images)), images, alpha); [B, r, r, C] -> same, images at
    alpha = 1, the previous resolution's detail (upscaled) at alpha = 0."""
    return lerp(upscale2d(downscale2d(images)), images, alpha)


class Upscale2D(L.Layer):
    """upscale2d as a layer."""

    def call(self, x):
        return upscale2d(x)


class Downscale2D(L.Layer):
    """downscale2d as a layer."""

    def call(self, x):
        return downscale2d(x)


class Lerp(L.Layer):
    """[a, b, alpha] -> lerp(a, b, alpha)."""

    def call(self, inputs):
        return lerp(*inputs)


def _check(resolution: int):
    if resolution < 4:
        raise ValueError(f"resolution {resolution} must be a power of two >= 4")
    log2_int(resolution)


def _conv(cfg, units, kernel, name, **kwargs):
    return EqualizedConv2D(units, kernel, equalized=option(cfg, "equalized_lr"), name=name, **kwargs)


def _dense(cfg, units, name, **kwargs):
    return EqualizedDense(units, equalized=option(cfg, "equalized_lr"), name=name, **kwargs)


def _act(x, name, cfg=None):
    x = L.LeakyReLU(0.2, name=name + "/lrelu")(x)
    return PixelNorm(name=name + "/pixel_norm")(x) if cfg is not None and option(cfg, "pixel_norm") else x


def make_generator(cfg: Mapping, name: str, resolution: int) -> tf.keras.Model:
    _check(resolution)
    latent = L.Input([option(cfg, "noise_dim")], name="latent")
    alpha = L.Input([1], name="alpha")
    x = PixelNorm(name="latent_norm")(latent) if option(cfg, "pixel_norm") else latent
    c = width(cfg, 4)
    x = _dense(cfg, 16 * c, "block_4/dense", gain=math.sqrt(2.0) / 4)(x)
    x = _act(L.Reshape([4, 4, c], name="block_4/reshape")(x), "block_4/dense", cfg)
    x = _act(_conv(cfg, c, 3, "block_4/conv")(x), "block_4/conv", cfg)
    prev = None
    for k in range(3, log2_int(resolution) + 1):
        res, prev = 2 ** k, x
        x = Upscale2D(name=f"block_{res}/upscale")(x)
        x = _act(_conv(cfg, width(cfg, res), 3, f"block_{res}/conv0")(x), f"block_{res}/conv0", cfg)
        x = _act(_conv(cfg, width(cfg, res), 3, f"block_{res}/conv1")(x), f"block_{res}/conv1", cfg)
    rgb = _conv(cfg, 3, 1, f"to_rgb_{resolution}", gain=1.0)(x)
    if prev is not None:
        low = _conv(cfg, 3, 1, f"to_rgb_{resolution // 2}", gain=1.0)(prev)
        rgb = Lerp(name="fade_in")([Upscale2D(name="fade_in/upscale")(low), rgb, alpha])
    image = L.Activation("linear", dtype="float32", name="image")(rgb)
    return tf.keras.Model([latent, alpha], image, name=name)


def _from_rgb(cfg, images, res):
    return _act(_conv(cfg, width(cfg, res), 1, f"from_rgb_{res}")(images), f"from_rgb_{res}")


def make_discriminator(cfg: Mapping, name: str, resolution: int) -> tf.keras.Model:
    _check(resolution)
    images = L.Input([resolution, resolution, 3], name="images")
    alpha = L.Input([1], name="alpha")
    x = _from_rgb(cfg, images, resolution)
    for k in range(log2_int(resolution), 2, -1):
        res = 2 ** k
        x = _act(_conv(cfg, width(cfg, res), 3, f"block_{res}/conv0")(x), f"block_{res}/conv0")
        x = _act(_conv(cfg, width(cfg, res // 2), 3, f"block_{res}/conv1")(x), f"block_{res}/conv1")
        x = Downscale2D(name=f"block_{res}/downscale")(x)
        if res == resolution:
            low = _from_rgb(cfg, Downscale2D(name="fade_in/downscale")(images), res // 2)
            x = Lerp(name="fade_in")([low, x, alpha])
    if option(cfg, "minibatch_stddev"):
        x = MinibatchStddev(option(cfg, "mbstd_group_size"), name="block_4/mbstd")(x)
    x = _act(_conv(cfg, width(cfg, 4), 3, "block_4/conv")(x), "block_4/conv")
    x = L.Flatten(name="block_4/flatten")(x)
    x = _act(_dense(cfg, min(option(cfg, "fmap_base"), option(cfg, "fmap_max")), "block_4/dense0")(x),
             "block_4/dense0")
    x = _dense(cfg, 1, "block_4/dense1", gain=1.0)(x)
    logits = L.Reshape([], dtype="float32", name="logits")(x)
    return tf.keras.Model([images, alpha], logits, name=name)
