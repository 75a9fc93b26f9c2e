"""Nearest training images of generated samples: has the GAN copied its training set?

For each sample, the k most similar training images by three measures (as in the DCGAN-on-TPU
write-up, which used VGG block1_pool and block5_pool):
- `early`: cosine similarity of early-layer features (colour, texture, layout),
- `late`: cosine similarity of late-layer features (shapes, objects),
- `pixel`: smallest L2 distance between the pixels (Karras et al. 2017 used pixel L1).
The training set is streamed in batches and only the running top k is kept, so memory does not
grow with the training set.
"""
from typing import Callable, Dict, Iterable, List, Tuple

import numpy as np

METRICS = ("early", "late", "pixel")


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[n, d], [m, d] -> [n, m] cosine similarities."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def pixel_l2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[n, H, W, 3], [m, H, W, 3] -> [n, m] Euclidean distances of the pixels."""
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    sq = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(sq, 0, None))


class TopK:
    """Running top-k per row over batches of candidates (highest score first)."""

    def __init__(self, rows: int, k: int):
        self.k = k
        self.scores = np.full((rows, 0), -np.inf)
        self.ids = np.zeros((rows, 0), np.int64)

    def update(self, scores: np.ndarray, ids: np.ndarray) -> None:
        all_scores = np.concatenate([self.scores, scores], axis=1)
        all_ids = np.concatenate([self.ids, np.broadcast_to(ids, scores.shape)], axis=1)
        order = np.argsort(-all_scores, axis=1, kind="stable")[:, :self.k]
        self.scores = np.take_along_axis(all_scores, order, 1)
        self.ids = np.take_along_axis(all_ids, order, 1)


def nearest(samples: np.ndarray, batches: Iterable[Tuple[np.ndarray, List[str]]],
            features: Callable[[np.ndarray], Dict[str, np.ndarray]], k: int) -> Dict:
    """samples [n, H, W, 3] in [-1, 1]; batches of (training images like samples, names).

    Returns {'early'|'late'|'pixel': {'ids': [n, k], 'scores': [n, k]}, 'names': all names,
    'images': {id: [H, W, 3] image} for the ids kept}. Scores: cosine similarity (higher is
    closer) or pixel L2 distance (lower is closer)."""
    sample_features = features(samples)
    tops = {m: TopK(len(samples), k) for m in METRICS}
    names: List[str] = []
    kept: Dict[int, np.ndarray] = {}
    for images, batch_names in batches:
        ids = np.arange(len(names), len(names) + len(images))
        names.extend(batch_names)
        train_features = features(images)
        for m in ("early", "late"):
            tops[m].update(cosine_similarity(sample_features[m], train_features[m]), ids)
        tops["pixel"].update(-pixel_l2(samples, images), ids)
        wanted = {int(i) for top in tops.values() for i in top.ids.ravel()}
        kept = {i: v for i, v in kept.items() if i in wanted}
        kept.update({int(i): images[j] for j, i in enumerate(ids) if int(i) in wanted})
    out = {m: {"ids": tops[m].ids, "scores": tops[m].scores * (-1 if m == "pixel" else 1)} for m in METRICS}
    return {**out, "names": names, "images": kept}
