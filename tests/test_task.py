"""The CLI as a user runs it (a real subprocess): exit codes, one-line errors without
tracebacks, the operative config stored in model_dir and reused by predict/export."""
import json
import os

import yaml

from datasets import make_dataset
from runs import TINY, run_cli

DCGAN_32 = os.path.join(os.path.dirname(TINY), "dcgan_32.yaml")


def assert_one_line_error(result, *parts):
    assert result.returncode == 2, result.stderr
    lines = [l for l in result.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for part in parts:
        assert part in lines[0], lines[0]


def test_bad_config_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: dcgan\nresolution: 48\n")
    result = run_cli("--config", str(bad), "--model_dir", str(tmp_path / "m"))
    assert_one_line_error(result, "bad.yaml", "resolution", "allowed: 32, 64, 128")


def test_missing_data_path_is_one_line_exit_2(tmp_path):
    result = run_cli("--config", DCGAN_32, "--config", TINY, "--set", f"train_data={tmp_path}/none",
                     "--model_dir", str(tmp_path / "m"))
    assert_one_line_error(result, "none/dataset.json", "no manifest found")


def test_train_then_predict_and_export_use_the_stored_config(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 32, count=8)
    model_dir = str(tmp_path / "m")
    result = run_cli("--config", DCGAN_32, "--config", TINY, "--set", f"train_data={data}",
                     "--set", "noise_dim=64", "--model_dir", model_dir, "--mode", "train")
    assert result.returncode == 0, result.stderr
    assert "samples" in result.stdout and model_dir in result.stdout
    stored = yaml.safe_load(open(os.path.join(model_dir, "config.yaml")))
    assert stored["noise_dim"] == 64 and stored["train_data"] == data

    # The anchor's bug: sampling with noise dim 100 against 64 in training. Here predict and
    # export take the architecture from model_dir even when the user passes the base config.
    result = run_cli("--config", DCGAN_32, "--model_dir", model_dir, "--mode", "predict",
                     "--output_dir", str(tmp_path / "p"))
    assert result.returncode == 0, result.stderr
    assert os.path.exists(tmp_path / "p" / "grid.png") and os.path.exists(tmp_path / "p" / "index.html")

    clash = run_cli("--config", DCGAN_32, "--set", "noise_dim=100", "--model_dir", model_dir, "--mode", "predict")
    assert_one_line_error(clash, "noise_dim", "trained with noise_dim=64")

    result = run_cli("--model_dir", model_dir, "--mode", "evaluate")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["global_step"] == 2
    assert json.load(open(os.path.join(model_dir, "metrics.json")))["latest"]["global_step"] == 2

    result = run_cli("--model_dir", model_dir, "--mode", "export")
    assert result.returncode == 0 and "exported SavedModel to" in result.stdout

    other = run_cli("--config", DCGAN_32, "--config", TINY, "--set", f"train_data={data}",
                    "--set", "resolution=64", "--model_dir", model_dir, "--mode", "train")
    assert_one_line_error(other, model_dir, "resolution=32 there vs 64 here")


def test_bad_record_during_training_is_one_line(tmp_path):
    import numpy as np
    from datasets import png, write_raw_records
    from test_input_pipeline import encode
    good = png(np.zeros((32, 32, 3), np.uint8))
    data = write_raw_records(str(tmp_path / "d"), [good] * 3 + [encode(np.zeros((32, 32), np.uint8))], 32)
    result = run_cli("--config", DCGAN_32, "--config", TINY, "--set", f"train_data={data}",
                     "--set", "train_steps=20", "--model_dir", str(tmp_path / "m"))
    assert_one_line_error(result, "BadRecord", "train-00000-of-00001.tfrecord", "bad/3.png", "wrong number of channels")


def test_predict_without_a_checkpoint_is_refused(tmp_path):
    result = run_cli("--config", DCGAN_32, "--model_dir", str(tmp_path / "empty"), "--mode", "predict")
    assert_one_line_error(result, "no checkpoint to predict from")
