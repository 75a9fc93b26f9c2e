"""Where a short run's time goes: a 2-step tiny training run (configs/<model>.yaml +
configs/tiny.yaml), from `import` to the last sample grid, split into the phases a user waits
through, each in a fresh interpreter.

  python -m benchmarks.startup                      # dcgan_32, 3 repeats
  python -m benchmarks.startup --model discogan_64 --repeats 1

Phases come from a timeline SessionRunHook passed to trainer.run.train (graph built = `begin`,
first step = the first `before_run`/`after_run`) and two side measurements on the finished run:
what the Estimator's default checkpoint hook would spend building the meta-graph it never writes
here (trainer.checkpoints.SaverHook skips it off TPU), and one sample grid. Prints a table and
writes JSON (benchmarks/results/, git-ignored).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Dict, List

from benchmarks.results_file import ROOT, write_json

# phase -> who owns it: what the package can change, and what is TensorFlow's.
OWNERS = {
    "import trainer, tensorflow": "TensorFlow (import)",
    "config": "package",
    "graph: estimator, input_fn, model_fn": "package builds it; TF graph/op creation (pure-Python protobuf 3.20)",
    "session: create, init, step-0 checkpoint + grid": "TF session + package sample grid",
    "first step": "TF (grappler, kernels)",
    "last step to exit: final checkpoint + grid": "TF saver + package sample grid",
    "total": "",
    "(side) meta-graph the default checkpoint hook builds": "TF estimator; skipped off TPU since this change",
    "(side) one sample grid, first / next": "package (trainer/sampling.py)",
}

WORKER = r'''
import json, os, sys, time
t0 = time.perf_counter()
import trainer
import tensorflow as tf
from trainer import config, run, sampling
t_import = time.perf_counter()
model, data, model_dir = sys.argv[1:4]
cfg = config.build([os.path.join("configs", model + ".yaml"), os.path.join("configs", "tiny.yaml")],
                   ["train_data=" + data])
t_config = time.perf_counter()
marks, meta = {}, {}

class Timeline(tf.estimator.SessionRunHook):
    def begin(self):
        marks.setdefault("begin", time.perf_counter())
        graph = tf.compat.v1.get_default_graph()
        t = time.perf_counter()
        from tensorflow.python.framework import meta_graph
        meta_graph.create_meta_graph_def(graph_def=graph.as_graph_def(add_shapes=True))
        meta["seconds"] = time.perf_counter() - t
        marks["begin_done"] = time.perf_counter()
    def before_run(self, run_context):
        marks.setdefault("first_before_run", time.perf_counter())
    def after_run(self, run_context, run_values):
        marks.setdefault("first_after_run", time.perf_counter())
        marks["last_after_run"] = time.perf_counter()

run.train(cfg, model_dir, hooks=[Timeline()])
t_end = time.perf_counter()
listener = sampling.SampleGridListener(cfg, model_dir)
with tf.Graph().as_default():  # as inside the Estimator: the listener's Saver runs in graph mode
    t = time.perf_counter(); listener.after_save(None, 999); grid_first = time.perf_counter() - t
    t = time.perf_counter(); listener.after_save(None, 999); grid_next = time.perf_counter() - t
    listener.end(None, 999)
meta_s = meta["seconds"]
print("PHASES " + json.dumps({
    "import trainer, tensorflow": t_import - t0,
    "config": t_config - t_import,
    "graph: estimator, input_fn, model_fn": marks["begin"] - t_config,
    "session: create, init, step-0 checkpoint + grid": marks["first_before_run"] - marks["begin_done"],
    "first step": marks["first_after_run"] - marks["first_before_run"],
    "last step to exit: final checkpoint + grid": t_end - marks["last_after_run"],
    "total": t_end - t0 - meta_s,
    "(side) meta-graph the default checkpoint hook builds": meta_s,
    "(side) one sample grid, first / next": [grid_first, grid_next],
}))
'''


def _data(root: str, resolution: int, mode: str) -> str:
    sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]
    from datasets import make_dataset  # the tests' generated records
    return make_dataset(os.path.join(root, "data"), resolution, count=8, mode=mode)


def run_once(model: str, data: str, root: str) -> Dict:
    out = subprocess.run([sys.executable, "-c", WORKER, model, data, tempfile.mkdtemp(dir=root)], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if out.returncode:
        raise RuntimeError(f"startup run failed:\n{out.stderr[-3000:]}")
    return json.loads(next(line for line in out.stdout.splitlines() if line.startswith("PHASES "))[len("PHASES "):])


def _fmt(value) -> str:
    return " / ".join(f"{v:.2f}" for v in value) if isinstance(value, list) else f"{value:.2f}"


def table(runs: List[Dict]) -> str:
    rows = ["| phase | seconds (median) | owner |", "|---|---|---|"]
    for phase, owner in OWNERS.items():
        values = [r[phase] for r in runs]
        median = ([statistics.median(v[i] for v in values) for i in range(len(values[0]))]
                  if isinstance(values[0], list) else statistics.median(values))
        rows.append(f"| {phase} | {_fmt(median)} | {owner} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="dcgan_32", help="a configs/<name>.yaml, run with configs/tiny.yaml")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="JSON path (default benchmarks/results/startup-<model>-<time>.json)")
    args = parser.parse_args(argv)
    family, resolution = args.model.split("_")
    mode = {"dcgan": "images", "pix2pix": "paired"}.get(family, "unpaired")
    root = tempfile.mkdtemp(prefix="startup-")
    data = _data(root, int(resolution), mode)
    runs = [run_once(args.model, data, root) for _ in range(args.repeats)]
    print(f"{args.model} + configs/tiny.yaml, 2 training steps, {args.repeats} fresh interpreter(s)")
    print(table(runs))
    out = write_json({"model": args.model, "runs": runs, "load_average": os.getloadavg()}, args.out,
                     name=f"startup-{args.model}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
