"""convert_to_tfrecords.py, images mode: odd inputs round-trip, bad ones land in rejects.csv,
labels come from class folders, reruns are byte-identical, and the output folder is protected."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from test_convert_support import (REPO, decode, gradient, json_file, listing, make_folder, manifest,
                                  records, rejects, run_cli, save, shard_bytes)
from trainer.data import convert_parallel, schema
from trainer.data.convert_parallel import ProgressLine

SIZE = 16


def odd_images(root) -> dict:
    """One file of each kind the converter must handle; returns {name: expected RGB at SIZE
    or None when only its shape is checked}."""
    root = str(root)
    save(f"{root}/gray.png", Image.fromarray(np.full((20, 20), 90, np.uint8), "L"))
    save(f"{root}/rgba.png", Image.new("RGBA", (20, 20), (0, 0, 0, 0)))
    save(f"{root}/la.png", Image.new("LA", (20, 20), (0, 0)))
    palette = Image.new("P", (20, 20), 0)
    palette.putpalette([9, 9, 9] + [0] * 765)
    save(f"{root}/palette.png", palette, transparency=0)
    save(f"{root}/cmyk.jpg", Image.new("CMYK", (20, 20), (0, 255, 255, 0)))
    save(f"{root}/deep.png", Image.fromarray(np.full((20, 20), 65535, np.uint16)))
    save(f"{root}/photo.jpg", gradient(30, 20, seed=1), quality=95)
    save(f"{root}/plain.png", gradient(20, 30, seed=2))
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, :20] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW: the red left half ends up on top
    save(f"{root}/rotated.jpg", Image.fromarray(wide), exif=exif.tobytes(), quality=95)
    return {"gray.png": (90, 90, 90), "rgba.png": (255, 255, 255), "la.png": (255, 255, 255),
            "palette.png": (255, 255, 255), "deep.png": (255, 255, 255)}


def bad_files(root) -> dict:
    """{name: words expected in its reject reason}"""
    root = str(root)
    os.makedirs(root, exist_ok=True)
    open(f"{root}/empty.png", "wb").close()
    with open(f"{root}/corrupt.png", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    jpeg = f"{root}/whole.jpg"
    save(jpeg, np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    with open(jpeg, "rb") as f:
        data = f.read()
    os.remove(jpeg)
    with open(f"{root}/truncated.jpg", "wb") as f:
        f.write(data[: len(data) // 2])
    with open(f"{root}/notes.txt", "w") as f:
        f.write("not a picture")
    save(f"{root}/tiny.png", np.zeros((4, 30, 3), np.uint8))
    return {"empty.png": "empty", "corrupt.png": "not an image", "truncated.jpg": "truncated",
            "notes.txt": "not an image file", "tiny.png": "too small"}


def test_round_trip_of_odd_images_with_rejects_accounted(tmp_path, capsys):
    expected = odd_images(tmp_path / "in")
    bad = bad_files(tmp_path / "in")
    out = tmp_path / "out"
    code, stdout, _ = run_cli("--input_dir", tmp_path / "in", "--output_dir", out, "--size", SIZE,
                              "--num_workers", 1, capsys=capsys)
    assert code == 0 and "wrote 9 examples" in stdout
    m = manifest(out)
    assert m["num_examples"] == 9 and m["num_found"] == 14 and m["num_rejected"] == 5
    assert m["num_files_written"] + m["num_rejected"] == m["num_found"]
    assert (m["height"], m["width"], m["channels"], m["mode"]) == (SIZE, SIZE, 3, "images")
    assert m["labels"] == {} and m["schema_version"] == schema.SCHEMA_VERSION
    assert sum(m["shard_sizes"]) == 9 and all(os.path.exists(out / s) for s in m["shards"])
    reasons = {os.path.basename(path): reason for path, reason in rejects(out).items()}
    assert set(reasons) == set(bad)
    for name, words in bad.items():
        assert words in reasons[name], (name, reasons[name])
    images = {r[schema.FILENAME]: decode(r[schema.ENCODED]) for r in records(out)}
    assert set(images) == {n.encode() for n in expected} | {
        b"cmyk.jpg", b"photo.jpg", b"plain.png", b"rotated.jpg"}
    for name, image in images.items():
        assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8, name
        if name.decode() in expected:
            assert np.abs(image.astype(int) - expected[name.decode()]).max() <= 1, name
    rotated = images[b"rotated.jpg"].astype(int)
    assert rotated[1, 8, 0] > 200 and rotated[1, 8, 1:].max() < 60  # red on top: rotated
    assert rotated[14, 8].max() < 60
    assert images[b"cmyk.jpg"][8, 8, 0] > 200 and images[b"cmyk.jpg"][8, 8, 1] < 60
    assert all(r[schema.LABEL] == -1 for r in records(out))


def test_class_folders_become_sorted_labels(tmp_path, capsys):
    make_folder(tmp_path / "in" / "zebra", 3, start_seed=0)
    make_folder(tmp_path / "in" / "ant" / "deeper", 2, start_seed=10)
    make_folder(tmp_path / "in" / ".hidden", 1, start_seed=20)
    save(tmp_path / "in" / "loose.png", gradient(20, 20))
    out = tmp_path / "out"
    code, _, _ = run_cli("--input_dir", tmp_path / "in", "--output_dir", out, "--size", SIZE,
                         "--num_workers", 1, capsys=capsys)
    assert code == 0
    m = manifest(out)
    assert m["labels"] == {"ant": 0, "zebra": 1}
    assert m["label_counts"] == {"0": 2, "1": 3}
    labels = {r[schema.FILENAME].decode(): r[schema.LABEL] for r in records(out)}
    assert labels == {"ant/deeper/img0000.png": 0, "ant/deeper/img0001.png": 0,
                      "zebra/img0000.png": 1, "zebra/img0001.png": 1, "zebra/img0002.png": 1}
    reasons = rejects(out)
    assert len(reasons) == 2 and all("class folder" in r for r in reasons.values())
    assert m["num_files_written"] + m["num_rejected"] == m["num_found"] == 7


def test_rerun_is_byte_identical_and_shards_follow_examples_per_shard(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(convert_parallel, "CHUNK_PIXEL_BYTES", SIZE * SIZE * 3)  # 4-task chunks
    assert convert_parallel.chunk_size(SIZE) == 4  # so two workers each return several chunks
    make_folder(tmp_path / "in", 23)
    outputs = []
    for name, workers in (("one", 1), ("two", 2)):
        out = tmp_path / name
        code, _, _ = run_cli("--input_dir", tmp_path / "in", "--output_dir", out, "--size", SIZE,
                             "--examples_per_shard", 5, "--num_workers", workers, capsys=capsys)
        assert code == 0
        outputs.append(out)
    first, second = (shard_bytes(out) for out in outputs)
    assert list(first) == [f"train-{i:05d}-of-00005.tfrecord" for i in range(5)]
    assert first == second
    assert open(outputs[0] / "dataset.json").read() == open(outputs[1] / "dataset.json").read()
    assert manifest(outputs[0])["shard_sizes"] == [4, 5, 4, 5, 5]
    order = [r[schema.FILENAME] for r in records(outputs[0])]
    assert order != sorted(order)  # seeded shuffle: shards mix the sorted file list


def test_num_shards_and_hosts_warning(tmp_path, capsys):
    make_folder(tmp_path / "in", 6)
    code, _, err = run_cli("--input_dir", tmp_path / "in", "--output_dir", tmp_path / "out",
                           "--size", SIZE, "--num_shards", 3, "--hosts", 2, "--num_workers", 1,
                           capsys=capsys)
    assert code == 0
    assert manifest(tmp_path / "out")["shards"] == [f"train-{i:05d}-of-00003.tfrecord" for i in range(3)]
    assert err.startswith("WARNING") and "--hosts 2" in err and "16" in err


def test_existing_dataset_is_refused_unless_overwrite(tmp_path, capsys):
    make_folder(tmp_path / "in", 4)
    out = tmp_path / "out"
    args = ["--input_dir", tmp_path / "in", "--output_dir", out, "--size", SIZE, "--num_workers", 1]
    assert run_cli(*args, capsys=capsys)[0] == 0
    before = shard_bytes(out)
    code, _, err = run_cli(*args, capsys=capsys)
    assert code == 1 and "already holds a dataset" in err and len(err.strip().splitlines()) == 1
    assert shard_bytes(out) == before
    code, _, _ = run_cli(*args, "--overwrite", "--num_shards", 2, capsys=capsys)
    assert code == 0 and list(shard_bytes(out)) == ["train-00000-of-00002.tfrecord",
                                                   "train-00001-of-00002.tfrecord"]
    code, stdout, _ = run_cli(*args, "--resume", "--num_shards", 2, capsys=capsys)
    assert code == 0 and "nothing to do" in stdout


@pytest.mark.parametrize("setup, message", [
    (lambda tmp: None, "no such folder"),
    (lambda tmp: (tmp / "in").mkdir(), "no usable image files"),
    (lambda tmp: bad_files(tmp / "in"), "none of the"),
])
def test_nothing_to_write_fails_with_one_line(tmp_path, capsys, setup, message):
    setup(tmp_path)
    code, _, err = run_cli("--input_dir", tmp_path / "in", "--output_dir", tmp_path / "out",
                           "--size", SIZE, "--num_workers", 1, capsys=capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "out" / "dataset.json")


def test_unwritable_output_fails_with_one_line(tmp_path, capsys):
    make_folder(tmp_path / "in", 2)
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli("--input_dir", tmp_path / "in", "--output_dir", tmp_path / "file" / "out",
                           "--size", SIZE, capsys=capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "file/out" in err


@pytest.mark.parametrize("args", [
    ["--size", "16"],
    ["--input_dir", "x", "--output_dir", "y", "--size", "4"],
    ["--input_dir", "x", "--output_dir", "y", "--size", "16", "--mode", "unpaired"],
    ["--input_dir", "x", "--output_dir", "y", "--size", "16", "--make_edges"],
    ["--input_dir", "x", "--output_dir", "y", "--size", "16", "--resume", "--overwrite"],
])
def test_usage_errors_exit_2(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(*args)
    assert exit_info.value.code == 2


def test_output_inside_input_is_refused(tmp_path, capsys):
    make_folder(tmp_path / "in", 2)
    code, _, err = run_cli("--input_dir", tmp_path / "in", "--output_dir", tmp_path / "in" / "out",
                           "--size", SIZE, capsys=capsys)
    assert code == 1 and "inside the input folder" in err


def test_nasty_names_never_write_outside_the_output_folder(tmp_path, capsys):
    source = tmp_path / "in"
    make_folder(source / "..evil", 1)
    save(source / "..%2f..%2fescape.png", gradient(20, 20))
    save(source / "-rf .png", gradient(20, 20, seed=5))
    os.symlink(str(tmp_path / "elsewhere"), str(source / "link_out"))  # dangling folder link
    os.symlink("/etc/hostname", str(source / "abs.png"))
    save(os.fsdecode(os.path.join(os.fsencode(str(source)), b"bad-\xff-utf8.png")), gradient(20, 20))
    before = set(listing(tmp_path)) - set(listing(tmp_path / "in"))
    out = tmp_path / "out"
    code, _, _ = run_cli("--input_dir", source, "--output_dir", out, "--size", SIZE,
                         "--num_workers", 1, capsys=capsys)
    assert code == 0
    after = {p for p in listing(tmp_path) if not p.startswith(("in", "out"))}
    assert after == {p for p in before if not p.startswith(("in", "out"))}
    assert sorted(os.listdir(out)) == ["dataset.json", "rejects.csv", "train-00000-of-00001.tfrecord"]
    names = {r[schema.FILENAME].decode() for r in records(out)}
    assert names == {"..evil/img0000.png", "..%2f..%2fescape.png", "-rf .png", "bad-\ufffd-utf8.png"}
    m = manifest(out)
    assert m["num_files_written"] + m["num_rejected"] == m["num_found"]


def test_progress_records_and_temp_files_are_gone_after_a_run(tmp_path, capsys):
    make_folder(tmp_path / "in", 5)
    run_cli("--input_dir", tmp_path / "in", "--output_dir", tmp_path / "out", "--size", SIZE,
            "--num_workers", 1, capsys=capsys)
    assert not [n for n in os.listdir(tmp_path / "out") if n.startswith(".")]
    assert json_file(tmp_path / "out" / "dataset.json")["plan"]["options"]["size"] == SIZE


def test_chunks_shrink_as_outputs_grow():
    sizes = [32, 64, 128, 256, 512, 1024]
    chunks = [convert_parallel.chunk_size(size) for size in sizes]
    assert chunks == sorted(chunks, reverse=True) and chunks[0] == 32 and chunks[-1] == 4
    assert all(c * s * s * 3 <= convert_parallel.CHUNK_PIXEL_BYTES for c, s in zip(chunks, sizes) if c > 4)


def test_progress_line_only_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        line = ProgressLine(4, stream)
        for _ in range(4):
            line.advance()
        line.close()
    assert log.getvalue() == ""
    assert "4/4 images" in terminal.getvalue() and "img/s" in terminal.getvalue()
    assert "ETA 0:00:00" in terminal.getvalue() and terminal.getvalue().endswith("\n")


def test_cli_module_does_not_import_tensorflow_at_import_time():
    """Spawned workers re-import the main script: it must stay light."""
    code = "import sys, convert_to_tfrecords; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
