"""The converter's output folder: shard files, their done-records, rejects.csv, and the checks
that keep a rerun from mixing two datasets. Everything goes through tf.io.gfile (gs:// works).

Layout while a conversion runs (and after a crash, for --resume):
  OUT/.tmp-<shard>               a shard being written; renamed to OUT/<shard> when complete
  OUT/.progress/plan.json        the options and input list of this run (a resume must match)
  OUT/.progress/<shard>.json     done-record of one complete shard: counts and its rejects
A finished conversion leaves OUT/<shard>..., dataset.json and, if any input was refused,
rejects.csv; .progress is removed once dataset.json is in place.
"""
import concurrent.futures
import csv
import io
import json
import posixpath
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from trainer.data import schema

PROGRESS_DIR = ".progress"
PLAN_NAME = "plan.json"
TMP_PREFIX = ".tmp-"
SHARD_SUFFIX = ".tfrecord"
CONTACT_SHEET_NAME = "contact_sheet.png"


def join(out: str, *names: str) -> str:
    return posixpath.join(out, *names)  # posixpath, not os.path: OUT may be gs://bucket/dir


def tmp_path(out: str, shard: str) -> str:
    return join(out, TMP_PREFIX + shard)


def progress_path(out: str, shard: str) -> str:
    return join(out, PROGRESS_DIR, shard + ".json")


def plan_path(out: str) -> str:
    return join(out, PROGRESS_DIR, PLAN_NAME)


def _names(out: str) -> List[str]:
    if not tf.io.gfile.isdir(out):
        return []
    return [name.rstrip("/") for name in tf.io.gfile.listdir(out)]


def shard_files(out: str) -> List[str]:
    return sorted(n for n in _names(out) if n.endswith(SHARD_SUFFIX) and not n.startswith("."))


def temp_files(out: str) -> List[str]:
    return sorted(n for n in _names(out) if n.startswith(TMP_PREFIX))


def has_progress(out: str) -> bool:
    return tf.io.gfile.exists(plan_path(out))


def has_manifest(out: str) -> bool:
    return tf.io.gfile.exists(schema.manifest_path(out))


def holds_dataset(out: str) -> bool:
    return bool(has_manifest(out) or has_progress(out) or shard_files(out) or temp_files(out))


def remove_dataset(out: str) -> None:
    """--overwrite: deletes only files this converter writes, never the whole folder."""
    for name in shard_files(out) + temp_files(out):
        tf.io.gfile.remove(join(out, name))
    for name in (schema.MANIFEST_NAME, schema.REJECTS_NAME, CONTACT_SHEET_NAME):
        _remove_if_exists(join(out, name))
    remove_progress(out)


def remove_temps(out: str) -> None:
    for name in temp_files(out):
        tf.io.gfile.remove(join(out, name))


def remove_progress(out: str) -> None:
    if tf.io.gfile.exists(join(out, PROGRESS_DIR)):
        tf.io.gfile.rmtree(join(out, PROGRESS_DIR))


def _remove_if_exists(path: str) -> None:
    if tf.io.gfile.exists(path):
        tf.io.gfile.remove(path)


def read_json(path: str):
    with tf.io.gfile.GFile(path, "r") as f:
        return json.load(f)


def start_progress(out: str, plan: Dict) -> None:
    tf.io.gfile.makedirs(join(out, PROGRESS_DIR))
    schema.write_json_atomically(plan_path(out), plan)


def check_plan(out: str, plan: Dict) -> None:
    """--resume: the interrupted run must have used the same options and input files."""
    path = plan_path(out)
    try:
        previous = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError):
        previous = None
    if previous == plan:
        return
    raise schema.DataError(f"{path}: the interrupted conversion used different "
                           f"{_differences(previous or {}, plan)}; rerun it with the same flags "
                           "and input files, or pass --overwrite to start again")


def _differences(previous: Dict, plan: Dict) -> str:
    old, new = previous.get("options", {}), plan.get("options", {})
    names = [f"{key} ({old.get(key)} then, {new.get(key)} now)"
             for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    if previous.get("inputs_sha256") != plan.get("inputs_sha256"):
        names.append("input files")
    return ", ".join(names) or "settings"


def finished_shard(out: str, shard: str) -> Optional[Dict]:
    """The done-record of a shard that is really complete (record present, file present and
    of the recorded size), else None."""
    try:
        record = read_json(progress_path(out, shard))
        if tf.io.gfile.stat(join(out, shard)).length == record["bytes"]:
            return record
    except (tf.errors.NotFoundError, json.JSONDecodeError, UnicodeDecodeError, KeyError):
        pass
    return None


def finished_shards(out: str, shards: Sequence[str]) -> Dict[str, Optional[Dict]]:
    """finished_shard for each name, read 16 at a time: on gs:// each is a network round trip,
    and a large dataset has thousands of shards."""
    with concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="done-records") as pool:
        return dict(zip(shards, pool.map(lambda shard: finished_shard(out, shard), shards)))


def write_rejects(out: str, rejects: Sequence[Tuple[str, str]]) -> Optional[str]:
    path = join(out, schema.REJECTS_NAME)
    if not rejects:
        _remove_if_exists(path)
        return None
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "reason"])
    writer.writerows(rejects)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(buffer.getvalue())
    return path


def read_rejects(out: str) -> List[Tuple[str, str]]:
    path = join(out, schema.REJECTS_NAME)
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path, "r") as f:
        rows = list(csv.reader(io.StringIO(f.read())))
    return [tuple(row) for row in rows[1:]]
