"""`convert_to_tfrecords.py --inspect DATA_DIR`: read a converted folder back through the
trainer's own input pipeline (input_pipeline.load_examples, the same decode and checks training
uses), print what came out and write a contact sheet PNG to look at.

Printed: example count (and the manifest's), each tensor's shape and dtype, the value range,
and the label histogram. Contact sheet: the first MAX_SHEET examples in a grid; paired
examples as A|B side by side; unpaired datasets as a grid of domain a above one of domain b.
"""
import io
import math
import sys
from typing import Dict, List, Optional, TextIO

import numpy as np
import tensorflow as tf
from PIL import Image

from trainer.data import convert_output, schema

MAX_SHEET = 64
MIN_CELL = 64  # small images are enlarged (nearest neighbour) to at least this many pixels
GAP = 2  # pixels between cells
GAP_VALUE = 128


def inspect(data_dir: str, sheet_path: Optional[str] = None, stream: TextIO = None) -> Dict:
    """Prints the summary; returns {'stats': {set name: {'count', 'shapes', 'dtypes', 'min',
    'max', 'labels'}}, 'sheet': contact sheet path}. Set names: the mode, or 'a' and 'b'."""
    from trainer.data import input_pipeline  # the trainer's pipeline, imported only when used

    stream = stream or sys.stdout
    manifest = schema.read_manifest(data_dir)
    domains = sorted(manifest["domains"]) if manifest["mode"] == "unpaired" else [None]
    stats, grids = {}, []
    for domain in domains:
        domain_stats, cells = _scan(input_pipeline.load_examples(data_dir, domain=domain))
        stats[domain or manifest["mode"]] = domain_stats
        grids.append(_grid(cells))
    sheet_path = sheet_path or convert_output.join(data_dir, convert_output.CONTACT_SHEET_NAME)
    _write_png(sheet_path, _stack(grids))
    _print(stats, manifest, sheet_path, stream)
    return {"stats": stats, "sheet": sheet_path}


def _scan(dataset: tf.data.Dataset):
    """One pass over every example: counts, shapes, dtypes, value range, labels, sheet cells."""
    stats = {"count": 0, "shapes": {}, "dtypes": {}, "min": math.inf, "max": -math.inf,
             "labels": {}}
    cells = []
    stats["dtypes"] = {key: spec.dtype.name for key, spec in dataset.element_spec.items()}
    for example in dataset.as_numpy_iterator():
        stats["count"] += 1
        images = [example[k] for k in ("image", "a", "b") if k in example]
        for key, value in example.items():
            stats["shapes"].setdefault(key, list(np.shape(value)))
        for image in images:
            stats["min"] = min(stats["min"], float(image.min()))
            stats["max"] = max(stats["max"], float(image.max()))
        if "label" in example:
            label = int(example["label"])
            stats["labels"][label] = stats["labels"].get(label, 0) + 1
        if len(cells) < MAX_SHEET:
            cells.append(np.concatenate([_to_uint8(i) for i in images], axis=1))
    return stats, cells


def cell_scale(height: int) -> int:
    return max(1, MIN_CELL // height)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """float [H, W, 3] in [-1, 1] -> uint8 [H * s, W * s, 3], s = cell_scale(H)."""
    scale = cell_scale(image.shape[0])
    pixels = np.clip(np.rint((image + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return pixels.repeat(scale, axis=0).repeat(scale, axis=1)


def _grid(cells: List[np.ndarray]) -> np.ndarray:
    if not cells:
        return np.full((8, 8, 3), GAP_VALUE, np.uint8)
    height, width = cells[0].shape[:2]
    columns = math.ceil(math.sqrt(len(cells) * height / width))
    rows = math.ceil(len(cells) / columns)
    grid = np.full((rows * (height + GAP) + GAP, columns * (width + GAP) + GAP, 3),
                   GAP_VALUE, np.uint8)
    for index, cell in enumerate(cells):
        top = GAP + (index // columns) * (height + GAP)
        left = GAP + (index % columns) * (width + GAP)
        grid[top:top + height, left:left + width] = cell
    return grid


def _stack(grids: List[np.ndarray]) -> np.ndarray:
    width = max(g.shape[1] for g in grids)
    padded = [np.pad(g, ((0, 4 * GAP), (0, width - g.shape[1]), (0, 0)),
                     constant_values=GAP_VALUE) for g in grids]
    return np.concatenate(padded, axis=0)[:-4 * GAP]


def _write_png(path: str, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    Image.fromarray(array, "RGB").save(buffer, format="PNG")
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buffer.getvalue())


def _print(stats: Dict, manifest: Dict, sheet_path: str, stream: TextIO) -> None:
    for name, s in stats.items():
        expected = (manifest["domains"][name]["num_examples"] if "domains" in manifest
                    else manifest["num_examples"])
        mismatch = "" if s["count"] == expected else "  WARNING: differs from the manifest"
        print(f"[{name}] count {s['count']} (manifest: {expected}){mismatch}", file=stream)
        for key, shape in s["shapes"].items():
            print(f"[{name}]   {key}: shape {shape} dtype {s['dtypes'][key]}", file=stream)
        print(f"[{name}]   image values in [{s['min']:.3f}, {s['max']:.3f}] (expected within "
              "[-1, 1])", file=stream)
        if s["labels"]:
            names = {v: k for k, v in manifest.get("labels", {}).items()}
            histogram = ", ".join(f"{k}{' ' + names[k] if k in names else ''}: {v}"
                                  for k, v in sorted(s["labels"].items()))
            print(f"[{name}]   labels {{{histogram}}}", file=stream)
    print(f"contact sheet: {sheet_path}", file=stream)
