"""The converter's command-line flags and the frozen, validated options objects built from them
(ConvertOptions for a conversion, IndexOptions for --index).

No TensorFlow here: the converter's worker processes are spawned, and a spawned child re-imports
the parent's main script, which imports this module.
"""
import argparse
import dataclasses
import os
from typing import Optional

from trainer.data import split_folders
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
    split: Optional[str] = None  # pix2pix/CycleGAN layouts: the split folder(s) to read

    def plan_fields(self) -> dict:
        """What decides the record set: a resumed run must match these exactly. (--split is in
        the input folders it picked; left out, plans made before it existed still match.)"""
        skip = {"output_dir", "num_workers", "resume", "overwrite", "hosts", "split"}
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}
        for key in ("input_dir", "input_dir_b"):
            if fields[key]:
                fields[key] = os.path.abspath(fields[key])
        return fields


@dataclasses.dataclass(frozen=True)
class IndexOptions:
    """--index DATA_DIR: check TFRecords already there and write their dataset.json."""
    data_dir: str
    split: Optional[str] = None  # the shard-name prefix to index when DATA_DIR holds several
    overwrite: bool = False
    num_workers: int = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convert_to_tfrecords.py",
        description="Convert a folder of images into sharded TFRecords plus dataset.json, "
                    "write dataset.json for TFRecords made by other tools with --index, or "
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
        help="decoding processes (--index: reading threads; default: all cores)")
    add("--seed", type=int, default=0, help="seed of the fixed shuffle of examples into shards")
    add("--resume", action="store_true", help="finish an interrupted conversion into --output_dir")
    add("--split", metavar="NAME",
        help="input folder in the pix2pix/CycleGAN layout (train/ val/ test/, or trainA/ trainB/ "
             "testA/ testB/ with --mode unpaired): convert this split only ('all': the whole "
             "tree); --index: the shard-name prefix (train, validation, ...) to index")
    add("--overwrite", action="store_true", help="replace a dataset (--index: a dataset.json) "
                                                 "already in --output_dir")
    add("--hosts", type=int,
        help="TPU hosts that will read this; warns when there are fewer than 8 shards per host")
    add("--index", metavar="DATA_DIR",
        help="check every TFRecord already in DATA_DIR (local or gs://; e.g. written by TF-Slim's "
             "build_imagenet_data.py) and write DATA_DIR/dataset.json so the trainer can read them")
    add("--inspect", metavar="DATA_DIR",
        help="read DATA_DIR back through the trainer's input pipeline and write a contact sheet")
    add("--inspect_out", metavar="PNG", help="contact sheet path (default DATA_DIR/contact_sheet.png)")
    return parser


def parse_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ConvertOptions:
    """Checks flag combinations (parser.error exits 2) and freezes them."""
    _require(parser, args.input_dir and args.output_dir and args.size,
             "--input_dir, --output_dir and --size are required (or use --index DATA_DIR or "
             "--inspect DATA_DIR)")
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
    if mode == "unpaired" and not (args.input_dir_b or args.split_pairs):
        _check_unpaired_layout(parser, args)


def _check_unpaired_layout(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--mode unpaired with one folder: it must be in the CycleGAN layout (trainA/ trainB/ ...)
    and --split must pick the split; else one line (no usage block) names what was found and
    the fix, exit code 2."""
    try:
        split_folders.resolve(args.mode, args.input_dir, None, args.split)
    except split_folders.LayoutError as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")


CONVERSION_ONLY = ("input_dir", "input_dir_b", "output_dir", "size", "make_edges", "split_pairs",
                   "num_shards", "resume", "hosts", "inspect")


def parse_index_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> IndexOptions:
    """--index DATA_DIR [--split NAME] [--overwrite] [--num_workers N]; other flags are refused."""
    conversion = [f"--{name}" for name in CONVERSION_ONLY if getattr(args, name)]
    _require(parser, not conversion, f"--index reads the records in DATA_DIR and writes only its "
                                     f"dataset.json; drop {', '.join(conversion)}")
    _require(parser, args.mode == "images", "--index works out the mode from the records; drop --mode")
    _require(parser, args.num_workers >= 1, "--num_workers must be >= 1")
    return IndexOptions(args.index, args.split, args.overwrite, args.num_workers)


def _require(parser: argparse.ArgumentParser, condition, message: str) -> None:
    if not condition:
        parser.error(message)
