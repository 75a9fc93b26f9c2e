"""Helpers shared by the converter tests (no tests here): generated images, running the CLI
in-process, and reading a converted folder back as plain Python values."""
import io
import json
import os

import numpy as np
import tensorflow as tf
from PIL import Image

import convert_to_tfrecords
from trainer.data import schema

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def gradient(height: int, width: int, seed: int = 0) -> np.ndarray:
    """[height, width, 3] uint8: smooth, seed-dependent content (not noise), so that resized
    images are still recognisable and distinct."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = rng.uniform(0, 255, 3)
    slope = rng.uniform(-2, 2, (2, 3))
    image = base + yy[..., None] * slope[0] + xx[..., None] * slope[1]
    return np.clip(image, 0, 255).astype(np.uint8)


def save(path, array_or_image, **kwargs) -> str:
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    image = array_or_image if isinstance(array_or_image, Image.Image) \
        else Image.fromarray(array_or_image)
    image.save(str(path), **kwargs)
    return str(path)


def make_folder(root, count: int, size=(24, 20), start_seed: int = 0, ext: str = "png") -> str:
    for i in range(count):
        save(os.path.join(str(root), f"img{i:04d}.{ext}"), gradient(*size, seed=start_seed + i))
    return str(root)


def side_by_side(root, count: int, identical: bool = False) -> str:
    """A|B files: A solid red of level 10*(i+1), B solid blue of the same level (or A again)."""
    for i in range(count):
        level = 10 * (i + 1)
        image = np.zeros((20, 40, 3), np.uint8)
        image[:, :20] = (level, 0, 0)
        image[:, 20:] = (level, 0, 0) if identical else (0, 0, level)
        save(os.path.join(str(root), f"pair{i:03d}.png"), image)
    return str(root)


def run_cli(*args, capsys=None):
    """Runs convert_to_tfrecords.main in this process; returns (exit code, stdout, stderr)."""
    code = convert_to_tfrecords.main([str(a) for a in args])
    if capsys is None:
        return code, "", ""
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def manifest(out) -> dict:
    return schema.read_manifest(str(out))


def records(out, domain=None) -> list:
    """Every record of a converted folder, in shard order, as describe_example dicts."""
    m = manifest(out)
    rows = []
    for path in schema.shard_paths(str(out), m, domain):
        for raw in tf.compat.v1.io.tf_record_iterator(path):  # far faster than tf.data per shard
            rows.append(schema.describe_example(raw))
    return rows


def record_set(out, domain=None) -> set:
    """{(filename, encoded bytes, encoded_b bytes)}: what a dataset holds, order aside."""
    return {(r[schema.FILENAME], r[schema.ENCODED], r.get(schema.ENCODED_B, b""))
            for r in records(out, domain)}


def decode(encoded: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(encoded)))


def rejects(out) -> dict:
    """{path: reason} from rejects.csv ({} when there is none)."""
    from trainer.data import convert_output
    return dict(convert_output.read_rejects(str(out)))


def shard_bytes(out) -> dict:
    return {name: open(os.path.join(str(out), name), "rb").read()
            for name in sorted(os.listdir(str(out))) if name.endswith(".tfrecord")}


def listing(root) -> list:
    """All entries below root (hidden ones too), relative, sorted."""
    found = []
    for folder, dirs, files in os.walk(str(root)):
        for name in dirs + files:
            found.append(os.path.relpath(os.path.join(folder, name), str(root)))
    return sorted(found)


def json_file(path) -> dict:
    with open(str(path)) as f:
        return json.load(f)
