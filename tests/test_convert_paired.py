"""convert_to_tfrecords.py --mode paired (side by side, two folders, --make_edges) and
--mode unpaired (two folders, --split_pairs)."""
import os

import numpy as np

from test_convert_support import (decode, gradient, manifest, records, rejects, run_cli, save,
                                  side_by_side)
from trainer.data import schema

SIZE = 16


def level_of(name: bytes) -> int:
    return 10 * (int(os.path.splitext(name.decode())[0][-3:]) + 1)


def convert(*args, capsys):
    return run_cli(*args, "--size", SIZE, "--num_workers", 1, capsys=capsys)


def test_side_by_side_pairs_hold_a_and_b(tmp_path, capsys):
    source = side_by_side(tmp_path / "in", 5)
    save(tmp_path / "in" / "tall.png", gradient(40, 20))
    out = tmp_path / "out"
    code, _, err = convert("--mode", "paired", "--input_dir", source, "--output_dir", out,
                           capsys=capsys)
    assert code == 0 and "WARNING" not in err
    m = manifest(out)
    assert (m["mode"], m["pairing"], m["identical_pairs"]) == ("paired", "side_by_side", 0)
    assert m["num_examples"] == 5 and m["num_found"] == 6 and m["num_rejected"] == 1
    assert "side by side" in rejects(out)[os.path.join(source, "tall.png")]
    for r in records(out):
        level = level_of(r[schema.FILENAME])
        a, b = decode(r[schema.ENCODED]), decode(r[schema.ENCODED_B])
        assert a.shape == b.shape == (SIZE, SIZE, 3)
        assert np.abs(a.astype(int) - (level, 0, 0)).max() <= 1
        assert np.abs(b.astype(int) - (0, 0, level)).max() <= 1


def test_identical_halves_give_a_loud_warning(tmp_path, capsys):
    source = side_by_side(tmp_path / "in", 4, identical=True)
    code, _, err = convert("--mode", "paired", "--input_dir", source, "--output_dir",
                           tmp_path / "out", capsys=capsys)
    assert code == 0
    assert err.startswith("WARNING") and "identical in all 4 records" in err
    assert manifest(tmp_path / "out")["identical_pairs"] == 4


def test_two_folders_match_by_stem_and_unmatched_files_are_rejected(tmp_path, capsys):
    a_dir, b_dir = tmp_path / "A", tmp_path / "B"
    for i in range(4):
        save(a_dir / "sub" / f"x{i}.png", np.full((20, 20, 3), 10 * i, np.uint8))
        save(b_dir / "sub" / f"x{i}.jpg", np.full((20, 20, 3), 200 - 10 * i, np.uint8), quality=100)
    save(a_dir / "lonely_a.png", gradient(20, 20))
    save(b_dir / "lonely_b.png", gradient(20, 20))
    save(b_dir / "sub" / "x0.png", gradient(20, 20))  # second file with stem sub/x0 in B
    out = tmp_path / "out"
    code, _, _ = convert("--mode", "paired", "--input_dir", a_dir, "--input_dir_b", b_dir,
                         "--output_dir", out, capsys=capsys)
    assert code == 0
    m = manifest(out)
    assert m["pairing"] == "two_folders" and m["source_b"] == str(b_dir)
    assert (m["num_examples"], m["num_found"], m["num_rejected"], m["num_files_written"]) == (4, 11, 3, 8)
    reasons = rejects(out)
    assert reasons[str(a_dir / "lonely_a.png")].startswith(f"no partner in {b_dir}")
    assert reasons[str(b_dir / "lonely_b.png")].startswith(f"no partner in {a_dir}")
    assert "same name stem" in reasons[str(b_dir / "sub" / "x0.png")]
    for r in records(out):
        i = int(r[schema.FILENAME].decode()[-5])
        assert r[schema.FILENAME_B].decode() == f"sub/x{i}.jpg"
        assert np.abs(decode(r[schema.ENCODED]).astype(int) - 10 * i).max() <= 1
        assert np.abs(decode(r[schema.ENCODED_B]).astype(int) - (200 - 10 * i)).max() <= 2


def test_make_edges_writes_edge_maps_as_a_and_the_photo_as_b(tmp_path, capsys):
    for i in range(3):
        photo = np.full((SIZE, SIZE, 3), 40, np.uint8)
        photo[3 + i:12, 4:12] = (230, 200, 90)
        save(tmp_path / "in" / f"bag{i}.png", photo)
    out = tmp_path / "out"
    code, _, _ = convert("--mode", "paired", "--make_edges", "--edge_sigma", "1",
                         "--input_dir", tmp_path / "in", "--output_dir", out, capsys=capsys)
    assert code == 0
    m = manifest(out)
    assert m["edges"] == "canny sigma=1" and m["pairing"] == "edges"
    for r in records(out):
        i = int(r[schema.FILENAME].decode()[3])
        edges, photo = decode(r[schema.ENCODED]), decode(r[schema.ENCODED_B])
        np.testing.assert_array_equal(photo, np.asarray(
            __import__("PIL.Image").Image.open(tmp_path / "in" / f"bag{i}.png")))
        assert set(np.unique(edges)) == {0, 255} and (edges == 255).mean() > 0.7
        assert (edges[:, :, 0] == 0)[2 + i:5 + i, 4:12].any()  # the box's top border
        assert (edges[14:, :] == 255).all() and (edges[7:9, 7:9] == 255).all()  # flat areas


def test_unpaired_two_folders_make_two_domains(tmp_path, capsys):
    for i in range(3):
        save(tmp_path / "A" / f"a{i}.png", np.full((20, 20, 3), 30, np.uint8))
    for i in range(5):
        save(tmp_path / "B" / f"b{i}.png", np.full((20, 20, 3), 220, np.uint8))
    out = tmp_path / "out"
    code, _, _ = convert("--mode", "unpaired", "--input_dir", tmp_path / "A", "--input_dir_b",
                         tmp_path / "B", "--output_dir", out, "--examples_per_shard", 2,
                         capsys=capsys)
    assert code == 0
    m = manifest(out)
    assert m["domains"]["a"]["shards"] == ["a-00000-of-00002.tfrecord", "a-00001-of-00002.tfrecord"]
    assert m["domains"]["b"]["num_examples"] == 5 and len(m["domains"]["b"]["shards"]) == 3
    assert m["shards"] == m["domains"]["a"]["shards"] + m["domains"]["b"]["shards"]
    assert m["domains"]["a"]["source"] == str(tmp_path / "A") and m["num_examples"] == 8
    assert all(decode(r[schema.ENCODED]).max() == 30 for r in records(out, "a"))
    assert all(decode(r[schema.ENCODED]).min() == 220 for r in records(out, "b"))
    assert schema.ENCODED_B not in records(out, "b")[0]


def test_split_pairs_puts_b_halves_in_b_in_an_unrelated_order(tmp_path, capsys):
    source = side_by_side(tmp_path / "in", 20)
    out = tmp_path / "out"
    code, _, err = convert("--mode", "unpaired", "--split_pairs", "--input_dir", source,
                           "--output_dir", out, "--examples_per_shard", 8, capsys=capsys)
    assert code == 0 and "WARNING" not in err
    m = manifest(out)
    assert m["split_pairs"] and m["identical_pairs"] == 0
    assert (m["num_found"], m["num_files_written"], m["num_examples"]) == (20, 20, 40)
    a_records, b_records = records(out, "a"), records(out, "b")
    for r in a_records:
        assert np.abs(decode(r[schema.ENCODED]).astype(int) - (level_of(r[schema.FILENAME]), 0, 0)).max() <= 1
    a_levels = [level_of(r[schema.FILENAME]) for r in a_records]
    b_levels = []
    for r in b_records:  # B halves are pure blue at their pair's level: really the B half
        image = decode(r[schema.ENCODED]).astype(int)
        assert image[..., :2].max() <= 1
        b_levels.append(int(round(image[..., 2].mean())))
    assert sorted(b_levels) == sorted(a_levels)
    assert sum(x == y for x, y in zip(a_levels, b_levels)) <= 3  # no pairing by position
    a_names = {r[schema.FILENAME] for r in a_records}
    b_names = {r[schema.FILENAME] for r in b_records}
    assert len(b_names) == 20 and not a_names & b_names  # nor by name


def test_split_pairs_of_identical_halves_warns(tmp_path, capsys):
    source = side_by_side(tmp_path / "in", 3, identical=True)
    code, _, err = convert("--mode", "unpaired", "--split_pairs", "--input_dir", source,
                           "--output_dir", tmp_path / "out", capsys=capsys)
    assert code == 0 and err.startswith("WARNING")
    assert manifest(tmp_path / "out")["identical_pairs"] == 3
