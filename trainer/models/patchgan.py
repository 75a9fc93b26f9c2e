"""The PatchGAN discriminator of pix2pix (Isola et al. 2017) and CycleGAN (Zhu et al. 2017).

A fully convolutional classifier of overlapping patches: 4x4 convs, the first
`n_layers` with stride 2 (widths df_dim, 2*df_dim, ... capped at 8*df_dim), then one stride-1
conv (width doubled again, capped) and a stride-1 conv to one logit per patch. Every conv pads
by 1 pixel, as in the reference implementations. With n_layers=3 each logit sees a 70x70 patch
and a 256x256 input gives 30x30 logits (128 -> 14x14, 64 -> 6x6).

Normalisation (`norm`) follows pytorch-CycleGAN-and-pix2pix, so parameter counts match it:
- "batch": no norm on the first conv; convs followed by batch norm have no bias.
- "instance": InstanceNormalization without scale/offset (PyTorch's InstanceNorm2d default),
  so those convs keep their bias.
- "none": every conv has a bias, no normalisation.
The first and the last conv always have a bias.
"""
import tensorflow as tf

from trainer.models.layers import NORMS, kernel_init, norm_layer

L = tf.keras.layers


def _conv(x, filters: int, stride: int, use_bias: bool, name: str, dtype=None):
    x = L.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return L.Conv2D(filters, 4, stride, "valid", use_bias=use_bias, kernel_initializer=kernel_init(),
                    dtype=dtype, name=name)(x)


def make_patchgan(input_channels: int, resolution: int, df_dim: int, n_layers: int = 3,
                  norm: str = "batch", name: str = "patchgan") -> tf.keras.Model:
    """image [batch, resolution, resolution, input_channels] (e.g. 3, or 6 for pix2pix's
    (input, image) pair) -> logits float32 [batch, h, w, 1], one per patch (h = w = 30 at 256px
    with n_layers=3; h = resolution / 2**n_layers - 2)."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; allowed: {', '.join(NORMS)}")
    if resolution // 2 ** n_layers < 3:
        raise ValueError(f"resolution {resolution} is too small for a {n_layers}-layer PatchGAN")
    image = L.Input([resolution, resolution, input_channels], name="image")
    x = L.LeakyReLU(0.2, name="conv0_lrelu")(_conv(image, df_dim, 2, True, "conv0"))
    for i in range(1, n_layers + 1):
        stride = 2 if i < n_layers else 1
        x = _conv(x, df_dim * min(2 ** i, 8), stride, norm != "batch", f"conv{i}")
        layer = norm_layer(norm, f"conv{i}_norm")
        if layer is not None:
            x = layer(x)
        x = L.LeakyReLU(0.2, name=f"conv{i}_lrelu")(x)
    logits = _conv(x, 1, 1, True, "logits", dtype="float32")
    return tf.keras.Model(image, logits, name=name)
