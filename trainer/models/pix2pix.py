"""pix2pix (Isola et al. 2017): paired image-to-image translation with a conditional GAN.

features = {'input': [batch, R, R, 3]} (the A image, or B with which_direction BtoA) and
labels = the target image [batch, R, R, 3], all float32 in [-1, 1] (TF-GAN's convention).
Networks (trainer/models/pix2pix_networks.py): U-Net generator, 70x70 PatchGAN on (input, image).
Losses: D: (CE(D(x, y), 1) + CE(D(x, G(x)), 0)) / 2 (the paper halves D's objective);
G: CE(D(x, G(x)), 1) + l1_weight * |y - G(x)|_1. Adam 2e-4, beta1 0.5 (the common defaults).
Training augmentation ("random jitter", trainer/models/image_to_image.py): resize to
round(R * 286/256), random R x R crop and random horizontal flip, with one crop offset and one
flip shared by input and target.
Test time (predict, export, eval metrics): with `test_time_training` (the paper's default) dropout
stays on and batch norm uses the statistics of each example alone (the reference code tests
with batch 1), so an output never depends on the other images of its batch.
"""
import tensorflow as tf

from trainer.data.schema import DataMode
from trainer.fields import ConfigError, Field
from trainer.models import GanModel, LossOutput, Translation, image_to_image, losses, quality_fields
from trainer.models import pix2pix_networks as networks_lib
from trainer.models.layers import per_example_statistics

RESOLUTIONS = (64, 128, 256)

CONFIG_FIELDS = {
    "gf_dim": Field(64, int, min_value=1, arch=True, help="generator width at the first encoder layer"),
    "df_dim": Field(64, int, min_value=1, arch=True, help="discriminator width at the first layer"),
    "d_layers": Field(3, int, min_value=1, arch=True,
                      help="PatchGAN stride-2 layers: 1 -> 16x16, 3 -> 70x70, 5 -> 286x286 patches"),
    "which_direction": Field("AtoB", str, choices=("AtoB", "BtoA"), arch=True,
                             help="AtoB translates the records' A images into B; BtoA the reverse"),
    "l1_weight": Field(100.0, float, min_value=0.0, help="weight of the L1 term in G's loss"),
    "gan_loss": Field("sigmoid_ce", str, choices=losses.GAN_LOSSES),
    "random_jitter": Field(True, bool, help="training: resize to R*286/256, random RxR crop"),
    "random_flip": Field(True, bool, help="training: random horizontal flip (same for input and target)"),
    "test_time_training": Field(True, bool, help="predict/export/eval: dropout on and per-example "
                                                  "batch-norm statistics, as the paper"),
    **quality_fields.TRANSLATION_FIELDS,
}


def validate(values):
    smallest = values["resolution"] // 2 ** values["d_layers"]
    if smallest < 3:
        error = ConfigError(f"key 'd_layers': {values['d_layers']} stride-2 layers leave "
                            f"{smallest}px at resolution {values['resolution']}; use fewer")
        error.key = "d_layers"
        raise error


def networks(cfg):
    return {"generator": lambda: networks_lib.make_generator(cfg),
            "discriminator": lambda: networks_lib.make_discriminator(cfg)}


def make_inputs(example, cfg, training):
    source, target = example["a"], example["b"]
    if cfg["which_direction"] == "BtoA":
        source, target = target, source
    if training:
        source, target = image_to_image.augment_together([source, target], cfg["resolution"],
                                                         cfg["random_jitter"], cfg["random_flip"])
    return {"input": source}, target


def _pair(source, image):
    return tf.concat([source, image], axis=-1)


def discriminator_loss(nets, features, target, cfg, training):
    source = features["input"]
    fake = tf.stop_gradient(nets["generator"](source, training=training))
    d_real, d_fake = losses.discriminator_losses(nets["discriminator"](_pair(source, target), training=training),
                                                 nets["discriminator"](_pair(source, fake), training=training),
                                                 cfg["gan_loss"])
    return LossOutput(0.5 * (d_real + d_fake), {"d_loss_real": d_real, "d_loss_fake": d_fake})


def generator_loss(nets, features, target, cfg, training):
    source = features["input"]
    fake = nets["generator"](source, training=training)
    g_gan = losses.generator_loss(nets["discriminator"](_pair(source, fake), training=training), cfg["gan_loss"])
    g_l1 = losses.reconstruction_loss(fake, target, "l1")
    row = tf.concat([source, fake, target], axis=2)  # [batch, R, 3R, 3]: input | output | target
    return LossOutput(g_gan + cfg["l1_weight"] * g_l1, {"g_loss_gan": g_gan, "g_loss_l1": g_l1},
                      images={"input_output_target": row})


def translate(nets, source, cfg):
    """Test-time G: [batch, R, R, 3] -> [batch, R, R, 3] in [-1, 1]. With test_time_training
    every example is translated as a batch of one would be (dropout on, its own batch-norm
    statistics), all in one batched pass."""
    generator = nets["generator"]
    if not cfg["test_time_training"]:
        return generator(source, training=False)
    with per_example_statistics(generator):
        return generator(source, training=True)


def predict(nets, features, cfg):
    """-> float32 [batch, R, R, 3] in [-1, 1] 'input', 'output', and 'target' when the
    features carry one."""
    outputs = {"input": features["input"], "output": translate(nets, features["input"], cfg)}
    if "target" in features:
        outputs["target"] = features["target"]
    return outputs


def image_metrics(output, target, prefix: str = ""):
    """Per-example [batch] l1 (mean |difference| in [-1, 1] units), psnr (dB) and ssim of two
    [batch, H, W, 3] images in [-1, 1]."""
    return {prefix + "l1": losses.per_example_mean(tf.abs(output - target)),
            prefix + "psnr": tf.image.psnr(output, target, max_val=2.0),
            prefix + "ssim": tf.image.ssim(output, target, max_val=2.0)}


def eval_metrics(nets, features, target, cfg):
    """The output's l1/psnr/ssim against the target, and baseline_* for the trivial output =
    input (on datasets where input and target look alike, the bar to beat)."""
    source = features["input"]
    return {**image_metrics(translate(nets, source, cfg), target),
            **image_metrics(source, target, prefix="baseline_")}


def features_from_image(image, cfg):
    return {"input": image}


def serving_inputs(cfg):
    """Receiver: 'image_bytes' tf.string [None] of encoded images (any size; resized to R)."""
    receivers, images = image_to_image.image_bytes_receiver(cfg["resolution"])
    return receivers, {"input": images}


def serving_outputs(nets, features, cfg):
    """serving_default: image_bytes -> 'png_bytes' tf.string [None], the translated R x R images
    as PNG (called 'png' before; trainer.translate reads exports of either name)."""
    return {"serving_default": image_to_image.png_outputs(translate(nets, features["input"], cfg))}


def output_domains(cfg):
    """The one direction the generator translates: a2b (which_direction AtoB: the outputs
    against the targets, the B images) or b2a (BtoA)."""
    source, target = ("a", "b") if cfg["which_direction"] == "AtoB" else ("b", "a")
    return (Translation(f"{source}2{target}", "generator", source, target,
                        lambda g, x: translate({"generator": g}, x, cfg)),)


MODEL = GanModel(
    name="pix2pix", resolutions=RESOLUTIONS, data_mode=DataMode.PAIRED, config_fields=CONFIG_FIELDS,
    networks=networks, make_inputs=make_inputs, discriminator_loss=discriminator_loss,
    generator_loss=generator_loss, predict=predict, eval_metrics=eval_metrics,
    serving_inputs=serving_inputs, serving_outputs=serving_outputs,
    grid_columns=("input", "output", "target"), features_from_image=features_from_image,
    validate=validate, translations=output_domains)
