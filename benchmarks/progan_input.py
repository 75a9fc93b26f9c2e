"""ProGAN's real images at a stage's resolution, fed two ways; which feeds faster, and is either
short of what the stage's training step consumes?

  python -m benchmarks.progan_input             # every <config>@<r> of benchmarks/suite.py MODELS
  python -m benchmarks.progan_input --quick     # smoke run: short windows, batch <= 16
  python -m benchmarks.progan_input --only progan_32@8,progan_128@16 --training benchmarks/results/X.json

Per stage, at the stage's batch (suite.model_config: progan_growth.stage_config; --quick and
--batch as in benchmarks.run), images/s of (pipeline.input_throughput):
  host     the project's input_fn: final-resolution records decoded, box-filtered to r on the host
           (trainer/models/progan.make_inputs);
  records  the same images written at r (data.dataset_in(..., downscale_from=final): the
           per-level records a converter would write) read by the same input_fn with nothing to
           resize or filter (`level_config`).
With a benchmarks.run results JSON (--training, default the newest in benchmarks/results/ with
progan rows), each rate over the stage's project images/s at the same batch (target >= 5).
Prints a table; writes benchmarks/results/progan_input-<host>-<date>-<time>.json.
"""
import argparse
import glob
import json
import os
import shutil
import socket
import sys
import tempfile
from typing import Dict, Optional, Tuple

import trainer  # noqa: F401  (before TensorFlow: its CPU kernel choice)
from benchmarks.results_file import RESULTS, machine, write_json
from benchmarks.suite import MODELS

STAGES = tuple(name for name in MODELS if "@" in name)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.progan_input", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help=f"comma-separated subset of: {','.join(STAGES)}")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 warm-up batches, 3 windows of ~2 s, "
                                                             "batch <= 16")
    parser.add_argument("--batch", type=int, help="batch for every stage (default: the stage's)")
    parser.add_argument("--training", help="benchmarks.run results JSON with the stages' project images/s "
                                           "(default: the newest in benchmarks/results/ that has them)")
    parser.add_argument("--out", help="JSON path (default benchmarks/results/progan_input-<host>-<date>.json)")
    args = parser.parse_args(argv)
    args.stages = [s.strip() for s in (args.only or ",".join(STAGES)).split(",") if s.strip()]
    unknown = [s for s in args.stages if s not in STAGES]
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    return args


def level_config(cfg, data_dir: str):
    """cfg's stage fed from records at its own resolution r: train_data `data_dir` and
    resolution r, so the input_fn neither resizes (records at `resolution`) nor box-filters
    (factor resolution / r = 1) and delivers what the host path does (noise, [B, r, r, 3])."""
    return cfg.replace(train_data=data_dir, resolution=cfg["progan_stage_resolution"])


def measure(name: str, args, schedule, workdir: str) -> Dict:
    from benchmarks import data, pipeline, suite, timing
    from trainer import models
    cfg, skipped = suite.model_config(name, args, lambda resolution, mode: data.dataset_in(workdir, resolution, mode))
    if cfg is None:
        return {"skipped": skipped}
    final, r = cfg["resolution"], cfg["progan_stage_resolution"]
    mode = models.get(cfg["model"]).data_mode
    level = level_config(cfg, data.dataset_in(workdir, r, mode, downscale_from=None if r == final else final))
    out = {"batch": cfg["train_batch_size"], "resolution": final, "stage_resolution": r, "load_start": timing.load()}
    out["host"] = pipeline.input_throughput(cfg, schedule)
    out["records"] = pipeline.input_throughput(level, schedule)
    out["load_end"] = timing.load()
    out.update(host_img_s=out["host"]["per_s"], records_img_s=out["records"]["per_s"],
               records_over_host=out["records"]["per_s"] / out["host"]["per_s"])
    print(f"  host {out['host_img_s']:.0f} img/s, records {out['records_img_s']:.0f} img/s", flush=True)
    return out


def training_rates(path: Optional[str]) -> Tuple[Optional[str], Dict[str, Dict]]:
    """(the results file, {stage: its benchmarks.run row}) from `path`, or from the newest
    results JSON with a stage row; (None, {}) when there is none."""
    candidates = [path] if path else sorted(glob.glob(os.path.join(RESULTS, "*.json")), key=os.path.getmtime,
                                            reverse=True)
    for candidate in candidates:
        try:
            with open(candidate) as f:
                models = json.load(f).get("models", {})
        except (OSError, ValueError):
            if path:
                raise
            continue  # a half-written or foreign file among the results
        rows = {k: v for k, v in models.items() if k in STAGES and "project_img_s" in v}
        if rows or path:
            return candidate, rows
    return None, {}


def with_step_ratios(stages: Dict[str, Dict], training: Dict[str, Dict]) -> None:
    """Adds each feed's rate over the stage's project images/s, when measured at the same batch."""
    for name, row in stages.items():
        step = training.get(name)
        if "skipped" in row or not step or step.get("batch") != row["batch"]:
            continue
        row["training_img_s"] = step["project_img_s"]
        row["host_over_step"] = row["host_img_s"] / step["project_img_s"]
        row["records_over_step"] = row["records_img_s"] / step["project_img_s"]


COLUMNS = [  # (header, key, format)
    ("batch", "batch", "{}"), ("host", "host_img_s", "{:.0f}"), ("records", "records_img_s", "{:.0f}"),
    ("records/host", "records_over_host", "{:.2f}x"), ("training", "training_img_s", "{:.1f}"),
    ("host/step", "host_over_step", "{:.1f}x"), ("records/step", "records_over_step", "{:.1f}x"),
]


def table(results: Dict) -> str:
    from benchmarks.report import grid
    rows = []
    for name, row in results["stages"].items():
        if "skipped" in row:
            rows.append([name] + ["-"] * (len(COLUMNS) - 1) + [f"skipped: {row['skipped']}"])
            continue
        rows.append([name] + [fmt.format(row[key]) if key in row else "-" for _, key, fmt in COLUMNS])
    source = results.get("training_results")
    return "\n".join([
        "ProGAN real images at the stage's resolution, images/s (median of windows after warm-up):",
        "  host: final-resolution records box-filtered on the host (the project's input_fn); records: the same "
        "images written at the stage's resolution",
        f"  training: project images/s from {source or 'no benchmarks.run results with progan rows'} "
        "(same batch only)",
        grid(["stage"] + [h for h, _, _ in COLUMNS], rows)])


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    from benchmarks import timing
    schedule = timing.QUICK if args.quick else timing.FULL
    results = {"load": {"start": timing.load()}, "schedule": schedule.__dict__, "stages": {}}
    workdir = tempfile.mkdtemp(prefix="gan-progan-input-")
    try:
        for name in args.stages:
            print(f"{name} ...", flush=True)
            results["stages"][name] = measure(name, args, schedule, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["training_results"], training = training_rates(args.training)
    with_step_ratios(results["stages"], training)
    results["load"]["end"] = timing.load()
    results["machine"] = machine(tf)
    results["args"] = vars(args)
    print(table(results))
    print(f"wrote {write_json(results, args.out, name=f'progan_input-{socket.gethostname()}')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
