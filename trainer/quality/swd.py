"""Sliced Wasserstein distance between two image sets on Laplacian-pyramid patches (Karras et
al. 2017, "Progressive Growing of GANs", appendix D), following their reference code
(progressive_growing_of_gans/metrics/sliced_wasserstein.py):

- a Laplacian pyramid per image (5x5 binomial filter as cv2.pyrDown/pyrUp, mirror borders),
  one level per resolution from the image size down to 16 px;
- 128 random 7x7x3 patches per image and level (`NHOODS_PER_IMAGE`, `NHOOD_SIZE`);
- each set's descriptors normalised per colour channel by that set's own mean and std;
- `projections` random unit directions (512 = 4 repeats x 128 in the paper; fewer allowed),
  the 1-D Wasserstein distance of the sorted projections averaged over directions;
- reported x 1e3 per level (`swd_<res>`) and averaged (`swd_avg`); lower is better. The finest
  level measures fine detail, the 16 px level the overall colour and structure.

Images are float `[n, H, W, 3]` in `[-1, 1]` (quantised to 0..255 like the reference's uint8
input). Patch positions and directions come from `seed`, so the same sets give the same
numbers, and identical sets give exactly 0.
"""
from typing import Dict, List

import numpy as np
from scipy import ndimage

NHOOD_SIZE = 7
NHOODS_PER_IMAGE = 128
DIRS_PER_REPEAT = 128
MIN_RESOLUTION = 16
_BINOMIAL = np.float32([1, 4, 6, 4, 1])
GAUSSIAN = (np.outer(_BINOMIAL, _BINOMIAL) / 256.0)[None, :, :, None]  # NHWC, spatial only


def to_0_255(images: np.ndarray) -> np.ndarray:
    """[-1, 1] -> float32 in 0..255, rounded like a uint8 image."""
    return np.round((np.asarray(images, np.float32) + 1.0) * 127.5).clip(0, 255)


def pyr_down(images: np.ndarray) -> np.ndarray:
    return ndimage.convolve(images, GAUSSIAN, mode="mirror")[:, ::2, ::2]


def pyr_up(images: np.ndarray) -> np.ndarray:
    n, h, w, c = images.shape
    up = np.zeros((n, h * 2, w * 2, c), images.dtype)
    up[:, ::2, ::2] = images
    return ndimage.convolve(up, GAUSSIAN * 4.0, mode="mirror")


def laplacian_pyramid(images: np.ndarray, levels: int) -> List[np.ndarray]:
    pyramid = [np.float32(images)]
    for _ in range(1, levels):
        pyramid.append(pyr_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - pyr_up(pyramid[-1])
    return pyramid


def resolutions(size: int) -> List[int]:
    out = []
    while size >= MIN_RESOLUTION:
        out.append(size)
        size //= 2
    return out


def patches(level: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """NHOODS_PER_IMAGE random 7x7 patches per image: [n * 128, 7, 7, 3]."""
    n, h, w, _ = level.shape
    half = NHOOD_SIZE // 2
    count = n * NHOODS_PER_IMAGE
    image = np.repeat(np.arange(n), NHOODS_PER_IMAGE)[:, None, None]
    y = rng.integers(half, h - half, size=count)[:, None, None] + np.arange(-half, half + 1)[None, :, None]
    x = rng.integers(half, w - half, size=count)[:, None, None] + np.arange(-half, half + 1)[None, None, :]
    return level[image, y, x]


def normalise(descriptors: np.ndarray) -> np.ndarray:
    """Per-channel zero mean, unit std over the whole set; flattened to [count, 147], float32.

    The statistics are taken in float64: float32 sums over ~10^7 values (1024 images x 128
    patches x 49 pixels per channel) drift by 0.4-1 grey levels, which is 1-2 std of a
    low-contrast set (a collapsed or near-constant generator), and made its coarse-level SWD
    several times too large (tests/test_quality_metrics.py checks a float64 reference)."""
    d = np.asarray(descriptors, np.float64)
    d = d - d.mean(axis=(0, 1, 2), keepdims=True)
    d /= np.maximum(np.sqrt(np.mean(np.square(d), axis=(0, 1, 2), keepdims=True)), 1e-8)
    return d.astype(np.float32).reshape(len(d), -1)


def descriptors(images: np.ndarray, seed: int) -> List[np.ndarray]:
    """Normalised patch descriptors of each pyramid level, finest first."""
    images = to_0_255(images)
    rng = np.random.default_rng(seed)
    levels = laplacian_pyramid(images, len(resolutions(images.shape[1])))
    return [normalise(patches(level, rng)) for level in levels]


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, projections: int, rng: np.random.Generator) -> float:
    """Mean 1-D Wasserstein distance over random unit directions; a, b: [count, dim]."""
    if a.shape != b.shape:
        raise ValueError(f"descriptor sets differ in shape: {a.shape} vs {b.shape} (use equal image counts)")
    results = []
    for start in range(0, projections, DIRS_PER_REPEAT):
        dirs = rng.standard_normal((a.shape[1], min(DIRS_PER_REPEAT, projections - start)))
        dirs = (dirs / np.sqrt(np.sum(dirs ** 2, axis=0, keepdims=True))).astype(np.float32)
        proj_a, proj_b = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
        results.append(np.abs(proj_a - proj_b).mean(axis=0))
    return float(np.concatenate(results).mean())


def swd(real: np.ndarray, fake: np.ndarray, projections: int = 512, seed: int = 0) -> Dict[str, float]:
    """{'swd_<res>': x1e3 per level, ..., 'swd_avg'} between two equal-sized image sets."""
    if real.shape != fake.shape:
        raise ValueError(f"image sets differ in shape: {real.shape} vs {fake.shape}")
    if real.shape[1] < MIN_RESOLUTION:
        raise ValueError(f"SWD needs images of at least {MIN_RESOLUTION} px, got {real.shape[1]}")
    rng = np.random.default_rng([seed, 1])
    dists = [sliced_wasserstein(a, b, projections, rng) * 1e3
             for a, b in zip(descriptors(real, seed), descriptors(fake, seed))]
    out = {f"swd_{res}": d for res, d in zip(resolutions(real.shape[1]), dists)}
    out["swd_avg"] = float(np.mean(dists))
    return out
