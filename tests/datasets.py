"""Makes small TFRecord datasets for tests directly through the schema (no converter), so model
and pipeline tests do not depend on the converter. Images are smooth random blobs, not noise,
so that resizing and augmentation are visible."""
import io
import os
from typing import Optional

import numpy as np
import tensorflow as tf
from PIL import Image

from trainer.data import schema


def blob_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """A uint8 [size, size, 3] image: a coloured ellipse on a coloured background."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.35)
    inside = ((yy - cy) ** 2 + (xx - cx) ** 2) < r ** 2
    image = np.empty((size, size, 3), np.uint8)
    image[:] = rng.integers(0, 256, 3)
    image[inside] = rng.integers(0, 256, 3)
    return image


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _write(out_dir, shard_name, examples):
    with tf.io.TFRecordWriter(os.path.join(out_dir, shard_name)) as writer:
        for example in examples:
            writer.write(example.SerializeToString())


def make_dataset(out_dir: str, size: int, count: int = 16, mode: str = "images", seed: int = 0,
                 transform_b=None, shards: int = 2, image_fn=blob_image) -> str:
    """Writes a dataset folder (shards + dataset.json) in the converter's layout.

    images: `image_fn(rng, size)` images (default: blobs) with labels 0/1; paired: B =
    transform_b(A) (default: colour-inverted A); unpaired: domain a = images, domain b =
    inverted images (separate shards)."""
    tf.io.gfile.makedirs(out_dir)
    rng = np.random.default_rng(seed)
    transform_b = transform_b or (lambda a: 255 - a)
    names, sizes, domains = [], [], {}

    def split(items, prefix):
        per = -(-len(items) // shards)
        out = []
        for i in range(shards):
            name = f"{prefix}-{i:05d}-of-{shards:05d}.tfrecord"
            part = items[i * per:(i + 1) * per]
            _write(out_dir, name, part)
            out.append((name, len(part)))
        return out

    if mode in ("images", "paired"):
        examples = []
        for i in range(count):
            a = image_fn(rng, size)
            kwargs = {"encoded_b": png(transform_b(a)), "filename_b": f"b/{i}.png"} if mode == "paired" else {}
            examples.append(schema.make_example(png(a), size, size, f"img/{i}.png", label=i % 2, **kwargs))
        for name, n in split(examples, "train"):
            names.append(name)
            sizes.append(n)
    else:
        for domain, fn in (("a", lambda x: x), ("b", lambda x: 255 - x)):
            examples = [schema.make_example(png(fn(image_fn(rng, size))), size, size, f"{domain}/{i}.png")
                        for i in range(count)]
            parts = split(examples, domain)
            domains[domain] = {"shards": [n for n, _ in parts], "num_examples": count}
            names += [n for n, _ in parts]
            sizes += [k for _, k in parts]
    manifest = {"mode": mode, "num_examples": sum(sizes), "num_rejected": 0, "num_found": sum(sizes),
                "height": size, "width": size, "channels": 3, "labels": {"0": 0, "1": 1},
                "shards": names, "shard_sizes": sizes}
    if domains:
        manifest["domains"] = domains
    schema.write_manifest(out_dir, manifest)
    return out_dir


def write_raw_records(out_dir: str, encoded_images, size: int, manifest_size: Optional[int] = None,
                      drop_feature: Optional[str] = None, image_format: str = "png") -> str:
    """A one-shard images dataset from given encoded (or raw, image_format='raw') bytes."""
    tf.io.gfile.makedirs(out_dir)
    examples = []
    for i, encoded in enumerate(encoded_images):
        example = schema.make_example(encoded, size, size, f"bad/{i}.png", image_format=image_format)
        if drop_feature:
            del example.features.feature[drop_feature]
        examples.append(example)
    _write(out_dir, "train-00000-of-00001.tfrecord", examples)
    n = manifest_size or size
    schema.write_manifest(out_dir, {"mode": "images", "num_examples": len(examples), "num_rejected": 0,
                                    "height": n, "width": n, "channels": 3, "labels": {},
                                    "shards": ["train-00000-of-00001.tfrecord"], "image_format": image_format})
    return out_dir
