"""Config keys of the sample-quality tools (trainer/quality: evaluate's metrics, interpolate,
project, neighbours), declared by the models whose generator takes noise (GanModel.takes_noise):
dcgan and progan include FIELDS in their CONFIG_FIELDS."""
from trainer.fields import Field, positive_int

FIELDS = {
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
