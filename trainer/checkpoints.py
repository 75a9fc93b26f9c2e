"""Checkpoint bookkeeping that survives moving or copying a model_dir.

The model_fn's Saver writes relative paths into the `checkpoint` state file; a model_dir made
elsewhere (absolute paths, a seed's pain point) is rewritten to relative paths before use, so a
copied directory never silently restores from (or fails on) the old location.
"""
import os
import re

import tensorflow as tf

STATE_FILE = "checkpoint"
_LINE = re.compile(r'^(\w+): "(.*)"$')


def make_paths_relative(model_dir: str) -> bool:
    """Rewrites absolute checkpoint paths in model_dir/checkpoint to base names; True if changed."""
    path = os.path.join(model_dir, STATE_FILE)
    if not tf.io.gfile.exists(path):
        return False
    with tf.io.gfile.GFile(path) as f:
        lines = f.read().splitlines()
    out, changed = [], False
    for line in lines:
        match = _LINE.match(line.strip())
        if match and ("/" in match.group(2)):
            line = f'{match.group(1)}: "{os.path.basename(match.group(2))}"'
            changed = True
        out.append(line)
    if changed:
        with tf.io.gfile.GFile(path, "w") as f:
            f.write("\n".join(out) + "\n")
    return changed


def latest_step(model_dir: str) -> int:
    """Global step of the newest checkpoint in model_dir, 0 when there is none."""
    make_paths_relative(model_dir)
    latest = tf.train.latest_checkpoint(model_dir)
    if latest is None:
        return 0
    return int(tf.train.load_variable(latest, "global_step"))
