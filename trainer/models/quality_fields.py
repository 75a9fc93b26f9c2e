"""The config keys of the sample-quality metrics that `--mode evaluate` adds
(trainer/quality/evaluation.py), for every model that has them: the noise-driven models
(noise_to_image.QUALITY_FIELDS, which adds the latent tools' keys) and the translation models
(pix2pix, cyclegan: the metrics per output domain). Only the sample count's default and the
help texts differ between the two."""
from typing import Dict

from trainer.fields import Field, positive_int

# Built by trainer/quality/features.load (its NAMES); defined here, the lower layer, for the choices.
FEATURE_NETS = ("efficientnet_lite0", "inception_v3", "vgg16")


def metric_fields(metrics_help: str, num_samples: int, num_samples_help: str) -> Dict[str, Field]:
    """quality_metrics, quality_num_samples, swd_projections, fid_feature_net, fid_weights."""
    return {
        "quality_metrics": Field(True, bool, help=metrics_help),
        "quality_num_samples": positive_int(num_samples, help=num_samples_help),
        "swd_projections": positive_int(512, help="random directions of the sliced Wasserstein distance"),
        "fid_feature_net": Field("efficientnet_lite0", str, choices=FEATURE_NETS,
                                 help="features for FID/KID (and neighbours); inception_v3/vgg16 need fid_weights"),
        "fid_weights": Field(None, str, optional=True,
                             help="weights file of fid_feature_net (Keras .h5; nothing is downloaded)"),
    }


# pix2pix and cyclegan: translations are dearer than DCGAN samples (a 256 px resnet generator
# runs ~1 image/s on 2 CPU cores) and their eval sets are small (facades 100, horse2zebra
# 120/140 test images), so fewer samples by default.
TRANSLATION_FIELDS = metric_fields(
    "evaluate: also SWD, FID and KID of the translations, per output domain",
    256, "translated eval images per direction, against as many real images of the output domain")
