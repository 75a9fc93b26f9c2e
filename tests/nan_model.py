"""A test plugin model (registered through TRAINER_MODEL_PLUGINS): DCGAN whose losses turn
non-finite from global step `nan_from_step` on, to exercise the non-finite loss guard."""
import dataclasses

import tensorflow as tf

from trainer.config import Field
from trainer.models import LossOutput, dcgan


def _poisoned(loss_fn):
    def wrapped(nets, features, labels, cfg, training):
        out = loss_fn(nets, features, labels, cfg, training)
        step = tf.compat.v1.train.get_or_create_global_step()
        factor = tf.where(step >= cfg["nan_from_step"], float("nan"), 1.0)
        return LossOutput(out.loss * factor, out.scalars, out.images)
    return wrapped


MODEL = dataclasses.replace(
    dcgan.MODEL, name="nan_dcgan",
    config_fields={**dcgan.CONFIG_FIELDS, "nan_from_step": Field(3, int, min_value=0)},
    discriminator_loss=_poisoned(dcgan.discriminator_loss),
    generator_loss=_poisoned(dcgan.generator_loss))
