"""What the noise-driven models (dcgan, progan: GanModel.takes_noise) share: features
{'noise': float32 [batch, noise_dim]}, seeded predict noise, the noise -> uint8 images serving
signature, and the config keys of the sample-quality tools (trainer/quality: evaluate's metrics,
interpolate, project, neighbours), which only these models have."""
import tensorflow as tf

from trainer.fields import Field, positive_int
from trainer.images import to_uint8_tensor

PREDICT_NOISE_STREAM = 7  # stateless_normal(seed=[cfg.seed, 7]): predict's and the grids' latents

QUALITY_FIELDS = {
    "quality_metrics": Field(True, bool, help="evaluate: also SWD, MS-SSIM, FID and KID of generated samples"),
    "quality_num_samples": positive_int(1024, help="generated and real images per quality evaluation"),
    "swd_projections": positive_int(512, help="random directions of the sliced Wasserstein distance"),
    "fid_feature_net": Field("efficientnet_lite0", str, choices=("efficientnet_lite0", "inception_v3", "vgg16"),
                             help="features for FID/KID and neighbours; inception_v3/vgg16 need fid_weights"),
    "fid_weights": Field(None, str, optional=True, help="weights file of fid_feature_net (Keras .h5; nothing is downloaded)"),
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
