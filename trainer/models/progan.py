"""Progressive GAN (Karras et al. 2017): G and D grow from 4x4 to `resolution` (8 ... 256) one
block at a time, each new block faded in (trainer/models/progan_networks.py); WGAN-GP with
ProGAN's drift term (or the non-saturating loss: `gan_loss: sigmoid_ce`).

One config describes the whole growth; the graph of a run is ONE stage: the networks at
`progan_stage_resolution` (static shapes, no graph holding every resolution). The stage runner
(trainer/progan_growth.py, which trainer.run.train hands progan to) sets that key for each stage
it trains and carries the earlier blocks' variables from one stage's checkpoint into the next.
With the key unset the networks are built at the final `resolution`.

The schedule (trainer/models/progan_schedule.py) counts images shown: `progan_stage_kimg`
thousand images of stable training per resolution, `progan_transition_kimg` of fade-in at the
start of every stage after the first; the stage and the fade-in alpha are functions of the
global step only. The loss functions read the global step with
tf.compat.v1.train.get_or_create_global_step(): the skeleton (trainer/gan_model_fn.py) owns
the step and creates it before calling them, so this returns its variable; in a train step it is
read before the step's own increment (the increment depends on both phases' updates).

Features {'noise': [B, noise_dim]}, labels: the real images at the stage's resolution, box-
filtered on the host from the records (make_inputs). During a fade-in D sees
fade_in_reals(reals, alpha), as the official train.py feeds it. The gradient penalty's epsilon
is stateless, seeded by (global step, seed): the same after a resume, XLA-compilable.

For inference the generator is `Generator`: called on a latent alone it uses the fade-in alpha
of its last training step (its non-trainable variable `generator/fade_in_alpha`, set by every G
step, as the official code keeps `lod` among G's variables), clips to [-1, 1] and upsamples
(nearest) to the final resolution, so sample grids, predict and export have the final size at
every stage and line up across stages.
"""
import re
from typing import Mapping, Optional

import tensorflow as tf

from trainer import tpu
from trainer.data.schema import DataMode
from trainer.fields import ConfigError, Field
from trainer.models import GanModel, LossOutput, losses
from trainer.models import noise_to_image
from trainer.models import progan_networks as pn
from trainer.models import progan_schedule as ps

RESOLUTIONS = (8, 16, 32, 64, 128, 256)
GAN_LOSSES = ("wgan_gp", "sigmoid_ce")
ALPHA_VARIABLE = "fade_in_alpha"  # generator/fade_in_alpha: the alpha of G's last training step

CONFIG_FIELDS = {
    **noise_to_image.QUALITY_FIELDS,
    "noise_dim": Field(512, int, min_value=1, arch=True, help="latent (noise) size, as dcgan's key"),
    "fmap_base": Field(8192, int, min_value=1, arch=True, help="width(r) = min(fmap_base / 2^(log2 r - 1), fmap_max)"),
    "fmap_max": Field(512, int, min_value=1, arch=True),
    "equalized_lr": Field(True, bool, arch=True, help="weights N(0, 1) scaled by He's constant at run time"),
    "pixel_norm": Field(True, bool, arch=True, help="pixelwise feature normalisation in G"),
    "minibatch_stddev": Field(True, bool, arch=True, help="minibatch standard deviation feature in D"),
    "mbstd_group_size": Field(4, int, min_value=1, help="minibatch stddev: examples per group"),
    "progan_stage_kimg": Field(600.0, float, min_value=0.0, help="thousands of real images per stable phase"),
    "progan_transition_kimg": Field(600.0, float, min_value=0.0, help="thousands of real images per fade-in"),
    "progan_batch_sizes": Field(None, str, optional=True,
                                help="global batch per resolution, e.g. '4:128,8:128,16:64'; others train_batch_size"),
    "progan_stage_resolution": Field(None, int, min_value=4, optional=True,
                                     help="set by the stage runner (trainer/progan_growth.py): the resolution this "
                                          "graph trains; None = the final resolution"),
    "gan_loss": Field("wgan_gp", str, choices=GAN_LOSSES, help="wgan_gp (+ drift) or the non-saturating sigmoid_ce"),
    "gp_weight": Field(10.0, float, min_value=0.0, help="wgan_gp: gradient penalty weight (lambda)"),
    "drift": Field(0.001, float, min_value=0.0, help="wgan_gp: weight of mean(D(real)^2) (epsilon_drift)"),
    "random_flip": Field(False, bool, help="random horizontal flips of the real images (the paper's mirror augment)"),
}


def schedule(cfg: Mapping) -> ps.Schedule:
    """The growth schedule of a config (batch size: train_batch_size unless progan_batch_sizes
    names the resolution)."""
    return ps.Schedule.from_config({**cfg, "batch_size": cfg["train_batch_size"]})


def checkpoint_resolution(checkpoint_path: str) -> Optional[int]:
    """The stage resolution whose graph wrote a checkpoint: its largest generator/to_rgb_<r>."""
    found = [int(m.group(1)) for name, _ in tf.train.list_variables(checkpoint_path)
             for m in [re.fullmatch(r"generator/to_rgb_(\d+)/kernel", name)] if m]
    return max(found) if found else None


def checkpoint_config(cfg: Mapping, checkpoint_path: str):
    """cfg with the stage of the networks a checkpoint holds (GanModel.checkpoint_config)."""
    return cfg.replace(progan_stage_resolution=checkpoint_resolution(checkpoint_path) or schedule(cfg).resolutions[0])


def stage_resolution(cfg: Mapping) -> int:
    return cfg["progan_stage_resolution"] or cfg["resolution"]


def stage_index(cfg: Mapping) -> int:
    return schedule(cfg).resolutions.index(stage_resolution(cfg))


def fading_in(cfg: Mapping) -> bool:
    """True when this stage starts with a fade-in (every stage after the first, unless
    progan_transition_kimg is 0)."""
    return ps.transition_steps(schedule(cfg), stage_index(cfg)) > 0


def upscale(images, factor: int):
    """Nearest neighbour: [B, h, w, C] -> [B, factor h, factor w, C] (static shapes)."""
    if factor == 1:
        return images
    _, h, w, c = images.shape
    x = tf.tile(tf.reshape(images, [-1, h, 1, w, 1, c]), [1, 1, factor, 1, factor, 1])
    return tf.reshape(x, [-1, h * factor, w * factor, c])


def box_downscale(image, factor: int):
    """[H, W, C] -> [H / factor, W / factor, C], each pixel the mean of its factor x factor block
    (the official dataset's repeated 2x2 averaging)."""
    if factor == 1:
        return image
    h, w, c = image.shape
    return tf.reduce_mean(tf.reshape(image, [h // factor, factor, w // factor, factor, c]), axis=[1, 3])


class Generator(tf.keras.Model):
    """The stage's generator. `g([latent, alpha])` (training): images at the stage's resolution,
    unclipped, as progan_networks.make_generator. `g(latent)` (inference: predict, export, sample
    grids, the quality tools): with the alpha of the last training step, clipped to [-1, 1] and
    upsampled to the final resolution. Variables: the stage network's (generator/block_*/...,
    generator/to_rgb_*) and generator/fade_in_alpha."""

    def __init__(self, cfg: Mapping):
        super().__init__(name="generator", dtype="float32")  # the inner layers follow the precision policy
        self.stage_resolution, self.final_resolution = stage_resolution(cfg), cfg["resolution"]
        self.net = pn.make_generator(cfg, "generator", self.stage_resolution)
        start = ps.alpha_at(ps.stage_starts(schedule(cfg))[stage_index(cfg)], schedule(cfg))
        self.fade_in_alpha = self.add_weight(ALPHA_VARIABLE, [], tf.float32, trainable=False,
                                             initializer=tf.keras.initializers.Constant(start))

    def call(self, inputs, training=None):
        if isinstance(inputs, (list, tuple)):
            return self.net(list(inputs), training=training)
        alpha = tf.fill([tf.shape(inputs)[0], 1], tf.cast(self.fade_in_alpha, tf.float32))
        images = tf.clip_by_value(self.net([inputs, alpha], training=training), -1.0, 1.0)
        return upscale(images, self.final_resolution // self.stage_resolution)


def networks(cfg):
    res = stage_resolution(cfg)
    return {"generator": lambda: Generator(cfg),
            "discriminator": lambda: pn.make_discriminator(cfg, "discriminator", res)}


def make_inputs(example, cfg, training):
    image = example["image"]
    if training and cfg["random_flip"]:
        image = tf.image.random_flip_left_right(image)
    image = box_downscale(image, cfg["resolution"] // stage_resolution(cfg))
    return {"noise": tf.random.normal([cfg["noise_dim"]])}, image


def _alpha(cfg):
    """The fade-in alpha of the current global step (float32 scalar)."""
    step = tf.compat.v1.train.get_or_create_global_step()  # the skeleton's; see the module docstring
    return ps.alpha_tensor(step, schedule(cfg), stage_index(cfg))


def _per_example(alpha, like):
    return tf.fill([tf.shape(like)[0], 1], alpha)


def _reals(real, alpha, cfg):
    return pn.fade_in_reals(real, alpha) if fading_in(cfg) else real


def _gp_seed(cfg):
    step = tf.cast(tf.compat.v1.train.get_or_create_global_step(), tf.int64)
    return tf.stack([step, tf.constant(cfg["seed"], tf.int64)])


def discriminator_loss(nets, features, real, cfg, training):
    alpha = _alpha(cfg)
    a = _per_example(alpha, features["noise"])
    fake = nets["generator"]([features["noise"], a], training=training)
    real = _reals(real, alpha, cfg)

    def critic(x):
        return nets["discriminator"]([x, a], training=training)

    real_logits, fake_logits = critic(real), critic(fake)
    scalars = {"alpha": alpha, "d_real_score": tf.reduce_mean(real_logits), "d_fake_score": tf.reduce_mean(fake_logits)}
    if cfg["gan_loss"] == "sigmoid_ce":
        d_real, d_fake = losses.discriminator_losses(real_logits, fake_logits)
        return LossOutput(d_real + d_fake, {**scalars, "d_loss_real": d_real, "d_loss_fake": d_fake})
    penalty = losses.gradient_penalty(critic, real, fake, seed=_gp_seed(cfg))
    loss, terms = losses.wgan_gp_discriminator_loss(real_logits, fake_logits, penalty, drift=cfg["drift"],
                                                    gp_weight=cfg["gp_weight"])
    return LossOutput(loss, {**scalars, **terms})


def _final_size(images, cfg):
    return upscale(tf.clip_by_value(images[:tpu.SUMMARY_IMAGES], -1.0, 1.0), cfg["resolution"] // stage_resolution(cfg))


def generator_loss(nets, features, real, cfg, training):
    alpha = _alpha(cfg)
    a = _per_example(alpha, features["noise"])
    generator = nets["generator"]
    record = [generator.model.fade_in_alpha.assign(alpha)] if training else []  # for inference
    with tf.control_dependencies(record):
        fake = generator([features["noise"], a], training=training)
    logits = nets["discriminator"]([fake, a], training=training)
    g_loss = losses.generator_loss(logits) if cfg["gan_loss"] == "sigmoid_ce" else losses.wgan_generator_loss(logits)
    kimg = tf.cast(ps.images_shown_tensor(tf.compat.v1.train.get_or_create_global_step(), schedule(cfg)),
                   tf.float32) / 1000.0
    return LossOutput(g_loss, {"kimg": kimg},
                      images={"samples": _final_size(fake, cfg), "real": _final_size(_reals(real, alpha, cfg), cfg)})


def predict(nets, features, cfg):
    return {"image": nets["generator"](features["noise"], training=False), "noise": features["noise"]}


def eval_metrics(nets, features, real, cfg):
    """Per-example critic scores of real and generated images (D's raw outputs; sigmoid_ce:
    probabilities)."""
    alpha = _alpha(cfg)
    a = _per_example(alpha, features["noise"])
    fake = nets["generator"]([features["noise"], a], training=False)
    real_scores = nets["discriminator"]([_reals(real, alpha, cfg), a], training=False)
    fake_scores = nets["discriminator"]([fake, a], training=False)
    if cfg["gan_loss"] == "sigmoid_ce":
        return {"d_real_prob": tf.sigmoid(real_scores), "d_fake_prob": tf.sigmoid(fake_scores)}
    return {"d_real_score": real_scores, "d_fake_score": fake_scores}


def _error(key: str, message: str) -> ConfigError:
    error = ConfigError(f"key {key!r}: {message}")
    error.key = key  # config.build names the file that set it
    return error


def validate(values):
    """The schedule's keys; on TPU with num_shards known (trainer.submit sets it to the TPU's
    devices), every stage's global batch must split evenly over them, as TPUEstimator
    requires of each stage's graph. Stage boundaries need no check: on TPU the schedule rounds
    every stage to whole iterations_per_loop loops."""
    try:
        sched = schedule(values)
    except ValueError as e:
        raise _error("progan_batch_sizes", str(e)) from None
    stage = values["progan_stage_resolution"]
    if stage is not None and stage not in sched.resolutions:
        raise _error("progan_stage_resolution", f"{stage} is not a stage of this growth; allowed: "
                                                f"{', '.join(map(str, sched.resolutions))}")
    shards = values["num_shards"] if values["use_tpu"] else None
    for index, res in enumerate(sched.resolutions if shards else ()):
        batch = ps.batch_size(sched, index)
        if batch % shards:
            key = "progan_batch_sizes" if res in sched.batch_sizes else "train_batch_size"
            raise _error(key, f"the {res}x{res} stage's global batch {batch} is not a multiple of num_shards "
                              f"({shards} TPU devices): each device trains batch / num_shards")


MODEL = GanModel(
    name="progan", resolutions=RESOLUTIONS, data_mode=DataMode.IMAGES, config_fields=CONFIG_FIELDS,
    networks=networks, make_inputs=make_inputs, discriminator_loss=discriminator_loss,
    generator_loss=generator_loss, predict=predict, eval_metrics=eval_metrics,
    serving_inputs=noise_to_image.serving_inputs, serving_outputs=noise_to_image.serving_outputs,
    predict_dataset=noise_to_image.predict_dataset,
    takes_noise=True, validate=validate, checkpoint_config=checkpoint_config, grows=True)
