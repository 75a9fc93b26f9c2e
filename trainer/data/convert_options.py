"""The converter's command-line flags and the frozen, validated options object built from them.

No TensorFlow here: the converter's worker processes are spawned, and a spawned child re-imports
the parent's main script, which imports this module.
"""
import argparse
import dataclasses
import os
from typing import Optional

from trainer.data.image_io import DEFAULT_EDGE_SIGMA, MIN_SIDE

MAX_SIZE = 4096


@dataclasses.dataclass(frozen=True)
class ConvertOptions:
    input_dir: str
    output_dir: str
    size: int
    mode: str = "images"
    input_dir_b: Optional[str] = None
    make_edges: bool = False
    edge_sigma: float = DEFAULT_EDGE_SIGMA
    split_pairs: bool = False
    examples_per_shard: int = 1000
    num_shards: Optional[int] = None
    num_workers: int = 1
    seed: int = 0
    resume: bool = False
    overwrite: bool = False
    hosts: Optional[int] = None

    def plan_fields(self) -> dict:
        """What decides the record set: a resumed run must match these exactly."""
        skip = {"output_dir", "num_workers", "resume", "overwrite", "hosts"}
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}
        for key in ("input_dir", "input_dir_b"):
            if fields[key]:
                fields[key] = os.path.abspath(fields[key])
        return fields


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convert_to_tfrecords.py",
        description="Convert a folder of images into sharded TFRecords plus dataset.json, or "
                    "check a converted folder with --inspect.")
    add = parser.add_argument
    add("--input_dir", help="folder of images, read recursively; in images mode its "
                            "sub-folders are classes (sorted names -> labels 0..n-1), else "
                            "labels are -1")
    add("--input_dir_b", help="paired: folder of B images matched to --input_dir by file-name "
                              "stem; unpaired: the B domain")
    add("--output_dir", help="where shards and dataset.json go (local path or gs://)")
    add("--size", type=int, help="output side in pixels (centre square crop, LANCZOS resize)")
    add("--mode", choices=("images", "paired", "unpaired"), default="images",
        help="images: one image per record; paired: A and B per record (A|B side-by-side files, "
             "two folders, or --make_edges); unpaired: domains a and b (default: images)")
    add("--make_edges", action="store_true",
        help="paired: A = Canny edge map of each photo in --input_dir, B = the photo")
    add("--edge_sigma", type=float, default=DEFAULT_EDGE_SIGMA, help="Canny sigma (pixels)")
    add("--split_pairs", action="store_true",
        help="unpaired: split side-by-side A|B files of --input_dir into domains a and b")
    add("--examples_per_shard", type=int, default=1000, help="(default: 1000)")
    add("--num_shards", type=int, help="fixed shard count per record set (overrides "
                                       "--examples_per_shard)")
    add("--num_workers", type=int, default=os.cpu_count() or 1,
        help="decoding processes (default: all cores)")
    add("--seed", type=int, default=0, help="seed of the fixed shuffle of examples into shards")
    add("--resume", action="store_true", help="finish an interrupted conversion into --output_dir")
    add("--overwrite", action="store_true", help="replace a dataset already in --output_dir")
    add("--hosts", type=int,
        help="TPU hosts that will read this; warns when there are fewer than 8 shards per host")
    add("--inspect", metavar="DATA_DIR",
        help="read DATA_DIR back through the trainer's input pipeline and write a contact sheet")
    add("--inspect_out", metavar="PNG", help="contact sheet path (default DATA_DIR/contact_sheet.png)")
    return parser


def parse_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ConvertOptions:
    """Checks flag combinations (parser.error exits 2) and freezes them."""
    _require(parser, args.input_dir and args.output_dir and args.size,
             "--input_dir, --output_dir and --size are required (or use --inspect DATA_DIR)")
    _require(parser, MIN_SIDE <= args.size <= MAX_SIZE,
             f"--size {args.size}; expected {MIN_SIDE}..{MAX_SIZE}")
    _check_mode_flags(parser, args)
    _require(parser, args.examples_per_shard >= 1, "--examples_per_shard must be >= 1")
    _require(parser, args.num_shards is None or args.num_shards >= 1, "--num_shards must be >= 1")
    _require(parser, args.num_workers >= 1, "--num_workers must be >= 1")
    _require(parser, args.hosts is None or args.hosts >= 1, "--hosts must be >= 1")
    _require(parser, args.edge_sigma > 0, "--edge_sigma must be > 0")
    _require(parser, not (args.resume and args.overwrite), "use --resume or --overwrite, not both")
    fields = {f.name for f in dataclasses.fields(ConvertOptions)}
    return ConvertOptions(**{k: v for k, v in vars(args).items() if k in fields})


def _check_mode_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    mode = args.mode
    _require(parser, not args.make_edges or mode == "paired", "--make_edges needs --mode paired")
    _require(parser, not args.split_pairs or mode == "unpaired",
             "--split_pairs needs --mode unpaired")
    _require(parser, not (args.make_edges and args.input_dir_b),
             "--make_edges reads photos from --input_dir only; drop --input_dir_b")
    _require(parser, not (args.split_pairs and args.input_dir_b),
             "--split_pairs reads side-by-side files from --input_dir only; drop --input_dir_b")
    _require(parser, mode != "images" or not args.input_dir_b,
             "--input_dir_b needs --mode paired or unpaired")
    _require(parser, mode != "unpaired" or args.input_dir_b or args.split_pairs,
             "--mode unpaired needs --input_dir_b (domain b) or --split_pairs")


def _require(parser: argparse.ArgumentParser, condition, message: str) -> None:
    if not condition:
        parser.error(message)
