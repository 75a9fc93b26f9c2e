"""The TFRecord schema and the dataset manifest, shared by the converter and the input pipeline.

Records use the TF-Slim / ImageNet feature keys, so records written by other standard tools load
too. Images are stored encoded (PNG from our converter; JPEG or PNG from other tools), always
HWC with 3 channels; the decoder re-checks that on read.

  images mode    image/encoded, image/format, image/height, image/width, image/channels,
                 image/class/label, image/filename
  paired mode    the same keys for the A image, plus image_b/encoded and image_b/filename
                 (a paired record therefore also reads as an images-mode record of A)
  unpaired mode  two sets of images-mode shards, one per domain, listed in the manifest

The manifest `dataset.json` sits beside the shards; `shards` are names relative to it. For
records written by other tools, `convert_to_tfrecords.py --index DIR` checks them and writes it
(index_records.py).
"""
import enum
import json
import os
from typing import Any, Dict, List, Optional

import tensorflow as tf

from trainer.data import example_wire

SCHEMA_VERSION = 1
MANIFEST_NAME = "dataset.json"
REJECTS_NAME = "rejects.csv"


class DataMode(str, enum.Enum):
    """What a record set holds (the manifest's `mode`), and so what a model reads. A str enum:
    it compares equal to the manifest's string."""
    IMAGES = "images"        # single images
    PAIRED = "paired"        # aligned A/B pairs
    UNPAIRED = "unpaired"    # two domains of single images

    def __str__(self):
        return self.value


MODES = tuple(mode.value for mode in DataMode)
CHANNELS = 3

ENCODED = "image/encoded"
FORMAT = "image/format"
HEIGHT = "image/height"
WIDTH = "image/width"
NUM_CHANNELS = "image/channels"
LABEL = "image/class/label"
FILENAME = "image/filename"
LABEL_TEXT = "image/class/text"  # TF-Slim's class name; read by --index only (manifest labels)
ENCODED_B = "image_b/encoded"
FILENAME_B = "image_b/filename"


class DataError(ValueError):
    """A dataset problem; str(error) is one line naming the file and what was expected."""


class BadRecord(DataError):
    """A record that fails its check while training or evaluating (raised inside the graph with
    a message starting with BAD_RECORD_MARKER; trainer/graph_errors.py makes it this type)."""


BAD_RECORD_MARKER = "BadRecord:"


def serialize_example(encoded: bytes, height: int, width: int, filename: str, label: int = -1,
                      image_format: str = "png", encoded_b: Optional[bytes] = None,
                      filename_b: str = "") -> bytes:
    """One serialised record; pass encoded_b for a paired record (both images share height
    and width)."""
    feature = {
        ENCODED: encoded,
        FORMAT: image_format.encode(),
        HEIGHT: int(height),
        WIDTH: int(width),
        NUM_CHANNELS: CHANNELS,
        LABEL: int(label),
        FILENAME: filename.encode("utf-8"),
    }
    if encoded_b is not None:
        feature[ENCODED_B] = encoded_b
        feature[FILENAME_B] = filename_b.encode("utf-8")
    return example_wire.serialize(feature)


def make_example(*args, **kwargs) -> tf.train.Example:
    """`serialize_example`'s record as a tf.train.Example (same arguments)."""
    return tf.train.Example.FromString(serialize_example(*args, **kwargs))


def feature_spec(paired: bool) -> Dict[str, Any]:
    """Parsing spec. The encoded image(s) are required; the rest have defaults so that
    records from other tools (which may omit label or filename) still parse."""
    spec = {
        ENCODED: tf.io.FixedLenFeature([], tf.string),
        FORMAT: tf.io.FixedLenFeature([], tf.string, default_value="png"),
        HEIGHT: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        WIDTH: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        NUM_CHANNELS: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        LABEL: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        FILENAME: tf.io.FixedLenFeature([], tf.string, default_value=""),
    }
    if paired:
        spec[ENCODED_B] = tf.io.FixedLenFeature([], tf.string)
        spec[FILENAME_B] = tf.io.FixedLenFeature([], tf.string, default_value="")
    return spec


def describe_example(serialized: bytes) -> Dict[str, Any]:
    """Python view of one serialized record (for checks and error messages)."""
    example = tf.train.Example.FromString(serialized)
    out = {}
    for key, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value) if kind else []
        out[key] = values[0] if len(values) == 1 else values
    return out


# ----------------------------------------------------------------------------------------
# Manifest


def manifest_path(data_dir: str) -> str:
    return os.path.join(data_dir, MANIFEST_NAME)


def write_manifest(data_dir: str, manifest: Dict[str, Any]) -> str:
    manifest = {"schema_version": SCHEMA_VERSION, **manifest}
    path = manifest_path(data_dir)
    write_json_atomically(path, manifest, indent=2)
    return path


def write_json_atomically(path: str, value, indent: int = 1) -> None:
    """A reader sees the whole file or none of it. Locally: written under a temporary name and
    renamed. On gs:// an object appears only once its upload is complete, and a rename there is
    a copy plus a delete (more round trips for nothing), so the object is written directly."""
    target = path if path.startswith("gs://") else path + ".tmp"
    with tf.io.gfile.GFile(target, "w") as f:
        json.dump(value, f, indent=indent, sort_keys=True)
    if target != path:
        tf.io.gfile.rename(target, path, overwrite=True)


REQUIRED_MANIFEST_KEYS = ("schema_version", "mode", "num_examples", "height", "width", "channels", "shards")


def read_manifest(data_dir: str) -> Dict[str, Any]:
    """Reads and checks `dataset.json`; DataError names the file and what is wrong."""
    path = manifest_path(data_dir)
    if not tf.io.gfile.exists(path):
        raise DataError(f"{path}: no manifest found; for TFRecords already in {data_dir} run "
                        f"convert_to_tfrecords.py --index {data_dir}, for a folder of images "
                        f"convert_to_tfrecords.py --input_dir IMAGES --output_dir {data_dir} --size N "
                        "(or point train_data at the folder that holds dataset.json)")
    try:
        with tf.io.gfile.GFile(path, "r") as f:
            manifest = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    missing = [k for k in REQUIRED_MANIFEST_KEYS if k not in manifest]
    if missing:
        raise DataError(f"{path}: missing key(s) {', '.join(missing)}")
    if manifest["schema_version"] > SCHEMA_VERSION:
        raise DataError(f"{path}: schema_version {manifest['schema_version']} is newer than this "
                        f"trainer's {SCHEMA_VERSION}; upgrade the package")
    if manifest["mode"] not in MODES:
        raise DataError(f"{path}: mode {manifest['mode']!r}; expected one of {', '.join(MODES)}")
    if manifest["channels"] != CHANNELS:
        raise DataError(f"{path}: channels {manifest['channels']}; expected {CHANNELS} (RGB)")
    return manifest


def shard_paths(data_dir: str, manifest: Dict[str, Any], domain: Optional[str] = None) -> List[str]:
    """Absolute shard paths, all of them or one unpaired domain's ('a' or 'b')."""
    if domain is None:
        names = manifest["shards"]
    else:
        domains = manifest.get("domains") or {}
        if domain not in domains:
            raise DataError(f"{manifest_path(data_dir)}: no domain {domain!r}; this is a "
                            f"{manifest['mode']} dataset (domains: {', '.join(domains) or 'none'})")
        names = domains[domain]["shards"]
    return [os.path.join(data_dir, name) for name in names]
