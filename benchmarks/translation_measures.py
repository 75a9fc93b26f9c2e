"""The measures, reference rows, table columns and plot of benchmarks.quality_translation
(pix2pix and DiscoGAN on Fashion-MNIST; benchmarks/charts.py draws the table and the plot), kept
apart from its data making and training so they can be tested on tiny known images and crafted
logits.

Images are float32 [n, H, W, 3] in [-1, 1] throughout (the models' convention). The Fashion-MNIST
classifier (benchmarks/fashion_classifier.py) takes 32 px: translations at the models' smallest
resolution (64) are made uint8 and resized to 32 with the converter's resize
(`for_classifier`), and the real reference images go through the same path.
"""
from typing import Dict, List, Sequence

import numpy as np

from benchmarks import charts
from benchmarks import fashion_classifier as fc

BAG, BOOT = fc.CLASSES.index("bag"), fc.CLASSES.index("boot")
BASELINE, REAL = "copy input (baseline)", "real images"

# Per model: the table's (key, title, format) columns, each also a plotted panel.
COLUMNS = {
    "pix2pix": (("l1", "L1", "{:.3f}"), ("psnr", "PSNR dB", "{:.2f}"), ("ssim", "SSIM", "{:.3f}"),
                ("accuracy", "cls acc", "{:.1%}")),
    "discogan": (("cycle_l1_a", "cycle L1 a", "{:.3f}"), ("cycle_l1_b", "cycle L1 b", "{:.3f}"),
                 ("acc_a2b", "a2b as boot", "{:.1%}"), ("acc_b2a", "b2a as bag", "{:.1%}"),
                 ("fd_a2b", "cls FD a2b", "{:.1f}"), ("fd_b2a", "cls FD b2a", "{:.1f}")),
}


# --- measures -------------------------------------------------------------------------------------

def for_classifier(images: np.ndarray) -> np.ndarray:
    """[n, H, W, 3] in [-1, 1] -> [n, 32, 32, 3] in [-1, 1]: uint8, then the converter's
    resize (trainer.data.image_io.square_resize: LANCZOS), as a 32-px conversion would write it."""
    from trainer import images as image_utils
    from trainer.data import image_io
    pixels = image_utils.to_uint8(images)
    if pixels.shape[1] != fc.SIZE:
        pixels = np.stack([image_io.square_resize(p, fc.SIZE) for p in pixels])
    return pixels.astype(np.float32) / 127.5 - 1.0


def accuracy(logits: np.ndarray, labels) -> float:
    """Share of the rows whose argmax is the label; `labels` is [n] or one class for all (a
    target-domain accuracy: is every a2b classified as a boot?)."""
    predicted = np.asarray(logits).argmax(axis=1)
    return float(np.mean(predicted == np.broadcast_to(np.asarray(labels), predicted.shape)))


def image_scores(outputs: np.ndarray, targets: np.ndarray, batch_size: int = 250) -> Dict[str, float]:
    """Means over the pairs of pix2pix's own eval measures (trainer.models.pix2pix.image_metrics):
    l1 (mean |difference| in [-1, 1] units), psnr (dB, peak-to-peak 2) and ssim."""
    import tensorflow as tf
    from trainer.models import pix2pix
    parts = [pix2pix.image_metrics(tf.constant(outputs[s:s + batch_size]), tf.constant(targets[s:s + batch_size]))
             for s in range(0, len(outputs), batch_size)]
    return {key: float(np.mean(np.concatenate([p[key].numpy() for p in parts]))) for key in ("l1", "psnr", "ssim")}


def mean_l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |a - b| in [-1, 1] units (the models' cycle_l1)."""
    return float(np.mean(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def pix2pix_row(name: str, step, outputs, targets, labels, classifier) -> Dict:
    """outputs and targets [n, R, R, 3]; labels [n] the garment each pair came from."""
    logits, _ = classifier(for_classifier(outputs))
    return {"name": name, "step": step, **image_scores(outputs, targets), "accuracy": accuracy(logits, labels)}


def pix2pix_references(edges, targets, labels, classifier) -> List[Dict]:
    """The copy-input baseline (output = the edge map itself) and the real targets (only their
    accuracy: the classifier's on real garments made the same way, the best a translation can get)."""
    real_logits, _ = classifier(for_classifier(targets))
    return [{"name": REAL, "step": None, "accuracy": accuracy(real_logits, labels)},
            pix2pix_row(BASELINE, None, edges, targets, labels, classifier)]


class DomainReference:
    """The real held-out images of each domain in the classifier's features: what a2b (meant to
    be a boot) and b2a (a bag) are compared with."""

    def __init__(self, real_a: np.ndarray, real_b: np.ndarray, classifier):
        self.classifier = classifier
        self.features_a = classifier(for_classifier(real_a))[1]
        self.features_b = classifier(for_classifier(real_b))[1]

    def side(self, images: np.ndarray, target: int, real_features: np.ndarray) -> Dict[str, float]:
        from trainer.quality import frechet
        logits, features = self.classifier(for_classifier(images))
        return {"acc": accuracy(logits, target), "fd": frechet.frechet_distance(real_features, features)}


def discogan_row(name: str, step, t: Dict[str, np.ndarray], reference: DomainReference) -> Dict:
    """t: the held-out translations a, a2b, a2b2a, b, b2a, b2a2b (as cyclegan's predict); a2b
    is scored against the real B images (boots), b2a against the real A images (bags)."""
    a2b = reference.side(t["a2b"], BOOT, reference.features_b)
    b2a = reference.side(t["b2a"], BAG, reference.features_a)
    row = {"name": name, "step": step, "acc_a2b": a2b["acc"], "acc_b2a": b2a["acc"],
           "fd_a2b": a2b["fd"], "fd_b2a": b2a["fd"]}
    if "a2b2a" in t:
        row.update(cycle_l1_a=mean_l1(t["a2b2a"], t["a"]), cycle_l1_b=mean_l1(t["b2a2b"], t["b"]))
    return row


def discogan_references(a, b, train_a, train_b, reference: DomainReference) -> List[Dict]:
    """Real training images of the target domain in place of the translations (the floor: what
    a perfect translation scores at this sample count), and the copy-input baseline (a2b = a,
    b2a = b: cycle L1 0, target-domain accuracy the classifier's confusion of bags and boots)."""
    real = discogan_row(REAL, None, {"a2b": train_b, "b2a": train_a}, reference)
    copy = discogan_row(BASELINE, None, {"a": a, "a2b": a, "a2b2a": a, "b": b, "b2a": b, "b2a2b": b}, reference)
    return [real, copy]


# --- output ---------------------------------------------------------------------------------------

def strip(rows_of_images: Sequence[np.ndarray]):
    """A PIL image with one line per array ([n, H, W, 3] in [-1, 1], the same n), its images
    side by side: e.g. input / output / target."""
    from PIL import Image
    from trainer import images as image_utils
    lines = [np.concatenate(list(image_utils.to_uint8(images)), axis=1) for images in rows_of_images]
    return Image.fromarray(np.concatenate(lines, axis=0))


def plot(path: str, rows: List[Dict], columns: Sequence, strips: Dict[str, Sequence[np.ndarray]],
         title: Sequence[str]) -> str:
    """Each column over the training steps, the baseline dashed grey and the real images' value
    dashed green (benchmarks/charts.py); below, a strip of held-out examples per checkpoint.
    `title`: its lines."""
    panels = [(key, name, False) for key, name, _ in columns]
    images = {name: strip(arrays) for name, arrays in strips.items()}
    return charts.plot(path, rows, panels, {BASELINE: charts.GREY, REAL: charts.GREEN}, images, title)
