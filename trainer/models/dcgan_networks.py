"""DCGAN networks (Radford et al. 2015), their depth following the resolution (32, 64, 128 px).

Generator: noise [batch, noise_dim] -> dense 4x4x(gf_dim * 2^(n-1)) -> n-1 transposed convs
(4x4, stride 2, batch norm, ReLU), halving the width each time -> a final transposed conv to
3 channels with tanh: [batch, res, res, 3] in [-1, 1]; n = log2(res) - 2.
Discriminator: n convs (4x4, stride 2, LeakyReLU 0.2, batch norm except on the first),
doubling from df_dim -> flatten -> dense logit: [batch].
"""
import tensorflow as tf

from trainer.models.layers import log2_int

L = tf.keras.layers


def make_generator(cfg, name: str = "dcgan_generator") -> tf.keras.Model:
    num_up = log2_int(cfg["resolution"]) - 2
    width = cfg["gf_dim"] * 2 ** (num_up - 1)
    noise = L.Input([cfg["noise_dim"]], name="noise")
    x = L.Dense(4 * 4 * width, use_bias=False, name="project")(noise)
    x = L.Reshape([4, 4, width], name="to_4x4")(x)
    x = L.ReLU(name="project_relu")(L.BatchNormalization(name="project_bn")(x))
    for i in range(num_up - 1):
        width //= 2
        x = L.Conv2DTranspose(width, 4, 2, "same", use_bias=False, name=f"up{i}")(x)
        x = L.ReLU(name=f"up{i}_relu")(L.BatchNormalization(name=f"up{i}_bn")(x))
    x = L.Conv2DTranspose(3, 4, 2, "same", name="to_rgb")(x)
    image = L.Activation("tanh", dtype="float32", name="tanh")(x)
    return tf.keras.Model(noise, image, name=name)


def make_discriminator(cfg, name: str = "dcgan_discriminator") -> tf.keras.Model:
    res = cfg["resolution"]
    image = L.Input([res, res, 3], name="image")
    x, width = image, cfg["df_dim"]
    for i in range(log2_int(res) - 2):
        x = L.Conv2D(width, 4, 2, "same", use_bias=(i == 0), name=f"down{i}")(x)
        if i > 0:
            x = L.BatchNormalization(name=f"down{i}_bn")(x)
        x = L.LeakyReLU(0.2, name=f"down{i}_lrelu")(x)
        width *= 2
    x = L.Flatten(name="flatten")(x)
    logits = L.Dense(1, dtype="float32", name="logits")(x)
    return tf.keras.Model(image, L.Reshape([], name="squeeze")(logits), name=name)
