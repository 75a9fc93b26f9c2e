"""Dataset folders in the pix2pix / CycleGAN layouts, and picking one split of them (--split).

pytorch-CycleGAN-and-pix2pix and pix2pix-tensorflow ship datasets as one folder per split:
  aligned (pix2pix)     facades/train/, facades/val/, facades/test/     (A|B side-by-side files)
  unaligned (CycleGAN)  horse2zebra/trainA/, trainB/, testA/, testB/    (one folder per domain)
and torchvision-style class folders often sit one level down (photos/train/<class>/...).
Read recursively, such a root silently merges train, val and test (and in images mode turns
them into classes). So a root whose sub-folders include split folders is refused unless --split
names the split to convert (`--split all` keeps the whole tree on purpose); the chosen split's
folder(s) then become the input folder(s), and every file in them is written or rejected.

No TensorFlow here: convert_options uses this while parsing flags.
"""
import dataclasses
import os
from typing import List, Optional, Tuple

SPLIT_NAMES = ("train", "val", "valid", "validation", "test")
ALL = "all"


class LayoutError(ValueError):
    """The folder layout and the flags disagree; str(error) is one line naming the folder."""


@dataclasses.dataclass(frozen=True)
class Layout:
    root: str
    splits: Tuple[str, ...]          # split folders: train, val, ... (aligned layout)
    domain_folders: Tuple[str, ...]  # trainA, trainB, testA, ... (unaligned layout)

    def folders(self) -> str:
        """'testA/, testB/, trainA/, trainB/' for messages."""
        return ", ".join(f"{name}/" for name in sorted(self.splits + self.domain_folders))

    def split_names(self) -> List[str]:
        found = set(self.splits) | {name[:-1] for name in self.domain_folders}
        return sorted(found, key=lambda name: (_rank(name), name))

    def choices(self) -> str:
        """'--split train (or --split test)'."""
        names = self.split_names()
        others = "".join(f" (or --split {', --split '.join(names[1:])})" if len(names) > 1 else "")
        return f"--split {names[0]}{others}"


def _rank(name: str) -> int:
    lower = name.lower()
    return SPLIT_NAMES.index(lower) if lower in SPLIT_NAMES else len(SPLIT_NAMES)


def _subfolders(root: str) -> List[str]:
    return sorted(name for name in os.listdir(root)
                  if not name.startswith(".") and os.path.isdir(os.path.join(root, name))
                  and not os.path.islink(os.path.join(root, name)))


def detect(root: Optional[str]) -> Optional[Layout]:
    """The split folders directly below root, or None when it has none (or is no folder)."""
    if not root or not os.path.isdir(root):
        return None
    names = _subfolders(root)
    splits = tuple(n for n in names if n.lower() in SPLIT_NAMES)
    domains = tuple(n for n in names if n[-1:] in ("A", "B") and n[:-1].lower() in SPLIT_NAMES)
    return Layout(root, splits, domains) if splits or domains else None


def resolve(mode: str, input_dir: str, input_dir_b: Optional[str], split: Optional[str],
            split_pairs: bool = False) -> Tuple[str, Optional[str]]:
    """-> (input_dir, input_dir_b) to read: the split's folders when the roots are in a split
    layout. LayoutError when a root holds several splits and --split is missing, or when --split
    names a split that is not there."""
    if split == ALL:
        if mode == "unpaired" and not input_dir_b and not split_pairs:
            raise LayoutError(f"{input_dir}: --split all cannot make domains a and b; pick one split "
                              "with --split NAME")
        return input_dir, input_dir_b
    layout = detect(input_dir)
    if layout and layout.domain_folders:
        return _domains(layout, mode, input_dir_b, split, split_pairs)
    resolved = _split_folder(input_dir, layout, split)
    if mode == "unpaired" and not input_dir_b and not split_pairs:
        raise LayoutError(f"{resolved}: --mode unpaired needs domains a and b: the CycleGAN layout "
                          f"({split or 'train'}A/, {split or 'train'}B/), --input_dir_b, or "
                          "--split_pairs for A|B side-by-side files")
    resolved_b = _split_folder(input_dir_b, detect(input_dir_b), split) if input_dir_b else None
    return resolved, resolved_b


def _split_folder(root: str, layout: Optional[Layout], split: Optional[str]) -> str:
    if layout is None:
        if split is None:
            return root
        found = ", ".join(f"{n}/" for n in _subfolders(root)) if os.path.isdir(root) else ""
        raise LayoutError(f"{root}: --split {split} but no split folders there (expected "
                          f"{split}/ as in pix2pix/CycleGAN datasets; found {found or 'no sub-folders'})")
    if split is None:
        raise LayoutError(f"{root}: holds split folders {layout.folders()} (the pix2pix/CycleGAN "
                          f"layout), which would be merged; pick one with {layout.choices()}, or "
                          f"--split {ALL} to read the whole tree")
    if split not in layout.splits:
        raise LayoutError(f"{root}: no split folder {split}/; found {layout.folders()}; "
                          f"pick one with {layout.choices()}")
    return os.path.join(root, split)


def _domains(layout: Layout, mode: str, input_dir_b: Optional[str], split: Optional[str],
             split_pairs: bool) -> Tuple[str, str]:
    """The CycleGAN layout: only --mode unpaired, domains a and b from <split>A/ and <split>B/."""
    root = layout.root
    if mode != "unpaired" or split_pairs or input_dir_b:
        wrong = f"--mode {mode}" if mode != "unpaired" else (
            "--split_pairs" if split_pairs else "--input_dir_b")
        raise LayoutError(f"{root}: holds CycleGAN domain folders {layout.folders()} (unaligned A "
                          f"and B), which {wrong} cannot use; use --mode unpaired --input_dir "
                          f"{root} {layout.choices()} alone, or point --input_dir at one folder")
    if split is None:
        raise LayoutError(f"{root}: holds CycleGAN domain folders {layout.folders()}; pick a split "
                          f"with {layout.choices()} (domains a and b = <split>A/ and <split>B/)")
    a, b = split + "A", split + "B"
    if a not in layout.domain_folders or b not in layout.domain_folders:
        raise LayoutError(f"{root}: no {a}/ and {b}/ for --split {split}; found {layout.folders()}; "
                          f"pick one with {layout.choices()}")
    return os.path.join(root, a), os.path.join(root, b)
