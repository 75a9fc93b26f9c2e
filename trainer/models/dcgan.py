"""DCGAN (Radford et al. 2015) at 32, 64 or 128 px: one generator and one discriminator whose
depth follows the resolution.

Generator: noise [batch, noise_dim] -> dense 4x4x(gf_dim * 2^(n-1)) -> n-1 transposed convs
(4x4, stride 2, batch norm, ReLU), halving the width each time -> a final transposed conv to
3 channels with tanh: [batch, res, res, 3] in [-1, 1]; n = log2(res) - 2.
Discriminator: n convs (4x4, stride 2, LeakyReLU 0.2, batch norm except on the first),
doubling from df_dim -> flatten -> dense logit: [batch].
Loss: the non-saturating GAN loss (sigmoid cross-entropy); Adam 2e-4, beta1 0.5.
"""
import tensorflow as tf

from trainer.data.schema import DataMode
from trainer.fields import Field
from trainer.images import to_uint8_tensor
from trainer.models import GanModel, LossOutput, losses
from trainer.models.layers import log2_int

L = tf.keras.layers
RESOLUTIONS = (32, 64, 128)

CONFIG_FIELDS = {
    "noise_dim": Field(100, int, min_value=1, arch=True),
    "gf_dim": Field(64, int, min_value=1, arch=True, help="generator width at the last layer"),
    "df_dim": Field(64, int, min_value=1, arch=True, help="discriminator width at the first layer"),
    "random_flip": Field(True, bool, help="random horizontal flips of the real images"),
}


def make_generator(cfg) -> tf.keras.Model:
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
    return tf.keras.Model(noise, image, name="dcgan_generator")


def make_discriminator(cfg) -> tf.keras.Model:
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
    return tf.keras.Model(image, L.Reshape([], name="squeeze")(logits), name="dcgan_discriminator")


def networks(cfg):
    return {"generator": lambda: make_generator(cfg), "discriminator": lambda: make_discriminator(cfg)}


def make_inputs(example, cfg, training):
    image = example["image"]
    if training and cfg["random_flip"]:
        image = tf.image.random_flip_left_right(image)
    return {"noise": tf.random.normal([cfg["noise_dim"]])}, image


def discriminator_loss(nets, features, real, cfg, training):
    fake = nets["generator"](features["noise"], training=training)
    d_real, d_fake = losses.discriminator_losses(
        nets["discriminator"](real, training=training), nets["discriminator"](fake, training=training))
    return LossOutput(d_real + d_fake, {"d_loss_real": d_real, "d_loss_fake": d_fake})


def generator_loss(nets, features, real, cfg, training):
    fake = nets["generator"](features["noise"], training=training)
    g_loss = losses.generator_loss(nets["discriminator"](fake, training=training))
    return LossOutput(g_loss, images={"samples": fake, "real": real})


def predict(nets, features, cfg):
    return {"image": nets["generator"](features["noise"], training=False), "noise": features["noise"]}


def eval_metrics(nets, features, real, cfg):
    fake = nets["generator"](features["noise"], training=False)
    return {"d_real_prob": tf.sigmoid(nets["discriminator"](real, training=False)),
            "d_fake_prob": tf.sigmoid(nets["discriminator"](fake, training=False))}


def predict_dataset(cfg, count: int):
    """Seeded noise: the same `seed` and count give the same samples in every run."""
    noise = tf.random.stateless_normal([count, cfg["noise_dim"]], seed=[cfg["seed"], 7])
    return tf.data.Dataset.from_tensor_slices({"noise": noise})


def serving_inputs(cfg):
    noise = tf.compat.v1.placeholder(tf.float32, [None, cfg["noise_dim"]], name="noise")
    return {"noise": noise}, {"noise": noise}


def serving_outputs(nets, features, cfg):
    return {"serving_default": {"images": to_uint8_tensor(nets["generator"](features["noise"], training=False))}}


MODEL = GanModel(
    name="dcgan", resolutions=RESOLUTIONS, data_mode=DataMode.IMAGES, config_fields=CONFIG_FIELDS,
    networks=networks, make_inputs=make_inputs, discriminator_loss=discriminator_loss,
    generator_loss=generator_loss, predict=predict, eval_metrics=eval_metrics,
    serving_inputs=serving_inputs, serving_outputs=serving_outputs, predict_dataset=predict_dataset,
    takes_noise=True)
