"""Command line for training, evaluation, sampling and export (also the `gan-trainer` script).

  python -m trainer.task --config configs/dcgan_64.yaml [--config configs/tpu.yaml] \
      [--set key=value ...] --model_dir DIR --mode train

Inspecting a DCGAN run: --mode interpolate | project --target IMG | neighbours | gallery [--serve]
(the work is in trainer/quality; everything lands under model_dir, see model_dir/gallery/index.html).

This file only reads flags and reports errors; the work is in trainer/run.py.
Bad input (config, data, model_dir) is one line on stderr and exit code 2; a non-finite loss
is one line and exit code 3.
"""
import argparse
import json
import logging
import os
import sys

MODES = ("train", "evaluate", "train_and_evaluate", "predict", "export",
         "interpolate", "project", "neighbours", "gallery")  # the last four: trainer/quality


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m trainer.task", description=__doc__.split("\n")[0])
    parser.add_argument("--config", action="append", default=[], metavar="YAML",
                        help="config file; repeat to overlay (later files win)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override one key after the files; repeatable")
    parser.add_argument("--model_dir", required=True, help="checkpoints, summaries, samples (local or gs://)")
    parser.add_argument("--mode", choices=MODES, default="train")
    parser.add_argument("--output_dir", help="predict: where to write (default model_dir/predict-STEP)")
    parser.add_argument("--input_dir", help="predict: translate every image of this plain folder")
    parser.add_argument("--export_dir", help="export: base folder (default model_dir/export)")
    parser.add_argument("--target", help="project: the image to find in the generator's latent space")
    parser.add_argument("--serve", action="store_true", help="gallery: also serve it on http://127.0.0.1:PORT")
    parser.add_argument("--port", type=int, default=8000, help="gallery --serve: port (default 8000)")
    parser.add_argument("--verbose", action="store_true", help="TensorFlow's INFO logs")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from trainer import config, run
    from trainer.data.schema import DataError
    from trainer.nan_policy import NonFiniteLoss
    tf.get_logger().setLevel(logging.INFO if args.verbose else logging.ERROR)
    try:
        cfg = config.for_mode(args.config, args.overrides, args.model_dir, args.mode)
        if args.mode == "train":
            step = run.train(cfg, args.model_dir)
            print(f"trained to step {step}; checkpoints and TensorBoard events in {args.model_dir}, "
                  f"sample grids in {os.path.join(args.model_dir, 'samples')}")
        elif args.mode == "evaluate":
            print(json.dumps(run.evaluate(cfg, args.model_dir), indent=2, sort_keys=True))
        elif args.mode == "train_and_evaluate":
            print(json.dumps(run.train_and_evaluate(cfg, args.model_dir), indent=2, sort_keys=True))
        elif args.mode == "predict":
            written = run.predict(cfg, args.model_dir, args.output_dir, input_dir=args.input_dir)
            print(f"wrote {written['count']} predictions: {written['grid']} and {written['index']}")
        elif args.mode == "export":
            print(f"exported SavedModel to {run.export(cfg, args.model_dir, args.export_dir)}")
        else:  # interpolate, project, neighbours, gallery
            from trainer.quality import modes
            for name, value in modes.run(args.mode, cfg, args.model_dir, target=args.target).items():
                print(f"{name}: {value}")
            if args.serve:
                modes.serve(args.model_dir, args.port)
    except (config.ConfigError, DataError) as e:  # a BadRecord is a DataError
        print(f"error: {e}", file=sys.stderr)
        return 2
    except NonFiniteLoss as e:
        print(f"error: {e}; the last good checkpoint is kept in {args.model_dir}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
