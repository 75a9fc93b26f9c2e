"""--split: input folders in the pytorch-CycleGAN-and-pix2pix layouts (datasets/facades/{train,
val,test}/, datasets/horse2zebra/{trainA,trainB,testA,testB}/) are never merged silently: the
converter refuses them with one line naming the sub-folders found and --split, or converts the
split asked for, with every file of it written or in rejects.csv."""
import os

import numpy as np
import pytest

from test_convert_support import (gradient, make_folder, manifest, records, rejects, run_cli, save,
                                  side_by_side)
from trainer.data import schema

SIZE = 16


def convert(*args, capsys):
    return run_cli(*args, "--size", SIZE, "--num_workers", 1, capsys=capsys)


def one_line(code, err, expected_code=1):
    assert code == expected_code, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def facades(root) -> str:
    """pix2pix's aligned layout: A|B files in train/ (3 + a text file), val/ (2), test/ (1)."""
    for split, count in (("train", 3), ("val", 2), ("test", 1)):
        side_by_side(os.path.join(str(root), split), count)
    (root / "train" / "notes.txt").write_text("not an image")
    return str(root)


def horse2zebra(root) -> str:
    """CycleGAN's unaligned layout: trainA (3), trainB (4), testA (1), testB (2)."""
    for folder, count, level in (("trainA", 3, 30), ("trainB", 4, 220), ("testA", 1, 90), ("testB", 2, 160)):
        for i in range(count):
            save(os.path.join(str(root), folder, f"{i}.jpg"), np.full((20, 20, 3), level, np.uint8))
    return str(root)


def test_paired_root_is_refused_then_one_split_is_converted(tmp_path, capsys):
    root = facades(tmp_path / "facades")
    out = tmp_path / "out"
    code, _, err = convert("--mode", "paired", "--input_dir", root, "--output_dir", out, capsys=capsys)
    assert f"{root}: holds split folders test/, train/, val/" in one_line(code, err)
    assert "--split train (or --split val, --split test)" in err
    assert not os.path.exists(out / "dataset.json")

    code, stdout, err = convert("--mode", "paired", "--input_dir", root, "--split", "train",
                                "--output_dir", out, capsys=capsys)
    assert code == 0, err
    assert "wrote 3 examples" in stdout and "(split train)" in stdout
    m = manifest(out)
    assert (m["split"], m["source"], m["pairing"]) == ("train", os.path.join(root, "train"), "side_by_side")
    assert (m["num_found"], m["num_files_written"], m["num_rejected"]) == (4, 3, 1)
    assert list(rejects(out)) == [os.path.join(root, "train", "notes.txt")]
    assert {r[schema.FILENAME] for r in records(out)} == {f"pair{i:03d}.png".encode() for i in range(3)}

    code, _, _ = convert("--mode", "paired", "--input_dir", root, "--split", "val",
                         "--output_dir", tmp_path / "val", capsys=capsys)
    assert code == 0 and manifest(tmp_path / "val")["num_examples"] == 2
    code, _, _ = convert("--mode", "unpaired", "--split_pairs", "--input_dir", root, "--split", "test",
                         "--output_dir", tmp_path / "test", capsys=capsys)
    assert code == 0 and manifest(tmp_path / "test")["domains"]["b"]["num_examples"] == 1


def test_images_mode_root_with_split_folders_of_classes(tmp_path, capsys):
    root = tmp_path / "photos"  # torchvision style: photos/{train,val}/<class>/...
    make_folder(root / "train" / "cat", 2)
    make_folder(root / "train" / "dog", 3, start_seed=5)
    make_folder(root / "val" / "cat", 1, start_seed=9)
    code, _, err = convert("--input_dir", root, "--output_dir", tmp_path / "out", capsys=capsys)
    assert "holds split folders train/, val/" in one_line(code, err)
    code, _, err = convert("--input_dir", root, "--split", "train", "--output_dir", tmp_path / "out",
                           capsys=capsys)
    assert code == 0, err
    m = manifest(tmp_path / "out")
    assert m["labels"] == {"cat": 0, "dog": 1} and m["num_examples"] == 5 and m["num_rejected"] == 0
    code, _, err = convert("--input_dir", root, "--split", "all", "--output_dir", tmp_path / "all",
                           capsys=capsys)  # the whole tree on purpose: train/ and val/ are classes
    assert code == 0 and manifest(tmp_path / "all")["labels"] == {"train": 0, "val": 1}


def test_unpaired_root_makes_domains_of_one_split(tmp_path, capsys):
    root = horse2zebra(tmp_path / "horse2zebra")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        convert("--mode", "unpaired", "--input_dir", root, "--output_dir", out, capsys=capsys)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert f"{root}: holds CycleGAN domain folders testA/, testB/, trainA/, trainB/" in err
    assert "--split train (or --split test)" in err
    code, stdout, err = convert("--mode", "unpaired", "--input_dir", root, "--split", "train",
                                "--output_dir", out, capsys=capsys)
    assert code == 0, err
    m = manifest(out)
    assert m["domains"]["a"]["source"] == os.path.join(root, "trainA")
    assert m["domains"]["b"]["source"] == os.path.join(root, "trainB")
    assert (m["domains"]["a"]["num_examples"], m["domains"]["b"]["num_examples"]) == (3, 4)
    assert (m["num_found"], m["num_files_written"], m["num_rejected"], m["split"]) == (7, 7, 0, "train")
    assert all(np.asarray(__import__("PIL.Image").Image.open(
        __import__("io").BytesIO(r[schema.ENCODED]))).max() <= 31 for r in records(out, "a"))

    code, _, _ = convert("--mode", "unpaired", "--input_dir", root, "--split", "test",
                         "--output_dir", tmp_path / "test", capsys=capsys)
    assert code == 0 and manifest(tmp_path / "test")["domains"]["b"]["num_examples"] == 2


@pytest.mark.parametrize("args, words", [
    (["--mode", "images"], "holds CycleGAN domain folders testA/, testB/, trainA/, trainB/ (unaligned A "
                           "and B), which --mode images cannot use"),
    (["--mode", "paired", "--split", "train"], "which --mode paired cannot use"),
    (["--mode", "unpaired", "--split", "val"], "no valA/ and valB/ for --split val"),
])
def test_unpaired_root_with_other_modes_is_refused(tmp_path, capsys, args, words):
    root = horse2zebra(tmp_path / "horse2zebra")
    try:
        code, _, err = convert("--input_dir", root, *args, "--output_dir", tmp_path / "out", capsys=capsys)
    except SystemExit as e:  # unpaired with one folder is checked while parsing flags
        code, err = e.code, capsys.readouterr().err
    assert words in one_line(code, err, expected_code=2 if "unpaired" in args else 1)
    assert not os.path.exists(tmp_path / "out" / "dataset.json")


def test_two_folder_pairs_take_the_same_split_of_each(tmp_path, capsys):
    for split, count in (("train", 3), ("test", 1)):  # combine_A_and_B.py's input: A/<split>, B/<split>
        for i in range(count):
            save(tmp_path / "A" / split / f"{i}.png", gradient(20, 20, seed=i))
            save(tmp_path / "B" / split / f"{i}.png", gradient(20, 20, seed=50 + i))
    args = ["--mode", "paired", "--input_dir", tmp_path / "A", "--input_dir_b", tmp_path / "B"]
    code, _, err = convert(*args, "--output_dir", tmp_path / "out", capsys=capsys)
    assert "holds split folders test/, train/" in one_line(code, err)
    code, _, err = convert(*args, "--split", "train", "--output_dir", tmp_path / "out", capsys=capsys)
    assert code == 0, err
    m = manifest(tmp_path / "out")
    assert (m["num_examples"], m["num_found"], m["source_b"]) == (3, 6, str(tmp_path / "B" / "train"))


def test_split_of_a_plain_folder_or_a_missing_split_is_refused(tmp_path, capsys):
    make_folder(tmp_path / "plain" / "cats", 2)
    code, _, err = convert("--input_dir", tmp_path / "plain", "--split", "train", "--output_dir",
                           tmp_path / "out", capsys=capsys)
    assert "--split train but no split folders there" in one_line(code, err) and "cats/" in err
    root = facades(tmp_path / "facades")
    code, _, err = convert("--mode", "paired", "--input_dir", root, "--split", "validation",
                           "--output_dir", tmp_path / "out", capsys=capsys)
    assert "no split folder validation/; found test/, train/, val/" in one_line(code, err)
