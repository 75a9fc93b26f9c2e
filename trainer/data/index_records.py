"""`convert_to_tfrecords.py --index DATA_DIR`: dataset.json for TFRecords written by other tools.

The trainer reads any records with the TF-Slim image keys (schema.py), but only through a
manifest. --index reads every record already in DATA_DIR (local or gs://), checks it the way the
trainer will read it, and writes DATA_DIR/dataset.json; the records themselves are not touched.

Shards are the files named like `train-00000-of-00002` (TF-Slim's build_imagenet_data.py, no
extension), `flowers_train_00000-of-00005.tfrecord` (TF-Slim's download_and_convert_*.py),
`mnist-train.tfrecord-00000-of-00001` (TFDS), or ending in .tfrecord/.tfrecords/.record/.tfr.
The part before the shard numbers is the split: a folder holding train-* and validation-*
(as build_imagenet_data.py writes them) needs --split, since one manifest describes one split.
Numbered shards must all be there (`-of-N` promises N files). Other files are listed, not read.

Checked in every record (record_checks.py), with a one-line DataError naming the shard file and
the record index:
  it is a tf.train.Example with image/encoded (and image_b/encoded in every record, or in none:
  paired records); the image is JPEG, PNG, BMP or GIF (what tf.io.decode_image reads), decodes,
  and has 3 channels (PIL mode RGB, as the trainer's check counts them); image/height, width and
  channels, where present, agree with it; every record has the same height and width; each
  image/class/label has one image/class/text. Raw records (image/format 'raw': uint8 HWC bytes)
  need image/height and image/width and exactly height*width*3 bytes.
Then the trainer's own preflight (input_pipeline.preflight: framing, first record of each shard,
channels-first raw bytes) runs on the new manifest before it is written.

Labels are kept as the records have them (TF-Slim's start at 1, 0 being its background class);
the manifest maps image/class/text -> label.
"""
import dataclasses
import os
import re
import sys
from typing import Dict, List, Optional, Sequence, TextIO, Tuple

import tensorflow as tf

from trainer.data import convert_output, record_checks, schema
from trainer.data.convert_options import IndexOptions
from trainer.data.schema import DataError

SHARD_NAME = re.compile(r"^(?P<prefix>.+?)(?P<sep>[-_])(?P<index>\d+)-of-(?P<count>\d+)"
                        r"(?P<suffix>\.[A-Za-z0-9]+)?$")
RECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".record", ".records", ".tfr")
MADE_BY = "convert_to_tfrecords.py --index"


@dataclasses.dataclass(frozen=True)
class ShardFile:
    name: str
    split: str
    number: Optional[Tuple[int, int, int]] = None  # (index, count, digits) of numbered shards


@dataclasses.dataclass(frozen=True)
class Summary:
    manifest: Dict
    manifest_path: str
    other_splits: Dict[str, int]  # split -> shard files not indexed
    other_files: List[str]


# ----------------------------------------------------------------------------------------
# Finding the shards


def shard_file(name: str) -> Optional[ShardFile]:
    match = SHARD_NAME.match(name)
    if match:
        number = (int(match["index"]), int(match["count"]), len(match["index"]))
        return ShardFile(name, match["prefix"], number)
    stem, suffix = os.path.splitext(name)
    return ShardFile(name, stem) if suffix.lower() in RECORD_SUFFIXES else None


def find_shards(data_dir: str) -> Tuple[Dict[str, List[ShardFile]], List[str]]:
    """-> ({split: its shard files, in shard order}, names of the other files)."""
    if not tf.io.gfile.isdir(data_dir):
        raise DataError(f"{data_dir}: no such folder; expected a folder of TFRecord shards")
    splits: Dict[str, List[ShardFile]] = {}
    others = []
    for name in sorted(tf.io.gfile.listdir(data_dir)):
        if name.endswith("/") or name.startswith(".") or name == schema.MANIFEST_NAME:
            continue
        if "://" not in data_dir and os.path.isdir(os.path.join(data_dir, name)):
            continue
        shard = shard_file(name)
        if shard is None:
            others.append(name)
        else:
            splits.setdefault(shard.split, []).append(shard)
    for files in splits.values():
        files.sort(key=lambda f: (f.number or (0, 0, 0), f.name))
    return splits, others


def pick_split(data_dir: str, splits: Dict[str, List[ShardFile]], split: Optional[str]) -> str:
    found = ", ".join(f"{name} ({len(files)} file(s))" for name, files in sorted(splits.items()))
    if not splits:
        raise DataError(f"{data_dir}: no TFRecord shards; expected files named like "
                        f"train-00000-of-00002 or *.tfrecord")
    if split is not None:
        if split not in splits:
            raise DataError(f"{data_dir}: no shards of split {split!r}; found {found}")
        return split
    if len(splits) > 1:
        choices = " or ".join(f"--split {name}" for name in sorted(splits))
        raise DataError(f"{data_dir}: holds shards of several splits: {found}; pick one with "
                        f"{choices} (dataset.json describes one split; give each its own folder "
                        "to train and evaluate on both)")
    return next(iter(splits))


def check_complete(data_dir: str, files: Sequence[ShardFile]) -> None:
    """Numbered shards promise their count (`-of-N`): all N must be there."""
    numbered = [f for f in files if f.number]
    counts = sorted({f.number[1] for f in numbered})
    if len(counts) > 1:
        raise DataError(f"{data_dir}: split {files[0].split!r} mixes shard counts "
                        f"{', '.join(f'-of-{c}' for c in counts)}; expected one set of shards")
    if not numbered:
        return
    present = {f.number[0] for f in numbered}
    missing = [i for i in range(counts[0]) if i not in present]
    if missing:
        example = numbered[0]
        index, count, digits = example.number
        name = example.name.replace(f"{index:0{digits}d}-of-", f"{missing[0]:0{digits}d}-of-", 1)
        raise DataError(f"{convert_output.join(data_dir, name)}: missing; split "
                        f"{example.split!r} has {len(present)} of the {count} shards its file "
                        "names promise")


# ----------------------------------------------------------------------------------------
# The manifest


def build_manifest(data_dir: str, split: str, files: Sequence[ShardFile],
                   shards: Sequence[record_checks.ShardSummary]) -> Dict:
    filled = [s for s in shards if s.num_examples]
    if not filled:
        raise DataError(f"{data_dir}: the {len(shards)} shard(s) of split {split!r} hold no records")
    first = filled[0]  # every record matched its size, pairing and encoding (check_shard)
    return {
        "mode": "paired" if first.paired else "images",
        "height": first.size[0], "width": first.size[1], "channels": schema.CHANNELS,
        "image_format": "raw" if first.raw else "+".join(sorted(set().union(*(s.formats for s in filled)))),
        "num_examples": sum(s.num_examples for s in shards),
        "shards": [f.name for f in files],
        "shard_sizes": [s.num_examples for s in shards],
        "labels": _labels(filled),
        "label_counts": _label_counts(shards),
        "source": data_dir if "://" in data_dir else os.path.abspath(data_dir),
        "split": split, "made_by": MADE_BY,
    }


def _labels(shards: Sequence[record_checks.ShardSummary]) -> Dict[str, int]:
    """image/class/text -> label over all shards (empty when the records carry no text)."""
    texts: Dict[int, Tuple[str, str]] = {}
    for shard in shards:
        for label, (text, index) in shard.label_texts.items():
            known = texts.setdefault(label, (text, f"{shard.path} record {index}"))
            if known[0] != text:
                raise DataError(f"{shard.path}: record {index}: label {label} is {text!r}, but "
                                f"{known[1]} calls it {known[0]!r}; expected one "
                                f"{schema.LABEL_TEXT} per label")
    by_text: Dict[str, int] = {}
    for label, (text, where) in sorted(texts.items()):
        if by_text.setdefault(text, label) != label:
            raise DataError(f"{where}: {schema.LABEL_TEXT} {text!r} has label {label} and "
                            f"{by_text[text]}; expected one label per class name")
    return by_text


def _label_counts(shards: Sequence[record_checks.ShardSummary]) -> Dict[str, int]:
    counts: Dict[int, int] = {}
    for shard in shards:
        for label, count in shard.label_counts.items():
            counts[label] = counts.get(label, 0) + count
    return {str(label): counts[label] for label in sorted(counts)}


def index(options: IndexOptions) -> Summary:
    """Checks the records of one split in options.data_dir and writes its dataset.json."""
    from trainer.data import input_pipeline  # the trainer's own preflight, run on the result

    data_dir = options.data_dir.rstrip("/") or options.data_dir
    splits, others = find_shards(data_dir)
    split = pick_split(data_dir, splits, options.split)
    files = splits[split]
    check_complete(data_dir, files)
    path = schema.manifest_path(data_dir)
    if tf.io.gfile.exists(path) and not options.overwrite:
        raise DataError(f"{path}: already there; pass --overwrite to replace it with one made from "
                        "the records")
    paths = [convert_output.join(data_dir, f.name) for f in files]
    manifest = build_manifest(data_dir, split, files, record_checks.check_shards(paths, options.num_workers))
    input_pipeline.preflight(schema.shard_paths(data_dir, manifest), manifest, data_dir)
    written = schema.write_manifest(data_dir, manifest)
    other_splits = {name: len(f) for name, f in splits.items() if name != split}
    return Summary(manifest, written, other_splits, others)


def report(summary: Summary, stream: TextIO = None, errors: TextIO = None) -> None:
    """One result line on stdout; what was not indexed on stderr."""
    stream, errors = stream or sys.stdout, errors or sys.stderr
    m = summary.manifest
    labels = f", {len(m['labels'])} labelled class(es)" if m["labels"] else ""
    print(f"checked {m['num_examples']} {m['mode']} records in {len(m['shards'])} shard(s) of "
          f"split {m['split']!r} ({m['height']}x{m['width']} {m['image_format']}{labels}); "
          f"wrote {summary.manifest_path}", file=stream)
    if summary.other_splits:
        found = ", ".join(f"{name} ({count} file(s))" for name, count in sorted(summary.other_splits.items()))
        print(f"note: not indexed, other split(s): {found}", file=errors)
    if summary.other_files:
        print(f"note: not indexed, not TFRecord shards by name: {', '.join(summary.other_files)}",
              file=errors)
