"""The measures, reference rows, table and plot of benchmarks.quality_translation (pix2pix and
DiscoGAN on Fashion-MNIST), kept apart from its data making and training so they can be tested
on tiny known images and crafted logits.

Images are float32 [n, H, W, 3] in [-1, 1] throughout (the models' convention). The Fashion-MNIST
classifier (benchmarks/fashion_classifier.py) takes 32 px: translations at the models' smallest
resolution (64) are made uint8 and resized to 32 with the converter's resize
(`for_classifier`), and the real reference images go through the same path.
"""
import os
from typing import Dict, List, Sequence

import numpy as np

from benchmarks import fashion_classifier as fc

BAG, BOOT = fc.CLASSES.index("bag"), fc.CLASSES.index("boot")
BASELINE, REAL = "copy input (baseline)", "real images"

# Per model: the table's (key, title, format) columns and the plotted (key, title) panels.
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

def table(rows: List[Dict], columns: Sequence) -> str:
    """A Markdown table: name, step, then each (key, title, format) column; '-' where a row
    has no value."""
    def cell(row, key, fmt):
        value = row.get(key)
        return "-" if value is None or value != value else fmt.format(value)
    body = [[r["name"], "" if r.get("step") is None else str(r["step"])]
            + [cell(r, key, fmt) for key, _, fmt in columns] for r in rows]
    header = ["images", "step"] + [title for _, title, _ in columns]
    widths = [max(len(x[i]) for x in [header] + body) for i in range(len(header))]
    fmt_line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([fmt_line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + [fmt_line(x) for x in body])


def strip(rows_of_images: Sequence[np.ndarray]):
    """A PIL image with one line per array ([n, H, W, 3] in [-1, 1], the same n), its images
    side by side: e.g. input / output / target."""
    from PIL import Image
    from trainer import images as image_utils
    lines = [np.concatenate(list(image_utils.to_uint8(images)), axis=1) for images in rows_of_images]
    return Image.fromarray(np.concatenate(lines, axis=0))


def plot(path: str, rows: List[Dict], columns: Sequence, strips: Dict[str, Sequence[np.ndarray]],
         title: Sequence[str]) -> str:
    """Each column over the training steps (red), the baseline dashed grey and the real
    images' value dashed green; below, a strip of held-out examples per checkpoint. `title`:
    its lines (PIL only: no matplotlib in the environment)."""
    from PIL import Image, ImageDraw
    steps = [r for r in rows if r.get("step") is not None]
    refs = {name: next((r for r in rows if r["name"] == name), {}) for name in (BASELINE, REAL)}
    colours = {BASELINE: (120, 120, 120), REAL: (0, 150, 0)}
    panel_w, panel_h, per_line = 300, 170, 3
    finite = lambda row, key: row.get(key) is not None and np.isfinite(row[key])  # noqa: E731
    panels = [c for c in columns if any(finite(r, c[0]) for r in steps)]
    images = [(name, strip(s)) for name, s in strips.items()]
    strip_h = max([im.height for _, im in images] or [0]) + 20
    title = list(title) + ["red: checkpoints; dashed grey: copy-input baseline; dashed green: real images"]
    head = 8 + 14 * len(title)
    top = head + ((len(panels) + per_line - 1) // per_line) * panel_h
    width = max([panel_w * per_line] + [im.width + 130 for _, im in images])
    canvas = Image.new("RGB", (width, top + len(images) * strip_h), "white")
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(title):
        draw.text((8, 6 + 14 * i), line, fill="black")
    for k, (key, name, _) in enumerate(panels):
        x0, y0 = (k % per_line) * panel_w, head + (k // per_line) * panel_h
        box = (x0 + 48, y0 + 20, x0 + panel_w - 12, y0 + panel_h - 28)
        draw.text((box[0], y0 + 4), name, fill="black")
        draw.rectangle(box, outline="grey")
        points = [(r["step"], r[key]) for r in steps if finite(r, key)]
        levels = {ref: refs[ref][key] for ref in refs if finite(refs[ref], key)}
        values = [v for _, v in points] + list(levels.values())
        lo, hi = min(values), max(values)
        lo, hi = (lo - 0.5, hi + 0.5) if hi - lo < 1e-9 else (lo, hi)
        first, last = points[0][0], max(points[-1][0], points[0][0] + 1)
        px = lambda s: box[0] + (box[2] - box[0]) * (s - first) / (last - first)  # noqa: E731
        py = lambda v: box[3] - (box[3] - box[1]) * (v - lo) / (hi - lo)  # noqa: E731
        for v in (lo, hi):
            draw.text((x0 + 2, py(v) - 6), f"{v:.3g}", fill="black")
        draw.text((box[0], box[3] + 4), f"step {first}", fill="black")
        draw.text((box[2] - 40, box[3] + 4), str(last), fill="black")
        for ref, level in levels.items():
            for x in range(box[0], box[2], 8):
                draw.line([x, py(level), min(x + 4, box[2]), py(level)], fill=colours[ref], width=1)
        xy = [(px(s), py(v)) for s, v in points]
        if len(xy) > 1:
            draw.line(xy, fill=(200, 30, 30), width=2)
        for x, y in xy:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(200, 30, 30))
    for i, (name, image) in enumerate(images):
        draw.text((8, top + i * strip_h + 8), name, fill="black")
        canvas.paste(image, (125, top + i * strip_h + 10))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    canvas.save(path)
    return path
