"""convert_to_tfrecords.py --inspect: reads a converted folder through the trainer's input
pipeline, prints shapes, range, count and labels, and writes a contact sheet."""
import os

import numpy as np
from PIL import Image

from test_convert_support import gradient, make_folder, run_cli, save, side_by_side
from trainer.data import inspect_records

SIZE = 16
CELL = SIZE * inspect_records.cell_scale(SIZE)  # contact-sheet cells are enlarged


def test_inspect_images_prints_summary_and_writes_contact_sheet(tmp_path, capsys):
    make_folder(tmp_path / "in" / "cat", 3)
    make_folder(tmp_path / "in" / "dog", 2, start_seed=5)
    out = tmp_path / "out"
    assert run_cli("--input_dir", tmp_path / "in", "--output_dir", out, "--size", SIZE,
                   "--num_workers", 1, capsys=capsys)[0] == 0
    code, stdout, _ = run_cli("--inspect", out, capsys=capsys)
    assert code == 0
    assert "count 5 (manifest: 5)" in stdout
    assert "image: shape [16, 16, 3] dtype float32" in stdout
    assert "label: shape [] dtype int64" in stdout
    assert "labels {0 cat: 3, 1 dog: 2}" in stdout
    low, high = (float(v) for v in stdout.split("values in [")[1].split("]")[0].split(", "))
    assert -1.0 <= low < high <= 1.0
    sheet = np.asarray(Image.open(out / "contact_sheet.png"))
    assert sheet.shape[2] == 3 and sheet.shape[0] >= 2 * CELL and sheet.shape[1] >= 3 * CELL
    # the first cell is one of the converted images, not gap colour
    assert len(np.unique(sheet[2:2 + CELL, 2:2 + CELL].reshape(-1, 3), axis=0)) > 10


def test_inspect_paired_shows_a_beside_b(tmp_path, capsys):
    out = tmp_path / "out"
    run_cli("--mode", "paired", "--input_dir", side_by_side(tmp_path / "in", 1), "--output_dir", out,
            "--size", SIZE, "--num_workers", 1, capsys=capsys)
    sheet_path = tmp_path / "sheet.png"
    code, stdout, _ = run_cli("--inspect", out, "--inspect_out", sheet_path, capsys=capsys)
    assert code == 0 and "a: shape [16, 16, 3]" in stdout and "b: shape [16, 16, 3]" in stdout
    cell = np.asarray(Image.open(sheet_path))[2:2 + CELL, 2:2 + 2 * CELL].astype(int)
    assert np.abs(cell[:, :CELL] - (10, 0, 0)).max() <= 1  # A (red) on the left
    assert np.abs(cell[:, CELL:] - (0, 0, 10)).max() <= 1  # B (blue) on the right


def test_inspect_unpaired_reads_both_domains(tmp_path, capsys):
    for domain, count in (("A", 2), ("B", 3)):
        for i in range(count):
            save(tmp_path / domain / f"{i}.png", gradient(20, 20, seed=i))
    out = tmp_path / "out"
    run_cli("--mode", "unpaired", "--input_dir", tmp_path / "A", "--input_dir_b", tmp_path / "B",
            "--output_dir", out, "--size", SIZE, "--num_workers", 1, capsys=capsys)
    code, stdout, _ = run_cli("--inspect", out, capsys=capsys)
    assert code == 0
    assert "[a] count 2 (manifest: 2)" in stdout and "[b] count 3 (manifest: 3)" in stdout
    assert os.path.exists(out / "contact_sheet.png")


def test_inspect_of_a_folder_without_dataset_is_a_one_line_error(tmp_path, capsys):
    code, _, err = run_cli("--inspect", tmp_path, capsys=capsys)
    assert code == 1 and "no manifest found" in err and len(err.strip().splitlines()) == 1
