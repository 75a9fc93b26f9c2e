"""What the noise-driven models (dcgan, progan: GanModel.takes_noise) share: features
{'noise': float32 [batch, noise_dim]}, seeded predict noise, the noise -> uint8 images serving
signature, and the config keys of the sample-quality tools (trainer/quality): evaluate's
metrics (quality_fields.py, shared with the translation models) and those of interpolate,
project and neighbours, which only these models have."""
import tensorflow as tf

from trainer.fields import positive_int
from trainer.images import to_uint8_tensor
from trainer.models import quality_fields

PREDICT_NOISE_STREAM = 7  # stateless_normal(seed=[cfg.seed, 7]): predict's and the grids' latents

QUALITY_FIELDS = {
    **quality_fields.metric_fields("evaluate: also SWD, MS-SSIM, FID and KID of generated samples",
                                   1024, "generated and real images per quality evaluation"),
    "projection_steps": positive_int(200, help="project: gradient steps on the latent"),
    "neighbours_samples": positive_int(16, help="neighbours: generated samples to look up"),
    "neighbours_k": positive_int(8, help="neighbours: training images shown per sample and measure"),
    "neighbours_max_train": positive_int(10000, help="neighbours: training images searched (file order)"),
}


def predict_dataset(cfg, count: int):
    """Seeded noise: the same `seed` and count give the same latents in every run."""
    noise = tf.random.stateless_normal([count, cfg["noise_dim"]], seed=[cfg["seed"], PREDICT_NOISE_STREAM])
    return tf.data.Dataset.from_tensor_slices({"noise": noise})


def serving_inputs(cfg):
    """Receiver: 'noise' float32 [None, noise_dim]."""
    noise = tf.compat.v1.placeholder(tf.float32, [None, cfg["noise_dim"]], name="noise")
    return {"noise": noise}, {"noise": noise}


def serving_outputs(nets, features, cfg):
    """serving_default: noise -> 'images' uint8 [None, R, R, 3]."""
    return {"serving_default": {"images": to_uint8_tensor(nets["generator"](features["noise"], training=False))}}
