"""Command line of the converter: image folder(s) -> sharded TFRecords + dataset.json, or
dataset.json for TFRecords other tools wrote (--index).

  python convert_to_tfrecords.py --input_dir photos --output_dir data/photos64 --size 64
  python convert_to_tfrecords.py --mode paired --input_dir datasets/facades --split train \
      --output_dir OUT --size 256
  python convert_to_tfrecords.py --index gs://bucket/imagenet-slim --split train   # others' records
  python convert_to_tfrecords.py --inspect data/photos64
The logic lives in trainer/data/convert.py (--index: index_records.py); `--help` lists every flag.
"""
import os
import sys

from trainer.data.convert_options import build_parser, parse_index_options, parse_options


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.index:
        options = parse_index_options(parser, args)
    else:
        options = None if args.inspect else parse_options(parser, args)
    # Imported only now: spawned decoding workers re-import this file and must not load TF.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # CUDA-plugin noise; our errors are ours
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")  # e.g. deprecation notices; the result line says what happened
    from trainer.data import convert, index_records, inspect_records, schema
    try:
        if args.index:
            index_records.report(index_records.index(options))
        elif options is None:
            inspect_records.inspect(args.inspect, args.inspect_out)
        else:
            convert.report(convert.convert(options), options.output_dir)
    except (schema.DataError, tf.errors.OpError, OSError) as e:
        message = e.message if isinstance(e, tf.errors.OpError) else str(e)
        print(f"{parser.prog}: error: {(message.strip().splitlines() or [''])[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; rerun with --resume to finish", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
