"""Checkpoint bookkeeping that survives moving or copying a model_dir.

A kill -9 can leave a half-written checkpoint behind; `ensure_restorable` makes the state file
point at the newest checkpoint that actually reads, so a restart never trips over it.

The model_fn's Saver writes relative paths into the `checkpoint` state file; a model_dir made
elsewhere (absolute paths, a seed's pain point) is rewritten to relative paths before use, so a
copied directory never silently restores from (or fails on) the old location.

The hooks that decide when a run saves and stops live here too: SaverHook (checkpoint cadence)
and TimeBudgetHook (stop, with a checkpoint, after max_train_minutes).
"""
import os
import re
import time

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


def _readable(prefix: str) -> bool:
    try:
        reader = tf.train.load_checkpoint(prefix)
        return reader.has_tensor("global_step")
    except (tf.errors.OpError, ValueError):
        return False


def ensure_restorable(model_dir: str) -> str:
    """Points model_dir/checkpoint at the newest readable checkpoint; returns its prefix ('' if
    none). Unreadable newer ones (a kill mid-save) are left on disk but no longer referenced."""
    make_paths_relative(model_dir)
    state = tf.train.get_checkpoint_state(model_dir)
    if state is None:
        return ""
    candidates = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
    if state.model_checkpoint_path not in candidates:
        candidates.append(state.model_checkpoint_path)
    good = [p for p in candidates if _readable(p)]
    if good and good[-1] == state.model_checkpoint_path and len(good) == len(candidates):
        return good[-1]
    path = os.path.join(model_dir, STATE_FILE)
    if not good:
        tf.io.gfile.remove(path)
        return ""
    lines = [f'model_checkpoint_path: "{os.path.basename(good[-1])}"']
    lines += [f'all_model_checkpoint_paths: "{os.path.basename(p)}"' for p in good]
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return good[-1]


def latest_step(model_dir: str) -> int:
    """Global step of the newest readable checkpoint in model_dir, 0 when there is none."""
    latest = ensure_restorable(model_dir)
    if not latest:
        return 0
    return int(tf.train.load_variable(latest, "global_step"))


class SaverHook(tf.compat.v1.train.CheckpointSaverHook):
    """The Estimator's checkpoint hook, minus the meta-graph it builds at every session start
    (graph.as_graph_def plus create_meta_graph_def) only to hand it to the summary writer, which
    here writes no graph (trainer/event_files.py). Saves at the same steps and runs the same
    listeners. Used off TPU (TPUEstimator brings its own hook there) and without
    tensorboard_graph."""

    def after_create_session(self, session, coord):
        # As the base class, without the graph: the state at the restored (or initial) step.
        global_step = session.run(self._global_step_tensor)
        self._save(session, global_step)
        self._timer.update_last_triggered_step(global_step)


class TimeBudgetHook(tf.estimator.SessionRunHook):
    """Requests a stop once `minutes` have passed since the session started; the Estimator then
    saves a final checkpoint (and sample grid), so the next run resumes there."""

    def __init__(self, minutes: float):
        self._seconds = 60.0 * minutes
        self._deadline = None

    def after_create_session(self, session, coord):
        self._deadline = time.monotonic() + self._seconds

    def after_run(self, run_context, run_values):
        if time.monotonic() >= self._deadline:
            run_context.request_stop()
