"""MS-SSIM between pairs of images of one set: a diversity measure (Odena et al. 2017; used by
Karras et al. 2017). Near 1 means the pairs look alike (mode collapse); compare the generated
set's value with the real set's, which is what a diverse generator should reach.

tf.image.ssim_multiscale with its 11x11 filter needs `size / 2^(scales-1) >= 11`, and its
default 5 scales need 161 px. Smaller images use the first scales that fit (32 px: 2 scales,
64 px: 3, 128 px: 4, 256 px and up: all 5) with the standard power factors of those scales
renormalised to sum to 1.
"""
from typing import Dict, Sequence

import numpy as np
import tensorflow as tf

POWER_FACTORS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, as TF's default
FILTER_SIZE = 11


def power_factors(size: int) -> Sequence[float]:
    """The power factors of the scales an image of `size` px supports."""
    scales = 1
    while scales < len(POWER_FACTORS) and size // 2 ** scales >= FILTER_SIZE:
        scales += 1
    factors = np.asarray(POWER_FACTORS[:scales])
    return tuple(float(f) for f in factors / factors.sum())


def ms_ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pair MS-SSIM of [n, H, W, 3] images in [-1, 1]: float32 [n]."""
    if min(a.shape[1:3]) < FILTER_SIZE:
        raise ValueError(f"MS-SSIM needs images of at least {FILTER_SIZE} px, got {a.shape[1:3]}")
    scale = lambda x: (tf.constant(x, tf.float32) + 1.0) / 2.0  # noqa: E731  max_val 1
    out = tf.image.ssim_multiscale(scale(a), scale(b), max_val=1.0, filter_size=FILTER_SIZE,
                                   power_factors=power_factors(min(a.shape[1:3])))
    return out.numpy().astype(np.float32)


def pair_indices(n: int, pairs: int, seed: int = 0):
    """`pairs` random (i, j) with i != j among n images, the same for the same seed."""
    if n < 2:
        raise ValueError("MS-SSIM diversity needs at least 2 images")
    rng = np.random.default_rng([seed, 2])
    i = rng.integers(0, n, pairs)
    j = (i + rng.integers(1, n, pairs)) % n  # never i itself
    return i, j


def diversity(images: np.ndarray, pairs: int = 1000, seed: int = 0, batch: int = 256) -> float:
    """Mean MS-SSIM over random pairs of distinct images of one set (lower = more diverse)."""
    i, j = pair_indices(len(images), pairs, seed)
    values = [ms_ssim(images[i[s:s + batch]], images[j[s:s + batch]]) for s in range(0, pairs, batch)]
    return float(np.concatenate(values).mean())


def msssim_metrics(real: np.ndarray, fake: np.ndarray, pairs: int = 1000, seed: int = 0) -> Dict[str, float]:
    return {"msssim_fake": diversity(fake, pairs, seed), "msssim_real": diversity(real, pairs, seed)}
