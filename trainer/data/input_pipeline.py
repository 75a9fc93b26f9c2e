"""tf.data input pipeline: shards -> checked, decoded images -> a model's (features, labels).

TPU conventions: `params['batch_size']` is the per-shard batch, batches drop their remainder so
shapes are static, and on multi-host slices each host reads its own disjoint subset of the
records (`params['context']`; see `_records`). Every decoded image is checked against the
manifest (3 channels, HWC, expected height and width); a mismatch fails with a message naming
the shard and record instead of training on noise (a seed trained on CHW bytes read as HWC for 30 runs).
"""
import io
import os
import sys
from typing import Any, Callable, Dict, Mapping, Optional

import numpy as np
import tensorflow as tf
from PIL import Image

from trainer.data import schema
from trainer.data.schema import DataError, DataMode

AUTOTUNE = tf.data.AUTOTUNE


def _layout_hint(shape):
    """A string tensor explaining a bad decoded shape (e.g. channels-first data)."""
    return tf.case([
        (tf.equal(tf.size(shape), 3) & tf.reduce_any(tf.equal(shape[0], [1, 3, 4])) & (shape[2] > 4),
         lambda: tf.constant("looks like CHW (channels first); expected HWC")),
        (tf.equal(tf.size(shape), 3) & tf.not_equal(shape[-1], schema.CHANNELS),
         lambda: tf.constant("wrong number of channels; expected 3 (RGB)")),
    ], default=lambda: tf.constant("wrong height/width for this dataset"))


def decode_checked(encoded, height: int, width: int, shard, record_name, raw: bool = False):
    """Encoded PNG/JPEG (or raw uint8 HWC bytes) -> float32 [height, width, 3] in [-1, 1], or an
    InvalidArgumentError 'BadRecord: ...' naming the shard and the record."""
    expected = tf.constant([height, width, schema.CHANNELS], tf.int32)
    if raw:
        flat = tf.io.decode_raw(encoded, tf.uint8)
        size_ok = tf.equal(tf.size(flat), height * width * schema.CHANNELS)
        check = tf.debugging.Assert(size_ok, [
            schema.BAD_RECORD_MARKER + " shard", shard, "record", record_name, "raw bytes", tf.size(flat),
            "expected", height * width * schema.CHANNELS, "(height x width x 3)"])
        with tf.control_dependencies([check]):
            image = tf.reshape(flat, [height, width, schema.CHANNELS])
    else:
        image = tf.io.decode_image(encoded, channels=0, expand_animations=False)
        shape = tf.shape(image)
        ok = tf.reduce_all(tf.equal(shape, expected))
        check = tf.debugging.Assert(ok, [
            schema.BAD_RECORD_MARKER + " shard", shard, "record", record_name, "decoded shape", shape,
            "expected", expected, _layout_hint(shape)], summarize=4)
        with tf.control_dependencies([check]):
            image = tf.ensure_shape(image, [height, width, schema.CHANNELS])
    return tf.cast(image, tf.float32) / 127.5 - 1.0


def _records(paths, training: bool, seed: int, context=None, num_records: Optional[int] = None):
    """(shard path, serialized record) pairs from a list of shard files.

    Multi-host (`context.num_hosts` > 1): with at least as many shard files as hosts, each host
    reads only its files (`files.shard`, cheap). With fewer files than hosts, every host reads all
    files in manifest order and keeps every num_hosts-th record (`records.shard`, before shuffling
    and repeating), so no host is left without data and the hosts' subsets stay disjoint and
    together cover every record. `num_records` (from the manifest) refuses fewer records than hosts.
    """
    files = tf.data.Dataset.from_tensor_slices(list(paths))
    hosts = context.num_hosts if context is not None else 1
    by_record = 1 < hosts and len(paths) < hosts
    if hosts > 1:
        host_id = context.current_input_fn_deployment()[1]  # as tensorflow/tpu's resnet input
        seed = seed + 1000 * host_id  # per-host seeds: hosts do not shuffle in lockstep
        if by_record and num_records is not None and num_records < hosts:
            raise DataError(f"{os.path.dirname(paths[0])}: {num_records} record(s) in {len(paths)} shard(s) "
                            f"for {hosts} hosts; some hosts would get no records (need at least {hosts})")
        if not by_record:
            files = files.shard(hosts, host_id)
    if training and not by_record:
        files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True).repeat()
    records = files.interleave(  # by record: the same order on every host, so the shards are disjoint
        lambda path: tf.data.TFRecordDataset(path, buffer_size=8 << 20).map(lambda r: (path, r)),
        cycle_length=min(8, len(paths)), num_parallel_calls=AUTOTUNE, deterministic=by_record or not training)
    if by_record:
        records = records.shard(hosts, host_id)
        if training:
            records = records.repeat()
    return records


def _parse(paired: bool, height: int, width: int, raw: bool):
    spec = schema.feature_spec(paired)

    def parse(shard, serialized):
        f = tf.io.parse_single_example(serialized, spec)
        name = f[schema.FILENAME]
        if paired:
            return {"a": decode_checked(f[schema.ENCODED], height, width, shard, name, raw),
                    "b": decode_checked(f[schema.ENCODED_B], height, width, shard, f[schema.FILENAME_B], raw),
                    "filename": name, "filename_b": f[schema.FILENAME_B]}
        return {"image": decode_checked(f[schema.ENCODED], height, width, shard, name, raw),
                "label": f[schema.LABEL], "filename": name}
    return parse


def load_examples(data_dir: str, domain: Optional[str] = None, training: bool = False,
                  seed: int = 0, context=None, paired: Optional[bool] = None,
                  check: bool = True, manifest: Optional[Mapping] = None) -> tf.data.Dataset:
    """Unbatched, checked examples of one dataset folder (local or gs://).

    images mode -> {'image': [H, W, 3], 'label': int64, 'filename': string}
    paired mode -> {'a': [H, W, 3], 'b': [H, W, 3], 'filename', 'filename_b'}
    unpaired    -> pass domain 'a' or 'b'; images-mode examples of that domain
    `paired=False` reads a paired dataset's A images as images-mode examples.
    Raises DataError (one line) when the folder, manifest or shards are missing or unreadable
    (`check=False` skips the per-shard preflight when the caller already ran it). `manifest`:
    the folder's manifest when the caller has already read it.
    """
    manifest = manifest if manifest is not None else schema.read_manifest(data_dir)
    if manifest["mode"] == "unpaired" and domain is None:
        raise DataError(f"{schema.manifest_path(data_dir)}: unpaired dataset; pick domain 'a' or 'b'")
    paths = schema.shard_paths(data_dir, manifest, domain)
    if check:
        preflight(paths, manifest, data_dir)
    raw = manifest.get("image_format") == "raw"
    if paired is None:
        paired = manifest["mode"] == "paired"
    num_records = (manifest["domains"][domain] if domain else manifest).get("num_examples")
    ds = _records(paths, training, seed, context, num_records)
    if training:
        ds = ds.shuffle(2048, seed=seed)
    return ds.map(_parse(paired, manifest["height"], manifest["width"], raw), num_parallel_calls=AUTOTUNE,
                  deterministic=not training)


def preflight(paths, manifest: Mapping, data_dir: str) -> None:
    """Checks before the first step: every shard exists and is non-truncated (local files),
    and the first record of each shard parses and decodes to the manifest's HWC shape."""
    if not paths:
        raise DataError(f"{schema.manifest_path(data_dir)}: the manifest lists no shards")
    paired = manifest["mode"] == "paired"
    for path in paths:
        if not tf.io.gfile.exists(path):
            raise DataError(f"{path}: shard listed in the manifest is missing")
        if not path.startswith("gs://"):
            check_framing(path)
        first = next(tf.compat.v1.io.tf_record_iterator(path), None)
        if first is None:
            continue
        check_record(first, path, manifest, paired)


def check_framing(path: str) -> int:
    """Walks the TFRecord length headers of a local shard; DataError if it ends mid-record."""
    size = os.path.getsize(path)
    count, offset = 0, 0
    with open(path, "rb") as f:
        while offset < size:
            header = f.read(8)
            if len(header) < 8:
                break
            length = int.from_bytes(header, "little")
            offset += 8 + 4 + length + 4
            f.seek(offset)
            count += 1
    if offset != size:
        raise DataError(f"{path}: truncated shard (ends inside record {count}); re-run the converter "
                        "with --resume or rewrite this shard")
    return count


def check_record(serialized: bytes, path: str, manifest: Mapping, paired: bool) -> None:
    fields = schema.describe_example(serialized)
    required = [schema.ENCODED] + ([schema.ENCODED_B] if paired else [])
    missing = [k for k in required if k not in fields]
    if missing:
        raise DataError(f"{path}: first record lacks feature(s) {', '.join(missing)}; expected the "
                        f"TF-Slim image keys ({schema.ENCODED}, ...)")
    expected = (manifest["height"], manifest["width"], schema.CHANNELS)
    record_format = fields.get(schema.FORMAT, b"png")
    manifest_raw = manifest.get("image_format") == "raw"
    if (record_format == b"raw") != manifest_raw:
        raise DataError(f"{path}: records say image/format={record_format.decode()!r} but the manifest says "
                        f"image_format={manifest.get('image_format', 'png')!r}")
    for key in required:
        if manifest_raw:
            _check_raw(fields[key], path, key, expected)
            continue
        shape = _decoded_shape(fields[key], path, key)
        if shape != expected:
            name = fields.get(schema.FILENAME, b"")
            name = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
            raise DataError(f"{path}: record {name or 0} {key} decodes to {'x'.join(map(str, shape))}, "
                            f"expected {'x'.join(map(str, expected))} (HWC, RGB): {_hint(shape)}")


def _check_raw(data: bytes, path: str, key: str, expected) -> None:
    """Raw uint8 bytes: the length must be H*W*3, and the layout must look like HWC. In HWC a
    pixel's neighbours are similar; read as HWC, channels-first bytes (CIFAR's binary layout,
    a seed's 30 runs of noise) are far rougher than the same bytes read as CHW."""
    h, w, c = expected
    if len(data) != h * w * c:
        raise DataError(f"{path}: first record's {key} has {len(data)} raw bytes, expected {h}x{w}x{c}={h * w * c}")
    flat = np.frombuffer(data, np.uint8).astype(np.float32)
    as_hwc = flat.reshape(h, w, c)
    as_chw = flat.reshape(c, h, w).transpose(1, 2, 0)
    if _roughness(as_chw) < 0.5 * _roughness(as_hwc):
        raise DataError(f"{path}: first record's {key} looks like CHW (channels first): its bytes are "
                        f"smooth as {c}x{h}x{w} but not as {h}x{w}x{c}; write HWC bytes (numpy: "
                        "image.transpose(1, 2, 0))")


def _roughness(image: np.ndarray) -> float:
    return float(np.abs(np.diff(image, axis=0)).mean() + np.abs(np.diff(image, axis=1)).mean())


def _decoded_shape(encoded: bytes, path: str, key: str):
    """(height, width, channels) of an encoded image, read with PIL (works in graph mode too)."""
    try:
        with Image.open(io.BytesIO(encoded)) as image:
            return image.height, image.width, len(image.getbands())
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: first record's {key} is not a decodable PNG/JPEG ({e})") from None


def _hint(shape) -> str:
    if len(shape) == 3 and shape[0] in (1, 3, 4) and shape[2] > 4:
        return "looks like CHW (channels first)"
    if len(shape) == 3 and shape[2] != schema.CHANNELS:
        return f"{shape[2]} channel(s), expected 3"
    return "size differs from the manifest"


def _resized(example: Dict[str, Any], resolution: int, keys) -> Dict[str, Any]:
    out = dict(example)
    for key in keys:
        out[key] = tf.image.resize(example[key], [resolution, resolution], method="area", antialias=True)
    return out


def make_input_fn(cfg: Mapping, split: str, data_mode: DataMode, make_inputs: Callable):
    """input_fn(params) for TPUEstimator; split 'train' (shuffled, repeated) or 'eval'.
    `data_mode` and `make_inputs` are the model's (GanModel): the records it reads and its
    (example, cfg, training) -> (features, labels). The manifest is read once, here."""
    key = "eval_data" if split != "train" and cfg["eval_data"] else "train_data"  # eval falls back to train_data
    data_dir = cfg[key]
    if not data_dir:
        raise DataError("key 'train_data' is not set: point it at a folder made by convert_to_tfrecords.py")
    training = split == "train"
    manifest = _read_manifest_of(key, data_dir)
    image_keys = _check_mode(data_mode, manifest, data_dir)
    if manifest["height"] != cfg["resolution"]:
        _warn_resize_once(data_dir, manifest, cfg)

    def input_fn(params):
        batch = params["batch_size"]
        context = params.get("context")
        seed = cfg["seed"]
        if data_mode == DataMode.UNPAIRED:
            ds = _unpaired(data_dir, manifest, training, seed, context)
        else:
            ds = load_examples(data_dir, training=training, seed=seed, context=context,
                               paired=data_mode == DataMode.PAIRED, manifest=manifest)
            if not training:
                ds = ds.repeat()  # evaluation runs eval_steps batches; never a short last batch
        if manifest["height"] != cfg["resolution"]:
            ds = ds.map(lambda ex: _resized(ex, cfg["resolution"], image_keys), num_parallel_calls=AUTOTUNE)
        ds = ds.map(lambda ex: make_inputs(ex, cfg, training), num_parallel_calls=AUTOTUNE)
        return ds.batch(batch, drop_remainder=True).prefetch(AUTOTUNE)  # static shapes for TPU

    return input_fn


def _read_manifest_of(key: str, data_dir: str) -> Mapping:
    """schema.read_manifest, its DataError naming the config key that points at data_dir."""
    try:
        return schema.read_manifest(data_dir)
    except DataError as e:  # its advice says train_data, which may not be the key that points here
        raise DataError(f"key '{key}': " + str(e).replace("point train_data at", f"point {key} at")) from None


_resizes_reported = set()  # (data_dir, height, width, resolution): one warning per process


def _warn_resize_once(data_dir: str, manifest: Mapping, cfg: Mapping) -> None:
    """One stderr line when records of another size are resized to the model's resolution
    (upscaled records make blurry training images)."""
    height, width, resolution = manifest["height"], manifest["width"], cfg["resolution"]
    if (data_dir, height, width, resolution) in _resizes_reported:
        return
    _resizes_reported.add((data_dir, height, width, resolution))
    how = "upscaled" if height < resolution else "downscaled"
    print(f"warning: {data_dir}: {width}x{height} records, {how} to {resolution}x{resolution} for "
          f"{cfg['model']} at resolution {resolution}; convert with --size {resolution} to train on "
          "images of that size", file=sys.stderr)


# The record sets each model's data mode can read (a paired set also reads as either).
READABLE_MODES = {
    DataMode.IMAGES: (DataMode.IMAGES, DataMode.PAIRED),
    DataMode.PAIRED: (DataMode.PAIRED,),
    DataMode.UNPAIRED: (DataMode.UNPAIRED, DataMode.PAIRED),
}


def _check_mode(data_mode: DataMode, manifest: Mapping, data_dir: str):
    found = manifest["mode"]
    allowed = [mode.value for mode in READABLE_MODES[data_mode]]
    if found not in allowed:
        raise DataError(f"{schema.manifest_path(data_dir)}: a {found} dataset; this model needs "
                        f"{' or '.join(allowed)} records (convert_to_tfrecords.py --mode {allowed[0]})")
    return ("image",) if data_mode == DataMode.IMAGES else ("a", "b")


def _unpaired(data_dir: str, manifest: Mapping, training: bool, seed: int, context):
    """Two independently shuffled streams zipped per step: {'a', 'b', 'has_pair'}.
    From a paired dataset the eval stream stays aligned, so true counterparts are known."""
    if manifest["mode"] == DataMode.PAIRED:
        if not training:
            ds = load_examples(data_dir, paired=True, seed=seed, context=context, manifest=manifest).repeat()
            return ds.map(lambda ex: {"a": ex["a"], "b": ex["b"], "has_pair": tf.constant(True)})
        a = load_examples(data_dir, training=True, seed=seed, context=context, paired=True, manifest=manifest)
        b = load_examples(data_dir, training=True, seed=seed + 1, context=context, paired=True, manifest=manifest)
        a, b = a.map(lambda ex: ex["a"]), b.map(lambda ex: ex["b"])
    else:
        a = load_examples(data_dir, "a", training=training, seed=seed, context=context, manifest=manifest).map(lambda ex: ex["image"])
        b = load_examples(data_dir, "b", training=training, seed=seed + 1, context=context, manifest=manifest).map(lambda ex: ex["image"])
        if not training:
            a, b = a.repeat(), b.repeat()
    return tf.data.Dataset.zip((a, b)).map(lambda x, y: {"a": x, "b": y, "has_pair": tf.constant(False)})
