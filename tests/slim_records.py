"""Writes TFRecords the way TF-Slim's build_imagenet_data.py / build_image_data.py do, with plain
tf.train.Example code and nothing from this package: keys image/encoded (JPEG), image/format
b'JPEG', image/height, image/width, image/colorspace, image/channels, image/class/label
(starting at 1), image/class/synset, image/class/text, image/object/bbox/*, image/filename;
shard files named train-00000-of-00002 (no extension)."""
import io
import posixpath

import numpy as np
import tensorflow as tf
from PIL import Image

CLASSES = ("daisy", "roses")  # labels 1 and 2, as TF-Slim's (0 is its background class)


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def encoded(image: np.ndarray, image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=image_format)
    return buffer.getvalue()


def picture(seed: int, height: int, width: int) -> np.ndarray:
    """[height, width, 3] uint8: a smooth gradient (JPEG-friendly)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = rng.uniform(0, 255, 3) + yy[..., None] * rng.uniform(-3, 3, 3) + xx[..., None] * rng.uniform(-3, 3, 3)
    return np.clip(image, 0, 255).astype(np.uint8)


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int64(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def _floats(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def slim_example(image_buffer: bytes, label: int, height: int, width: int, filename: str,
                 image_format: bytes = b"JPEG") -> tf.train.Example:
    """build_imagenet_data.py's _convert_to_example."""
    text = CLASSES[(label - 1) % len(CLASSES)]
    return tf.train.Example(features=tf.train.Features(feature={
        "image/height": _int64(height),
        "image/width": _int64(width),
        "image/colorspace": _bytes(b"RGB"),
        "image/channels": _int64(3),
        "image/class/label": _int64(label),
        "image/class/synset": _bytes(f"n0000000{label}".encode()),
        "image/class/text": _bytes(text.encode()),
        "image/object/bbox/xmin": _floats([0.1]),
        "image/object/bbox/xmax": _floats([0.9]),
        "image/object/bbox/ymin": _floats([0.2]),
        "image/object/bbox/ymax": _floats([0.8]),
        "image/object/bbox/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        "image/format": _bytes(image_format),
        "image/filename": _bytes(filename.encode()),
        "image/encoded": _bytes(image_buffer),
    }))


def write_slim_split(out_dir: str, split: str, per_shard, size=(32, 32), seed: int = 0,
                     replace=None):
    """Shards <split>-0000i-of-0000n with per_shard[i] JPEG records each; returns the shard
    names. replace(shard, record, example) may return another Example (bad records)."""
    tf.io.gfile.makedirs(out_dir)
    names, count = [], 0
    for shard, n in enumerate(per_shard):
        name = f"{split}-{shard:05d}-of-{len(per_shard):05d}"
        with tf.io.TFRecordWriter(posixpath.join(out_dir, name)) as writer:
            for record in range(n):
                label = 1 + count % len(CLASSES)
                image = picture(seed + count, *size)
                example = slim_example(jpeg(image), label, size[0], size[1], f"{split}_{count}.JPEG")
                if replace is not None:
                    example = replace(shard, record, example) or example
                writer.write(example.SerializeToString())
                count += 1
        names.append(name)
    return names
