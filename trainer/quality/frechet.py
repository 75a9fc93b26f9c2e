"""Fréchet distance (FID, Heusel et al. 2017) and kernel inception distance (KID, Bińkowski
et al. 2018) between two sets of feature vectors `[n, d]` (trainer/quality/features.py).

FID fits a Gaussian to each set: |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2). It is biased
for small n (it shrinks as n grows), so compare runs only at the same sample count.
KID is an unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged
over disjoint random subsets of up to 1000 (mean, and std over the subsets, reported); unbiased,
so small sets are fine (it can be slightly negative).
With the default EfficientNet-Lite0 features the values are not comparable with published
Inception-v3 FID/KID numbers: compare runs of this project with each other.
"""
from typing import Dict

import numpy as np


def gaussian(features: np.ndarray):
    f = np.asarray(features, np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FID between feature sets a [n, d] and b [m, d] (n, m >= 2)."""
    mu_a, cov_a = gaussian(a)
    mu_b, cov_b = gaussian(b)
    # tr (S_a S_b)^1/2 = sum sqrt(eig(S_a^1/2 S_b S_a^1/2)), a symmetric PSD matrix: no complex
    # parts or failed sqrtm when the covariances are singular (n < d).
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_sqrt = np.sqrt(np.clip(inner, 0, None)).sum()
    value = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt
    return float(max(value, 0.0))


def polynomial_mmd2(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2 (the U-statistic MMD^2_u of Gretton et al. 2012, eq. 3) with
    k(x, y) = (x.y / d + 1)^3, for equal-sized sets: pairs i != j only, so two identical sets in
    the same order give exactly 0."""
    d, m = a.shape[1], len(a)
    # Each Gram matrix through the same general matmul (the right operand a fresh copy): for
    # x @ x.T numpy takes a symmetric kernel that rounds otherwise than x @ y.T, and KID of a set
    # with itself came out as 1e-16, not 0.
    kernel = lambda x, y: (x @ np.ascontiguousarray(y.T) / d + 1) ** 3  # noqa: E731
    k_aa, k_bb, k_ab = kernel(a, a), kernel(b, b), kernel(a, b)
    off = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))  # noqa: E731
    return float(off(k_aa) + off(k_bb) - 2.0 * off(k_ab))


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 10, subset_size: int = 1000, seed: int = 0) -> Dict[str, float]:
    """{'kid': mean, 'kid_std': std} of the unbiased MMD^2 over `subsets` disjoint random
    subsets, as Bińkowski et al. report KID (their code: mean and std of the MMD^2 over subsets
    of 1000): each subset holds m = min(subset_size, n // subsets) samples of each set, so the
    subsets are independent and kid_std is the spread of one m-sample estimate (the standard
    error of kid itself is about kid_std / sqrt(subsets)). Sets of fewer than 2 * subsets samples
    use n // 2 subsets of 2. The mean of unbiased estimates is unbiased (so it can dip below 0),
    and equal-sized sets share the partition (their samples are independent, so the pairing is
    arbitrary), which makes KID of a set with itself exactly 0.

    Before, the subsets were drawn with overlap, and for n <= subset_size every one was the whole
    set: kid_std was 0 (or ~10x too small), a spread that could not fail."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = min(len(a), len(b))
    if n < 2:
        raise ValueError("KID needs at least 2 samples per set")
    count = max(1, min(subsets, n // 2))
    m = min(subset_size, n // count)
    rng = np.random.default_rng([seed, 3])
    order_a = rng.permutation(len(a))
    order_b = order_a if len(a) == len(b) else rng.permutation(len(b))
    values = [polynomial_mmd2(a[order_a[k * m:(k + 1) * m]], b[order_b[k * m:(k + 1) * m]])
              for k in range(count)]
    return {"kid": float(np.mean(values)), "kid_std": float(np.std(values, ddof=1)) if count > 1 else 0.0}


def fid_kid(real: np.ndarray, fake: np.ndarray, seed: int = 0) -> Dict[str, float]:
    return {"fid": frechet_distance(real, fake), **kid(real, fake, seed=seed)}
