"""GAN training on TPUEstimator (use_tpu switch); see README.md.

Importing the package sets TF_ENABLE_ONEDNN_OPTS=1 unless the user set it (oneDNN CPU kernels;
measured in the README's Benchmarks section), so entry points import `trainer` first.
"""
import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # only counts before TensorFlow is imported
