"""pix2pix networks (Isola et al. 2017): the U-Net generator and the conditional 70x70 PatchGAN.

Generator, at resolution R with n = log2(R) encoder layers (256 -> 8, 128 -> 7, 64 -> 6):
  image [batch, R, R, 3] in [-1, 1]
  -> encoder: 4x4 stride-2 convs, widths gf, 2gf, 4gf, 8gf, 8gf, ... (capped at 8*gf), down to
     1x1; LeakyReLU 0.2 before every conv but the first; batch norm after every conv except the
     first and the innermost (as pytorch-CycleGAN-and-pix2pix: BN on a 1x1 map of a batch of 1
     would zero it)
  -> decoder: ReLU, 4x4 stride-2 transposed conv, batch norm, dropout 0.5 in the first three
     blocks, then concatenation with the mirrored encoder output (skip connection)
  -> ReLU, transposed conv to 3 channels, tanh: [batch, R, R, 3] in [-1, 1].
A conv has a bias exactly when no normalisation follows it (the first and innermost encoder
convs and the output conv). At 256 px with gf=64 the trainable parameters are 54,414,531:
pytorch-CycleGAN-and-pix2pix's unet_256 has 54,413,955 (576 fewer: it leaves the first and the
innermost encoder convs without a bias) and pix2pix-tensorflow 54,420,483 (4,928 more: a bias on
every conv, also before batch norm where it cancels out; and 1,024 more: batch norm on the
innermost layer).

Discriminator: trainer/models/patchgan.py on the 6-channel concatenation (input, image) ->
logits [batch, 30, 30, 1] at 256 px (14x14 at 128, 6x6 at 64); 2,768,705 trainable parameters
at df=64, exactly as pytorch-CycleGAN-and-pix2pix (pix2pix-tensorflow: 2,769,601, biases before BN).
"""
import tensorflow as tf

from trainer.models.layers import kernel_init, log2_int, norm_layer
from trainer.models.patchgan import make_patchgan

L = tf.keras.layers
DROPOUT_BLOCKS = 3  # the paper's CD512-CD512-CD512 decoder blocks
DROPOUT_RATE = 0.5


def encoder_widths(resolution: int, gf_dim: int):
    """Output widths of the encoder convs, outermost first (one per halving down to 1x1)."""
    return [gf_dim * min(2 ** i, 8) for i in range(log2_int(resolution))]


def make_unet(resolution: int, gf_dim: int, name: str = "unet_generator") -> tf.keras.Model:
    """image [batch, R, R, 3] in [-1, 1] -> image [batch, R, R, 3] in [-1, 1] (float32)."""
    widths = encoder_widths(resolution, gf_dim)
    if len(widths) < 2:
        raise ValueError(f"resolution {resolution} is too small for a U-Net")
    image = L.Input([resolution, resolution, 3], name="image")
    x = L.Conv2D(widths[0], 4, 2, "same", kernel_initializer=kernel_init(), name="down0")(image)
    skips = [x]
    for i, width in enumerate(widths[1:], start=1):
        innermost = i == len(widths) - 1
        x = L.LeakyReLU(0.2, name=f"down{i}_lrelu")(x)
        x = L.Conv2D(width, 4, 2, "same", use_bias=innermost, kernel_initializer=kernel_init(), name=f"down{i}")(x)
        if not innermost:
            x = norm_layer("batch", f"down{i}_bn")(x)
            skips.append(x)
    for k, skip in enumerate(reversed(skips)):
        x = L.ReLU(name=f"up{k}_relu")(x)
        x = L.Conv2DTranspose(skip.shape[-1], 4, 2, "same", use_bias=False, kernel_initializer=kernel_init(),
                              name=f"up{k}")(x)
        x = norm_layer("batch", f"up{k}_bn")(x)
        if k < DROPOUT_BLOCKS:
            x = L.Dropout(DROPOUT_RATE, name=f"up{k}_dropout")(x)
        x = L.Concatenate(name=f"up{k}_skip")([x, skip])
    x = L.ReLU(name="to_rgb_relu")(x)
    x = L.Conv2DTranspose(3, 4, 2, "same", kernel_initializer=kernel_init(), name="to_rgb")(x)
    output = L.Activation("tanh", dtype="float32", name="tanh")(x)
    return tf.keras.Model(image, output, name=name)


def make_pair_patchgan(resolution: int, df_dim: int, n_layers: int = 3,
                       name: str = "pix2pix_discriminator") -> tf.keras.Model:
    """(input, image) concatenated on channels [batch, R, R, 6] -> logits [batch, h, w, 1]."""
    return make_patchgan(6, resolution, df_dim, n_layers=n_layers, norm="batch", name=name)


def make_generator(cfg, name: str = "unet_generator") -> tf.keras.Model:
    return make_unet(cfg["resolution"], cfg["gf_dim"], name=name)


def make_discriminator(cfg, name: str = "pix2pix_discriminator") -> tf.keras.Model:
    return make_pair_patchgan(cfg["resolution"], cfg["df_dim"], cfg["d_layers"], name=name)
