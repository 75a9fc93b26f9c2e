"""A small CNN Fashion-MNIST classifier for benchmarks.quality, and the sample-quality measures
computed from its outputs: Fréchet distance and KID in its penultimate features, its mean
confidence (max softmax probability) and class coverage.

The classifier sees what the GAN sees: Fashion-MNIST (Debian's dataset-fashion-mnist, read with
trainer.demo's IDX reader) made RGB and resized 28 -> 32 px exactly as convert_to_tfrecords.py
does (trainer.data.image_io.square_resize: centre square, LANCZOS), in [-1, 1], then averaged to
one grey channel (generated RGB images are averaged the same way).

Network: conv 32 -> pool -> conv 64 -> pool -> conv 64 -> pool (3x3 convs, batch norm, ReLU) ->
dense 128 ('features', the penultimate layer) -> dropout 0.3 -> dense 10. Adam 1e-3, batch 128,
EPOCHS epochs on the 60 000 training images. It is trained once and cached outside git under
~/.cache/tpu-gan-trainer/fashion_classifier/<key>/ (weights + meta.json with its test accuracy);
the key hashes this file's source, the settings and the TensorFlow version, so a change of code
or settings retrains it.
"""
import hashlib
import json
import os
import time
from typing import Dict, Optional, Tuple

import numpy as np

from trainer import demo
from trainer.quality import frechet

CLASSES = demo.FASHION_CLASSES
NUM_CLASSES = len(CLASSES)
SIZE = 32
EPOCHS = 4
BATCH = 128
COVERAGE_FRACTION = 0.02  # a class is covered when at least 2% of the samples fall in it
CACHE_ROOT = os.path.join(os.path.expanduser("~"), ".cache", "tpu-gan-trainer", "fashion_classifier")


# --- data -------------------------------------------------------------------------------------

def read_split(split: str) -> Tuple[np.ndarray, np.ndarray]:
    """(uint8 [n, 28, 28], uint8 labels [n]) of Fashion-MNIST's 'train' or 't10k' split."""
    prefix = "train" if split == "train" else "t10k"
    images = demo.read_idx_images(os.path.join(demo.FASHION_DIR, f"{prefix}-images-idx3-ubyte.gz"))
    labels = demo.read_idx_labels(os.path.join(demo.FASHION_DIR, f"{prefix}-labels-idx1-ubyte.gz"))
    return images, labels


def as_converted(gray: np.ndarray, size: int = SIZE) -> np.ndarray:
    """uint8 [n, 28, 28] -> float32 RGB [n, size, size, 3] in [-1, 1], the converter's resize."""
    from trainer.data import image_io
    out = np.stack([image_io.square_resize(np.repeat(g[:, :, None], 3, axis=2), size) for g in gray])
    return out.astype(np.float32) / 127.5 - 1.0


def to_input(images: np.ndarray) -> np.ndarray:
    """RGB [n, H, W, 3] in [-1, 1] -> the classifier's grey [n, H, W, 1]."""
    return np.asarray(images, np.float32).mean(axis=-1, keepdims=True)


# --- the network ------------------------------------------------------------------------------

def build():
    import tensorflow as tf
    L = tf.keras.layers
    x = inputs = L.Input([SIZE, SIZE, 1])
    for width in (32, 64, 64):
        x = L.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
        x = L.MaxPool2D()(x)
    features = L.Dense(128, activation="relu", name="features")(L.Flatten()(x))
    logits = L.Dense(NUM_CLASSES, name="logits")(L.Dropout(0.3)(features))
    return tf.keras.Model(inputs, [logits, features])


class Classifier:
    """images RGB [n, 32, 32, 3] in [-1, 1] -> (logits [n, 10], features [n, 128])."""

    def __init__(self, model, meta: Dict):
        import tensorflow as tf
        self.model, self.meta = model, meta
        self._fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    @property
    def accuracy(self) -> float:
        return self.meta["test_accuracy"]

    def __call__(self, images: np.ndarray, batch_size: int = 500) -> Tuple[np.ndarray, np.ndarray]:
        x = to_input(images)
        parts = [self._fn(x[s:s + batch_size]) for s in range(0, len(x), batch_size)]
        return (np.concatenate([p[0].numpy() for p in parts]).astype(np.float64),
                np.concatenate([p[1].numpy() for p in parts]).astype(np.float64))


def cache_key(epochs: int, train_count: Optional[int]) -> str:
    """Hash of the code that makes the weights (data preparation, network, training) and the
    settings: editing the measures below does not retrain."""
    import inspect
    import tensorflow as tf
    source = "".join(inspect.getsource(f) for f in (read_split, as_converted, to_input, build, load_or_train))
    settings = json.dumps({"epochs": epochs, "train_count": train_count, "batch": BATCH, "size": SIZE,
                           "tf": tf.__version__})
    return hashlib.sha256((source + settings).encode()).hexdigest()[:16]


def load_or_train(epochs: int = EPOCHS, train_count: Optional[int] = None, cache_root: str = CACHE_ROOT,
                  log=print) -> Classifier:
    """The cached classifier for these settings, or trains (and caches) it: ~2-3 min on 2 cores
    for the full set. `train_count` uses only the first N training images (the quick variant)."""
    import tensorflow as tf
    folder = os.path.join(cache_root, cache_key(epochs, train_count))
    weights, meta_path = os.path.join(folder, "weights.h5"), os.path.join(folder, "meta.json")
    model = build()
    if os.path.exists(weights) and os.path.exists(meta_path):
        model.load_weights(weights)
        with open(meta_path) as f:
            meta = json.load(f)
        log(f"classifier: cached {folder} (test accuracy {meta['test_accuracy']:.2%})")
        return Classifier(model, meta)
    tf.keras.utils.set_random_seed(0)
    model = build()
    start = time.time()
    train_images, train_labels = read_split("train")
    test_images, test_labels = read_split("test")
    if train_count:
        train_images, train_labels = train_images[:train_count], train_labels[:train_count]
    x_train, x_test = to_input(as_converted(train_images)), to_input(as_converted(test_images))
    log(f"classifier: training on {len(x_train)} images, {epochs} epochs (cached afterwards in {folder}) ...")
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
                  loss=[tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), None],
                  metrics=[["accuracy"], []])
    model.fit(x_train, train_labels.astype(np.int64), batch_size=BATCH, epochs=epochs, verbose=0, shuffle=True)
    classifier = Classifier(model, {})
    logits, _ = classifier(np.repeat(x_test, 3, axis=-1))
    accuracy = float(np.mean(logits.argmax(axis=1) == test_labels))
    meta = {"test_accuracy": accuracy, "epochs": epochs, "train_images": int(len(x_train)),
            "test_images": int(len(x_test)), "train_seconds": round(time.time() - start, 1),
            "network": "conv32-pool-conv64-pool-conv64-pool-dense128(features)-dropout0.3-dense10"}
    os.makedirs(folder, exist_ok=True)
    model.save_weights(weights)
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    classifier.meta = meta
    log(f"classifier: test accuracy {accuracy:.2%} after {meta['train_seconds']:.0f} s")
    return classifier


# --- measures from its outputs ----------------------------------------------------------------

def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def class_fractions(logits: np.ndarray) -> np.ndarray:
    """Share of the samples the classifier puts in each class (argmax), [NUM_CLASSES]."""
    predicted = np.asarray(logits).argmax(axis=1)
    return np.bincount(predicted, minlength=NUM_CLASSES)[:NUM_CLASSES] / max(len(predicted), 1)


def confidence(logits: np.ndarray) -> float:
    """Mean max-probability: near 1 when the samples look like some class, 1/10 for noise."""
    return float(softmax(logits).max(axis=1).mean())


def coverage(logits: np.ndarray, fraction: float = COVERAGE_FRACTION) -> int:
    """How many classes hold at least `fraction` of the samples."""
    return int(np.sum(class_fractions(logits) >= fraction))


def measures(logits: np.ndarray, features: np.ndarray, real_features: np.ndarray, seed: int = 0) -> Dict:
    """Everything benchmarks.quality reports from the classifier for one sample set against the
    real reference set's features: cls_fd, cls_kid, cls_kid_std, confidence, coverage, classes."""
    kid = frechet.kid(real_features, features, seed=seed)
    return {"cls_fd": frechet.frechet_distance(real_features, features),
            "cls_kid": kid["kid"], "cls_kid_std": kid["kid_std"],
            "confidence": confidence(logits), "coverage": coverage(logits),
            "classes": {name: round(float(f), 4) for name, f in zip(CLASSES, class_fractions(logits))}}
