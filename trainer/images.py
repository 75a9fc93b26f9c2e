"""Image files in and out of the package: image folders read as float images, model outputs
converted to uint8, and what a person looks at written as PNG grids, single PNGs and an
index.html (local or gs://)."""
import html
import io
import math
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf
from PIL import Image

from trainer.fields import ConfigError

# What a plain image folder (predict --input_dir, trainer.translate) may hold.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def folder_images(input_dir: str, flag: str = "--input_dir") -> List[str]:
    """The image files of a folder, sorted; ConfigError naming `flag` when there are none."""
    files = sorted(p for p in tf.io.gfile.glob(os.path.join(input_dir, "*"))
                   if p.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise ConfigError(f"{flag} {input_dir}: no images (.png/.jpg/...) found")
    return files


def images_from_files(files: List[str], resolution: int) -> tf.data.Dataset:
    """Image files -> float32 [res, res, 3] in [-1, 1] (any size or channel count in)."""
    def load(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), [resolution, resolution], antialias=True)
        return tf.ensure_shape(image / 127.5 - 1.0, [resolution, resolution, 3])
    return tf.data.Dataset.from_tensor_slices(files).map(load)


def to_uint8_tensor(images):
    """The TensorFlow op of to_uint8: [-1, 1] float tensor -> uint8 (rounded, clipped), for
    serving graphs and host-side summaries (never inside a TPU computation)."""
    return tf.cast(tf.clip_by_value(tf.round((tf.cast(images, tf.float32) + 1.0) * 127.5), 0, 255), tf.uint8)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [-1, 1] -> uint8 in [0, 255] (rounded, clipped); uint8 passes through.
    Models predict float images (a TPU computation holds no uint8); this runs on the host."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return np.round((np.clip(images, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def prediction_images(prediction: Dict[str, np.ndarray], columns: Sequence[str]) -> Dict[str, np.ndarray]:
    """A model's prediction with its image columns (e.g. 'input', 'output') as uint8."""
    return {k: to_uint8(v) if k in columns else v for k, v in prediction.items()}


def encode_png(image: np.ndarray) -> bytes:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected a uint8 HWC RGB image, got {image.dtype} {image.shape}")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: str, image: np.ndarray) -> str:
    tf.io.gfile.makedirs(os.path.dirname(path) or ".")
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(encode_png(image))
    return path


def tile(images: Sequence[np.ndarray], columns: Optional[int] = None, pad: int = 2) -> np.ndarray:
    """Equal-sized HWC uint8 images -> one grid image, row-major, white padding."""
    if not images:
        raise ValueError("no images to tile")
    h, w, c = images[0].shape
    cols = columns or int(math.ceil(math.sqrt(len(images))))
    rows = int(math.ceil(len(images) / cols))
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for i, image in enumerate(images):
        r, k = divmod(i, cols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = image
    return grid


def grid_of_predictions(predictions: List[Dict[str, np.ndarray]], columns: Sequence[str]) -> np.ndarray:
    """One column: an N x N grid of outputs. Several: one row per example (input | output | ...)."""
    present = [c for c in columns if c in predictions[0]]
    if len(present) == 1:
        return tile([p[present[0]] for p in predictions])
    return tile([p[c] for p in predictions for c in present], columns=len(present))


def write_predictions(predictions: List[Dict[str, np.ndarray]], out_dir: str, columns: Sequence[str],
                      title: str = "predictions") -> Dict[str, str]:
    """grid.png, one PNG per example and column, and an index.html showing them side by side."""
    present = [c for c in columns if c in predictions[0]]
    rows = []
    for i, p in enumerate(predictions):
        names = {c: f"images/{i:05d}-{c}.png" for c in present}
        for c, name in names.items():
            write_png(os.path.join(out_dir, name), p[c])
        rows.append(names)
    grid = write_png(os.path.join(out_dir, "grid.png"), grid_of_predictions(predictions, present))
    index = write_index_html(os.path.join(out_dir, "index.html"), rows, present, title)
    return {"grid": grid, "index": index, "count": str(len(predictions))}


def write_index_html(path: str, rows: List[Dict[str, str]], columns: Sequence[str], title: str) -> str:
    """A static table, one example per row (like pix2pix-tensorflow's index.html)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "\n".join(
        "<tr><td>%d</td>%s</tr>" % (i, "".join(
            f'<td><img src="{html.escape(row[c])}" alt="{html.escape(c)} {i}"></td>' for c in columns))
        for i, row in enumerate(rows))
    page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif}img{image-rendering:pixelated;width:128px}"
            "td,th{padding:4px;text-align:center}</style></head>\n"
            f"<body><h1>{html.escape(title)}</h1>\n<table>\n<tr><th>#</th>{head}</tr>\n{body}\n</table>\n"
            "</body></html>\n")
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(page)
    return path
