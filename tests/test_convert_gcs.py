"""The converter with a gs:// output folder (local GCS emulator, tests/conftest.py): write,
interrupt, resume, and --inspect all go through tf.io.gfile."""
import pytest
import tensorflow as tf

from test_convert_support import make_folder, run_cli, side_by_side
from trainer.data import convert, convert_output, schema
from trainer.data.convert_options import ConvertOptions

SIZE = 16


def gs_records(out: str) -> list:
    manifest = schema.read_manifest(out)
    return [raw for path in schema.shard_paths(out, manifest)
            for raw in tf.data.TFRecordDataset(path).as_numpy_iterator()]


def stop_after_first_shard(name):
    raise KeyboardInterrupt


def test_convert_interrupt_resume_and_inspect_on_gcs(gcs_bucket, tmp_path, capsys):
    source = make_folder(tmp_path / "in", 9)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    out, reference = f"{gcs_bucket}/data/faces", str(tmp_path / "reference")
    options = dict(input_dir=source, size=SIZE, examples_per_shard=3, num_workers=2)
    convert.convert(ConvertOptions(output_dir=reference, **options))
    with pytest.raises(KeyboardInterrupt):
        convert.convert(ConvertOptions(output_dir=out, **options),
                        on_shard_done=stop_after_first_shard)
    assert convert_output.shard_files(out) == ["train-00000-of-00003.tfrecord"]
    assert not convert_output.temp_files(out)
    code, stdout, err = run_cli("--input_dir", source, "--output_dir", out, "--size", SIZE,
                                "--examples_per_shard", 3, "--resume", capsys=capsys)
    assert code == 0, err
    assert gs_records(out) == gs_records(reference)
    assert convert_output.read_rejects(out) == convert_output.read_rejects(reference) != []
    assert not tf.io.gfile.exists(f"{out}/{convert_output.PROGRESS_DIR}")
    code, stdout, _ = run_cli("--inspect", out, capsys=capsys)
    assert code == 0 and "count 9 (manifest: 9)" in stdout
    assert tf.io.gfile.stat(f"{out}/contact_sheet.png").length > 0


def test_paired_overwrite_on_gcs(gcs_bucket, tmp_path, capsys):
    out = f"{gcs_bucket}/pairs"
    args = ["--mode", "paired", "--input_dir", side_by_side(tmp_path / "in", 3), "--output_dir",
            out, "--size", SIZE, "--num_workers", 1]
    assert run_cli(*args, capsys=capsys)[0] == 0
    assert run_cli(*args, capsys=capsys)[0] == 1
    assert run_cli(*args, "--overwrite", "--num_shards", 2, capsys=capsys)[0] == 0
    assert convert_output.shard_files(out) == ["train-00000-of-00002.tfrecord",
                                               "train-00001-of-00002.tfrecord"]
    assert schema.read_manifest(out)["num_examples"] == 3


@pytest.mark.parametrize("where", ["gs", "local"])
def test_json_files_replace_old_ones_and_leave_no_temporary_file(where, gcs_bucket, tmp_path):
    folder = f"{gcs_bucket}/meta" if where == "gs" else str(tmp_path / "meta")
    tf.io.gfile.makedirs(folder)
    path = f"{folder}/state.json"
    schema.write_json_atomically(path, {"shards": 1})
    schema.write_json_atomically(path, {"shards": 2, "name": "faces"})
    assert convert_output.read_json(path) == {"name": "faces", "shards": 2}
    assert tf.io.gfile.listdir(folder) == ["state.json"]
