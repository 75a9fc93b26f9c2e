"""DCGAN (Radford et al. 2015) at 32, 64 or 128 px: one generator and one discriminator whose
depth follows the resolution.

Networks (trainer/models/dcgan_networks.py): a transposed-conv generator and a conv discriminator.
Loss: the non-saturating GAN loss (sigmoid cross-entropy); Adam 2e-4, beta1 0.5.
"""
import tensorflow as tf

from trainer.data.schema import DataMode
from trainer.fields import Field
from trainer.models import GanModel, LossOutput, losses
from trainer.models import dcgan_networks as networks_lib
from trainer.models import noise_to_image

RESOLUTIONS = (32, 64, 128)

CONFIG_FIELDS = {
    **noise_to_image.QUALITY_FIELDS,
    "noise_dim": Field(100, int, min_value=1, arch=True),
    "gf_dim": Field(64, int, min_value=1, arch=True, help="generator width at the last layer"),
    "df_dim": Field(64, int, min_value=1, arch=True, help="discriminator width at the first layer"),
    "random_flip": Field(True, bool, help="random horizontal flips of the real images"),
}


def networks(cfg):
    return {"generator": lambda: networks_lib.make_generator(cfg),
            "discriminator": lambda: networks_lib.make_discriminator(cfg)}


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


MODEL = GanModel(
    name="dcgan", resolutions=RESOLUTIONS, data_mode=DataMode.IMAGES, config_fields=CONFIG_FIELDS,
    networks=networks, make_inputs=make_inputs, discriminator_loss=discriminator_loss,
    generator_loss=generator_loss, predict=predict, eval_metrics=eval_metrics,
    serving_inputs=noise_to_image.serving_inputs, serving_outputs=noise_to_image.serving_outputs,
    predict_dataset=noise_to_image.predict_dataset,
    takes_noise=True)
