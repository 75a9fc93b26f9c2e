"""GAN training on TPUEstimator (use_tpu switch); see README.md.

Importing the package turns on oneDNN's CPU kernels for TensorFlow unless the user has set
TF_ENABLE_ONEDNN_OPTS: TF 2.15 enables them by default only on Intel CPUs with AVX-512 VNNI or
newer, and on this project's 2-core AMD EPYC machines a DCGAN-64 training step ran 2.0x faster
with them (benchmarks.run, 16.8 -> 34.3 img/s, 2026-11-30). It only counts if set before
TensorFlow is imported, so entry points import `trainer` first. TPU steps are unaffected.
"""
import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
