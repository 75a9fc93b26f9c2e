"""Speed benchmarks, measured in one run so the figures compare (see benchmarks/README.md).

  python -m benchmarks.run                          # everything (~30-60 min on 2 CPU cores)
  python -m benchmarks.run --quick                  # smoke run: short windows, small batches
  python -m benchmarks.run --only dcgan_32,converter --batch 32 --images 500

Per model (real config, real widths, batch from the config unless --batch): images/s of the
project's TPUEstimator path (use_tpu=false), of a bare tf.function step with jit_compile off and
on (the faster is this machine's ceiling), FLOPs per step and the fraction of a float32 matmul
peak measured in the same run, and what the input pipeline delivers. Then the converter.
Prints a table; writes benchmarks/results/<host>-<date>.json. Flags are read here only.
"""
import argparse
import os
import shutil
import sys
import tempfile

# No TensorFlow at import: the converter's spawned workers re-import this module.
import trainer  # noqa: F401  (before TensorFlow: its CPU kernel choice)
from benchmarks.results_file import machine, write_json
from benchmarks.suite import MODELS

SECTIONS = (*MODELS, "converter")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help=f"comma-separated subset of: {','.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 3 warm-up steps, 3 windows of ~2 s, batch <= 16, 300 images")
    parser.add_argument("--batch", type=int, help="training batch for every model (default: its config)")
    parser.add_argument("--images", type=int, help="JPEGs generated for the converter (default 2500; quick 300)")
    parser.add_argument("--convert_size", type=int, default=64, help="converter output side (px)")
    parser.add_argument("--no_jit", action="store_true", help="skip the jit_compile bare step")
    parser.add_argument("--repeats", type=int, default=1,
                        help="measure project and bare steps this many times, interleaved; "
                             "medians are reported (use on a noisy machine)")
    parser.add_argument("--gcs", action="store_true", help="also convert to gs:// on the local emulator")
    parser.add_argument("--out", help="JSON path (default benchmarks/results/<host>-<date>.json)")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in (args.only or ",".join(SECTIONS)).split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    args.sections = chosen
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.gcs:
        from tests.gcs_emulator import TF_IMPORT_TIME_ENV  # read when TensorFlow is imported
        for key, value in TF_IMPORT_TIME_ENV.items():
            os.environ.setdefault(key, value)
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    from benchmarks import report, suite

    workdir = tempfile.mkdtemp(prefix="gan-bench-")
    try:
        results = suite.run_all(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["machine"] = machine(tf)
    results["args"] = {k: v for k, v in vars(args).items()}
    print(report.table(results))
    print(f"wrote {write_json(results, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
