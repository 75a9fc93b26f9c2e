"""How input files are found, labelled, paired and ordered into record sets.

Every entry found under an input folder ends up either in a record or in rejects.csv.

Finding: folders are walked recursively; files without an image extension are rejected ("not an
image file"); symbolic links to folders are not followed (a link loop cannot hang the walk) and
are rejected themselves. Symbolic links to files are read like files.

Labels (images mode), as torchvision's ImageFolder: the sorted names of the input folder's
immediate sub-folders (hidden ones, starting with ".", excluded) get labels 0..n-1, and every
image below a class folder, however deep, gets that folder's label. Without class folders every
image gets label -1 and `labels` is {}. With class folders, files directly in the input folder
(or in a hidden folder) are rejected: they belong to no class.

Pairing (paired mode with --input_dir_b): A and B files match by their path relative to their
folder without the extension (`x/1.jpg` matches `x/1.png`); unmatched files and second files
with the same stem are rejected, never dropped silently.

Split folders (--split, split_folders.py): an input folder in the pix2pix/CycleGAN layout
(train/ val/ test/, or trainA/ trainB/ testA/ testB/) is refused unless --split names the split;
the split's folder(s) are then the input folders, so the other splits are never read.

Order: sorted paths, then a permutation seeded by --seed and the record-set name, so shards mix
classes and, for unpaired data, domain b's order says nothing about domain a's.
"""
import dataclasses
import os
import random
from typing import Dict, List, Optional, Sequence, Tuple

from trainer.data import schema, split_folders
from trainer.data.decode_worker import EDGES, IMAGE, SIDE_BY_SIDE, TWO_FILES, Task

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".webp",
                              ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico"})

Reject = Tuple[str, str]  # (path, reason)

# How a set's records are built from a worker Result, and how many input files each one uses.
RECORD_IMAGE = "image"    # encoded only
RECORD_PAIR = "pair"      # encoded (A) and encoded_b (B)
RECORD_B_HALF = "b_half"  # encoded_b only, as an images-mode record (split_pairs domain b)


@dataclasses.dataclass(frozen=True)
class Item:
    task: Task
    filename: str
    filename_b: str = ""
    label: int = -1


@dataclasses.dataclass(frozen=True)
class RecordSet:
    prefix: str             # shard names start with it: train, a, b
    items: Tuple[Item, ...]
    record_kind: str
    files_per_record: int   # 0 for split_pairs domain b: its files were counted in domain a
    source: str


@dataclasses.dataclass(frozen=True)
class SourcePlan:
    record_sets: Tuple[RecordSet, ...]
    rejects: Tuple[Reject, ...]
    num_found: int
    labels: Dict[str, int]
    pairing: Optional[str] = None  # paired mode: side_by_side, two_folders or edges


@dataclasses.dataclass
class Listing:
    root: str
    files: List[str]  # image candidates, relative posix paths, sorted
    rejects: List[Reject]
    num_found: int


def printable(path: str) -> str:
    """A file name as valid UTF-8 for records, JSON and CSV (undecodable bytes become U+FFFD)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def list_images(root: str) -> Listing:
    if not os.path.isdir(root):
        raise schema.DataError(f"{root}: no such folder; expected a folder of images")
    files, rejects, found = [], [], 0
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            found += 1
            rel = os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
            if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                files.append(rel)
            else:
                rejects.append((os.path.join(folder, name), "not an image file (by its extension)"))
        for name in [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            found += 1
            rejects.append((os.path.join(folder, name), "symbolic link to a folder; not followed"))
    return Listing(root, sorted(files), rejects, found)


def class_folders(root: str) -> List[str]:
    return sorted(name for name in os.listdir(root)
                  if not name.startswith(".") and os.path.isdir(os.path.join(root, name))
                  and not os.path.islink(os.path.join(root, name)))


def labelled_items(listing: Listing) -> Tuple[List[Item], List[Reject], Dict[str, int]]:
    labels = {name: index for index, name in enumerate(class_folders(listing.root))}
    items, rejects = [], []
    for rel in listing.files:
        top = rel.split("/", 1)[0] if "/" in rel else None
        if not labels:
            items.append(Item(Task(IMAGE, _path(listing, rel)), printable(rel)))
        elif top in labels:
            items.append(Item(Task(IMAGE, _path(listing, rel)), printable(rel), label=labels[top]))
        else:
            rejects.append((_path(listing, rel), "not inside a class folder; expected "
                            f"{listing.root}/<class>/... because {listing.root} has class folders"))
    return items, rejects, {printable(k): v for k, v in labels.items()}


def matched_pairs(listing_a: Listing, listing_b: Listing) -> Tuple[List[Item], List[Reject]]:
    by_stem_a, rejects = _by_stem(listing_a)
    by_stem_b, rejects_b = _by_stem(listing_b)
    rejects += rejects_b
    items = []
    for stem in sorted(set(by_stem_a) | set(by_stem_b)):
        rel_a, rel_b = by_stem_a.get(stem), by_stem_b.get(stem)
        if rel_a and rel_b:
            task = Task(TWO_FILES, _path(listing_a, rel_a), _path(listing_b, rel_b))
            items.append(Item(task, printable(rel_a), printable(rel_b)))
        elif rel_a:
            rejects.append((_path(listing_a, rel_a), f"no partner in {listing_b.root} "
                            f"(expected {stem}.<ext> there)"))
        else:
            rejects.append((_path(listing_b, rel_b), f"no partner in {listing_a.root} "
                            f"(expected {stem}.<ext> there)"))
    return items, rejects


def _by_stem(listing: Listing) -> Tuple[Dict[str, str], List[Reject]]:
    by_stem, rejects = {}, []
    for rel in listing.files:
        stem = os.path.splitext(rel)[0]
        if stem in by_stem:
            rejects.append((_path(listing, rel), f"same name stem as {by_stem[stem]}; "
                            "expected one file per name"))
        else:
            by_stem[stem] = rel
    return by_stem, rejects


def _path(listing: Listing, rel: str) -> str:
    return os.path.join(listing.root, *rel.split("/"))


def _single_file_items(listing: Listing, kind: str) -> List[Item]:
    return [Item(Task(kind, _path(listing, rel)), printable(rel), printable(rel))
            for rel in listing.files]


def shuffled(items: Sequence[Item], seed: int, prefix: str) -> Tuple[Item, ...]:
    """Sorted items in a fixed pseudo-random order (same seed -> same order, on any Python)."""
    order = list(items)
    random.Random(f"{seed}:{prefix}").shuffle(order)
    return tuple(order)


def with_split_folders(options):
    """options (a ConvertOptions) reading the --split folder(s) of a pix2pix/CycleGAN layout;
    schema.DataError when a layout would be merged or the split is not there."""
    try:
        input_dir, input_dir_b = split_folders.resolve(options.mode, options.input_dir,
                                                       options.input_dir_b, options.split,
                                                       options.split_pairs)
    except split_folders.LayoutError as e:
        raise schema.DataError(str(e)) from None
    return dataclasses.replace(options, input_dir=input_dir, input_dir_b=input_dir_b)


def build_plan(options) -> SourcePlan:
    """options: a ConvertOptions. Raises schema.DataError for a missing input folder."""
    listing = list_images(options.input_dir)
    listing_b = list_images(options.input_dir_b) if options.input_dir_b else None
    if options.mode == "images":
        return _images_plan(listing, options.seed)
    if options.mode == "paired":
        return _paired_plan(listing, listing_b, options)
    return _unpaired_plan(listing, listing_b, options.seed)


def _images_plan(listing: Listing, seed: int) -> SourcePlan:
    items, rejects, labels = labelled_items(listing)
    record_set = RecordSet("train", shuffled(items, seed, "train"), RECORD_IMAGE, 1,
                           _source(listing))
    return SourcePlan((record_set,), tuple(listing.rejects + rejects), listing.num_found, labels)


def _paired_plan(listing: Listing, listing_b: Optional[Listing], options) -> SourcePlan:
    if listing_b is not None:
        items, rejects = matched_pairs(listing, listing_b)
        record_set = RecordSet("train", shuffled(items, options.seed, "train"), RECORD_PAIR, 2,
                               _source(listing))
        return SourcePlan((record_set,), tuple(listing.rejects + listing_b.rejects + rejects),
                          listing.num_found + listing_b.num_found, {}, "two_folders")
    kind, pairing = (EDGES, "edges") if options.make_edges else (SIDE_BY_SIDE, "side_by_side")
    items = shuffled(_single_file_items(listing, kind), options.seed, "train")
    record_set = RecordSet("train", items, RECORD_PAIR, 1, _source(listing))
    return SourcePlan((record_set,), tuple(listing.rejects), listing.num_found, {}, pairing)


def _unpaired_plan(listing: Listing, listing_b: Optional[Listing], seed: int) -> SourcePlan:
    if listing_b is None:  # --split_pairs: both domains come from the same side-by-side files
        items = _single_file_items(listing, SIDE_BY_SIDE)
        sets = (RecordSet("a", shuffled(items, seed, "a"), RECORD_IMAGE, 1, _source(listing)),
                RecordSet("b", shuffled(items, seed, "b"), RECORD_B_HALF, 0, _source(listing)))
        return SourcePlan(sets, tuple(listing.rejects), listing.num_found, {})
    sets = (RecordSet("a", shuffled(_single_file_items(listing, IMAGE), seed, "a"),
                      RECORD_IMAGE, 1, _source(listing)),
            RecordSet("b", shuffled(_single_file_items(listing_b, IMAGE), seed, "b"),
                      RECORD_IMAGE, 1, _source(listing_b)))
    return SourcePlan(sets, tuple(listing.rejects + listing_b.rejects),
                      listing.num_found + listing_b.num_found, {})


def _source(listing: Listing) -> str:
    return printable(os.path.abspath(listing.root))
