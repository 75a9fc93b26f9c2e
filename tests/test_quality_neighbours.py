"""Nearest neighbours: a training image fed as the "sample" finds itself first by every
measure, and streaming the training set in batches gives the brute-force answer."""
import numpy as np

from test_quality_metrics import blobs
from trainer.quality import features, neighbours


def batches(images, names, size):
    for start in range(0, len(images), size):
        yield images[start:start + size], names[start:start + size]


def test_top_k_over_batches_equals_brute_force():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(5, 23))
    top = neighbours.TopK(5, 4)
    for start in range(0, 23, 6):
        top.update(scores[:, start:start + 6], np.arange(start, min(start + 6, 23)))
    np.testing.assert_array_equal(top.ids, np.argsort(-scores, axis=1)[:, :4])
    np.testing.assert_allclose(top.scores, -np.sort(-scores, axis=1)[:, :4])


def test_cosine_and_pixel_measures():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(neighbours.cosine_similarity(a, np.array([[3.0, 0.0], [1.0, 1.0]])),
                               [[1.0, np.sqrt(0.5)], [0.0, np.sqrt(0.5)]], atol=1e-12)
    x = np.zeros((1, 2, 2, 3))
    y = np.stack([np.zeros((2, 2, 3)), np.ones((2, 2, 3))])
    np.testing.assert_allclose(neighbours.pixel_l2(x, y), [[0.0, np.sqrt(12.0)]], atol=1e-6)


def test_a_training_image_is_its_own_nearest_neighbour():
    train = blobs(20, seed=4)
    names = [f"img/{i}.png" for i in range(20)]
    picked = [3, 17, 8]
    samples = train[picked] + 0.0
    found = neighbours.nearest(samples, batches(train, names, 6), features.load("efficientnet_lite0"), k=3)
    for metric in neighbours.METRICS:
        assert list(found[metric]["ids"][:, 0]) == picked, metric
    np.testing.assert_allclose(found["early"]["scores"][:, 0], 1.0, atol=1e-5)
    np.testing.assert_allclose(found["late"]["scores"][:, 0], 1.0, atol=1e-5)
    np.testing.assert_allclose(found["pixel"]["scores"][:, 0], 0.0, atol=1e-3)
    assert np.all(np.diff(found["pixel"]["scores"], axis=1) >= 0)  # nearest first
    assert np.all(np.diff(found["late"]["scores"], axis=1) <= 0)
    assert found["names"] == names
    kept = {int(i) for m in neighbours.METRICS for i in found[m]["ids"].ravel()}
    assert set(found["images"]) == kept
    np.testing.assert_array_equal(found["images"][3], train[3])
