"""Helpers to run the real training path on tiny shapes: configs from configs/ plus
configs/tiny.yaml, through TPUEstimator(use_tpu=False) on CPU."""
import glob
import os
import subprocess
import sys
from typing import Dict, Iterator, List, Sequence

import numpy as np
import tensorflow as tf

from trainer import config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "configs")
TINY = os.path.join(CONFIGS, "tiny.yaml")


def tiny_config(name: str, data_dir: str, *overrides: str, extra: Sequence[str] = ()) -> config.Config:
    """configs/<name>.yaml + tiny overlay (+ extra overlays) + train_data + overrides."""
    paths = [os.path.join(CONFIGS, f"{name}.yaml"), TINY, *extra]
    return config.build(paths, [f"train_data={data_dir}", *overrides])


def checkpoint_values(model_dir: str) -> Dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def changed(before: Dict[str, np.ndarray], after: Dict[str, np.ndarray], prefix: str) -> List[str]:
    names = [n for n in before if n.startswith(prefix) and "adam" not in n.lower()]  # weights, not slots
    return [n for n in names if not np.array_equal(before[n], after[n])]


def events(logdir: str) -> Iterator:
    """Every Event of every event file directly in logdir (v1 and v2 files, any order)."""
    for path in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
        yield from tf.compat.v1.train.summary_iterator(path)


def event_tags(model_dir: str) -> Dict[str, set]:
    """tag -> {steps} over all event files in model_dir."""
    tags: Dict[str, set] = {}
    for event in events(model_dir):
        for value in event.summary.value:
            tags.setdefault(value.tag, set()).add(event.step)
    return tags


def graph_events(logdir: str):
    """(graph_def events, meta_graph_def events, summary values) over logdir's event files."""
    graphs = metas = values = 0
    for event in events(logdir):
        graphs += bool(event.graph_def)
        metas += bool(event.meta_graph_def)
        values += len(event.summary.value)
    return graphs, metas, values


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """python -m trainer.task ARGS in a subprocess (real exit codes and stderr)."""
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "trainer.task", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
