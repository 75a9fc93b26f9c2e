"""Networks of CycleGAN (Zhu et al. 2017) and DiscoGAN (Kim et al. 2017), chosen by config keys.

All generators map image [batch, R, R, 3] in [-1, 1] -> [batch, R, R, 3] in [-1, 1] (tanh); all
discriminators map an image [batch, R, R, 3] -> logits [batch, h, w, 1] (a patch map; 1x1 for
DiscoGAN's). `norm` is 'batch' | 'instance' (no scale/offset, PyTorch's InstanceNorm2d default)
| 'none'; a conv has a bias unless batch norm follows it (as pytorch-CycleGAN-and-pix2pix).

generator 'resnet' (CycleGAN; Johnson et al. 2016), as pytorch-CycleGAN-and-pix2pix's
resnet_{6,9}blocks: reflect-pad 3, 7x7 conv gf_dim, norm, ReLU -> two 3x3 stride-2 convs
(2*gf_dim, 4*gf_dim), norm, ReLU -> `resnet_blocks` residual blocks (reflect-pad 1, 3x3 conv,
norm, ReLU, reflect-pad 1, 3x3 conv, norm, + input) -> two 3x3 stride-2 transposed convs
(2*gf_dim, gf_dim), norm, ReLU -> reflect-pad 3, 7x7 conv to 3, tanh. Trainable parameters at
gf_dim=64 with instance norm: 11,378,179 (9 blocks) and 7,837,699 (6 blocks), as PyTorch's
11.378 M and 7.837 M.

generator 'encoder_decoder' (the DiscoGAN seed's), with n = log2(R) - 2 (4 at 64 px):
n 4x4 stride-2 convs (gf_dim, 2*gf_dim, ... capped at 8*gf_dim), norm except on the first,
LeakyReLU 0.2, down to 4x4 -> 4x4 valid conv to a 1x1x100 code, norm, LeakyReLU -> 4x4 valid
transposed conv back to 4x4 -> n-1 4x4 stride-2 transposed convs (halving the width down to
gf_dim), norm, ReLU -> 4x4 stride-2 transposed conv to 3, tanh.

discriminator 'patchgan': trainer/models/patchgan.py, 70x70 patches (n_layers 3): logits
[batch, R/8 - 2, R/8 - 2, 1]. discriminator 'discogan' (the seed's): n 4x4 stride-2 convs
(df_dim, ... capped at 8*df_dim), norm except on the first, LeakyReLU 0.2 -> 4x4 valid conv to
one logit: [batch, 1, 1, 1].
"""
import tensorflow as tf

from trainer.models.layers import kernel_init, log2_int, norm_layer
from trainer.models.patchgan import make_patchgan

L = tf.keras.layers
GENERATORS = ("resnet", "encoder_decoder")
DISCRIMINATORS = ("patchgan", "discogan")
CODE_DIM = 100  # DiscoGAN's 1x1 bottleneck width (the seed's dwn5)


class ReflectionPadding2D(L.Layer):
    """Mirror padding of the spatial axes without repeating the edge (PyTorch's ReflectionPad2d):
    [batch, H, W, C] -> [batch, H + 2p, W + 2p, C]."""

    def __init__(self, padding: int, **kwargs):
        super().__init__(**kwargs)
        self.padding = padding

    def call(self, inputs):
        p = self.padding
        return tf.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        grow = lambda n: None if n is None else n + 2 * self.padding
        return tf.TensorShape([b, grow(h), grow(w), c])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


def _relu(name):
    return L.ReLU(name=f"{name}_relu")


def _lrelu(name):
    return L.LeakyReLU(0.2, name=f"{name}_lrelu")


def _conv(x, filters, kernel, stride, padding, norm, name, activation=None, normalise=True):
    use_norm = normalise and norm != "none"
    x = L.Conv2D(filters, kernel, stride, padding, use_bias=not (use_norm and norm == "batch"),
                 kernel_initializer=kernel_init(), name=name)(x)
    if use_norm:
        x = norm_layer(norm, f"{name}_norm")(x)
    return activation(name)(x) if activation else x


def _deconv(x, filters, kernel, stride, padding, norm, name, activation):
    use_norm = norm != "none"
    x = L.Conv2DTranspose(filters, kernel, stride, padding, use_bias=not (use_norm and norm == "batch"),
                          kernel_initializer=kernel_init(), name=name)(x)
    if use_norm:
        x = norm_layer(norm, f"{name}_norm")(x)
    return activation(name)(x)


def _output(x, name="to_rgb", kernel=7, transpose=False):
    """The last layer: to 3 channels with a bias, tanh in float32."""
    if transpose:
        x = L.Conv2DTranspose(3, kernel, 2, "same", kernel_initializer=kernel_init(), name=name)(x)
    else:
        x = L.Conv2D(3, kernel, 1, "valid", kernel_initializer=kernel_init(), name=name)(x)
    return L.Activation("tanh", dtype="float32", name="tanh")(x)


def make_resnet_generator(resolution: int, gf_dim: int, blocks: int, norm: str = "instance",
                          name: str = "resnet_generator") -> tf.keras.Model:
    image = L.Input([resolution, resolution, 3], name="image")
    x = ReflectionPadding2D(3, name="in_pad")(image)
    x = _conv(x, gf_dim, 7, 1, "valid", norm, "in_conv", _relu)
    for i, width in enumerate((gf_dim * 2, gf_dim * 4)):
        x = _conv(x, width, 3, 2, "same", norm, f"down{i}", _relu)
    width = gf_dim * 4
    for b in range(blocks):
        y = ReflectionPadding2D(1, name=f"block{b}_pad0")(x)
        y = _conv(y, width, 3, 1, "valid", norm, f"block{b}_conv0", _relu)
        y = ReflectionPadding2D(1, name=f"block{b}_pad1")(y)
        y = _conv(y, width, 3, 1, "valid", norm, f"block{b}_conv1")
        x = L.Add(name=f"block{b}_add")([x, y])
    for i, width in enumerate((gf_dim * 2, gf_dim)):
        x = _deconv(x, width, 3, 2, "same", norm, f"up{i}", _relu)
    x = ReflectionPadding2D(3, name="out_pad")(x)
    return tf.keras.Model(image, _output(x), name=name)


def make_encoder_decoder_generator(resolution: int, gf_dim: int, norm: str = "batch",
                                   name: str = "encoder_decoder_generator") -> tf.keras.Model:
    n = log2_int(resolution) - 2
    width = lambda i: gf_dim * min(2 ** i, 8)
    image = L.Input([resolution, resolution, 3], name="image")
    x = image
    for i in range(n):  # R -> 4
        x = _conv(x, width(i), 4, 2, "same", norm, f"down{i}", _lrelu, normalise=i > 0)
    x = _conv(x, CODE_DIM, 4, 1, "valid", norm, "code", _lrelu)  # 4 -> 1
    x = _deconv(x, width(n - 1), 4, 1, "valid", norm, "up_code", _relu)  # 1 -> 4
    for i in reversed(range(n - 1)):  # 4 -> R/2
        x = _deconv(x, width(i), 4, 2, "same", norm, f"up{i}", _relu)
    return tf.keras.Model(image, _output(x, kernel=4, transpose=True), name=name)


def make_discogan_discriminator(resolution: int, df_dim: int, norm: str = "batch",
                                name: str = "discogan_discriminator") -> tf.keras.Model:
    image = L.Input([resolution, resolution, 3], name="image")
    x = image
    for i in range(log2_int(resolution) - 2):  # R -> 4
        x = _conv(x, df_dim * min(2 ** i, 8), 4, 2, "same", norm, f"down{i}", _lrelu, normalise=i > 0)
    logits = L.Conv2D(1, 4, 1, "valid", kernel_initializer=kernel_init(), dtype="float32", name="logits")(x)
    return tf.keras.Model(image, logits, name=name)


def make_generator(cfg, name: str) -> tf.keras.Model:
    if cfg["generator"] == "resnet":
        return make_resnet_generator(cfg["resolution"], cfg["gf_dim"], cfg["resnet_blocks"], cfg["norm"], name)
    if cfg["generator"] == "encoder_decoder":
        return make_encoder_decoder_generator(cfg["resolution"], cfg["gf_dim"], cfg["norm"], name)
    raise ValueError(f"unknown generator {cfg['generator']!r}; allowed: {', '.join(GENERATORS)}")


def make_discriminator(cfg, name: str) -> tf.keras.Model:
    if cfg["discriminator"] == "patchgan":
        return make_patchgan(3, cfg["resolution"], cfg["df_dim"], n_layers=3, norm=cfg["norm"], name=name)
    if cfg["discriminator"] == "discogan":
        return make_discogan_discriminator(cfg["resolution"], cfg["df_dim"], cfg["norm"], name)
    raise ValueError(f"unknown discriminator {cfg['discriminator']!r}; allowed: {', '.join(DISCRIMINATORS)}")
