"""Nothing lost: a trainer killed with SIGKILL resumes from its last checkpoint with the step
counter and learning-rate schedule continuing; a half-written checkpoint never breaks the
restart; a non-finite loss stops with one line naming the step and keeps the last good
checkpoint (or, with nan_policy: skip, is skipped and counted); no credential reaches logs."""
import glob
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from datasets import make_dataset
from runs import ROOT, TINY, checkpoint_values, run_cli, tiny_config
from trainer import checkpoints, run

DCGAN_32 = os.path.join(ROOT, "configs", "dcgan_32.yaml")


def scalar_events(model_dir, tag):
    """{step: value} for one scalar tag, per event file (newest file last)."""
    out = []
    for path in sorted(glob.glob(os.path.join(model_dir, "events.out.tfevents.*.v2")), key=os.path.getmtime):
        values = {}
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                if v.tag == tag:
                    values[event.step] = float(tf.make_ndarray(v.tensor))
        out.append(values)
    return out


def test_sigkill_mid_run_resumes_schedule_and_step(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 32, count=16)
    model_dir = str(tmp_path / "m")
    args = [sys.executable, "-m", "trainer.task", "--config", DCGAN_32, "--config", TINY,
            "--set", f"train_data={data}", "--set", "train_steps=80", "--set", "save_checkpoints_steps=5",
            "--set", "lr_decay_start_step=0", "--set", "keep_checkpoint_max=50",
            "--model_dir", model_dir, "--mode", "train"]
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while time.time() < deadline and checkpoints.latest_step(model_dir) < 15:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = checkpoints.latest_step(model_dir)
    assert 15 <= killed_at < 80
    first_run = scalar_events(model_dir, "learning_rate")
    last_logged = max(first_run[-1]) if first_run and first_run[-1] else killed_at
    assert last_logged - killed_at <= 5  # at most save_checkpoints_steps steps are redone

    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert checkpoint_values(model_dir)["global_step"] == 80
    resumed = scalar_events(model_dir, "learning_rate")[-1]
    assert min(resumed) == killed_at  # the restart began at the last checkpoint, not at 0
    for step in (killed_at, killed_at + 1, 79):  # the decay continued from the global step
        assert resumed[step] == pytest.approx(2e-4 * (1 - step / 80), rel=1e-5)


def test_half_written_checkpoint_falls_back_to_the_previous_one(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 32, count=8)
    cfg = tiny_config("dcgan_32", data, "train_steps=4", "save_checkpoints_steps=2")
    model_dir = str(tmp_path / "m")
    run.train(cfg, model_dir)
    data_file = glob.glob(os.path.join(model_dir, "model.ckpt-4.data-*"))[0]
    with open(data_file, "r+b") as f:  # a kill during the save of step 4
        f.truncate(os.path.getsize(data_file) // 3)
    os.remove(os.path.join(model_dir, "model.ckpt-4.index"))
    assert checkpoints.latest_step(model_dir) == 2
    assert run.train(cfg.replace(train_steps=6), model_dir) == 6


def test_time_budget_stops_with_a_checkpoint_and_the_next_run_goes_on(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 32, count=8)
    cfg = tiny_config("dcgan_32", data, "train_steps=1000", "save_checkpoints_steps=500",
                      "max_train_minutes=0")  # stop after the first step
    model_dir = str(tmp_path / "m")
    assert run.train(cfg, model_dir) == 1
    assert checkpoints.latest_step(model_dir) == 1  # saved at the stop, not at step 500
    assert run.train(cfg, model_dir) == 2


@pytest.fixture
def nan_plugin(monkeypatch):
    monkeypatch.setenv("TRAINER_MODEL_PLUGINS", "nan_dcgan=nan_model")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([ROOT, os.path.join(ROOT, "tests")]))


def test_non_finite_loss_stops_with_one_line_and_keeps_last_good_checkpoint(tmp_path, nan_plugin):
    data = make_dataset(str(tmp_path / "d"), 32, count=8)
    model_dir = str(tmp_path / "m")
    config = tmp_path / "nan.yaml"
    config.write_text("model: nan_dcgan\nresolution: 32\nnan_from_step: 3\n")
    result = subprocess.run(
        [sys.executable, "-m", "trainer.task", "--config", str(config), "--config", TINY,
         "--set", f"train_data={data}", "--set", "train_steps=10", "--model_dir", model_dir],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 3, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "NonFiniteLoss" in lines[0] and "step 3" in lines[0] and "d_loss" in lines[0]
    assert checkpoints.latest_step(model_dir) == 2
    values = checkpoint_values(model_dir)
    assert all(np.isfinite(v).all() for v in values.values() if v.dtype.kind == "f")


def test_nan_policy_skip_counts_and_keeps_weights_finite(tmp_path, nan_plugin):
    data = make_dataset(str(tmp_path / "d"), 32, count=8)
    from trainer import config
    cfg = config.build([TINY], ["model=nan_dcgan", "resolution=32", f"train_data={data}", "train_steps=6",
                                "nan_from_step=3", "nan_policy=skip", "save_checkpoints_steps=6"])
    model_dir = str(tmp_path / "m")
    assert run.train(cfg, model_dir) == 6
    values = checkpoint_values(model_dir)
    assert values["nonfinite_steps"] == 3  # steps 3, 4, 5
    assert all(np.isfinite(v).all() for v in values.values() if v.dtype.kind == "f")


def test_no_credential_reaches_logs_summaries_or_config(tmp_path, monkeypatch):
    secret = "ya29.SECRET-TOKEN-DO-NOT-LOG"
    monkeypatch.setenv("GOOGLE_AUTH_TOKEN_FOR_TESTING", secret)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", f"/tmp/{secret}.json")
    data = make_dataset(str(tmp_path / "d"), 32, count=8)
    model_dir = str(tmp_path / "m")
    result = run_cli("--config", DCGAN_32, "--config", TINY, "--set", f"train_data={data}",
                     "--model_dir", model_dir, "--verbose")
    assert result.returncode == 0, result.stderr[-2000:]
    assert secret not in result.stdout + result.stderr
    for path in glob.glob(os.path.join(model_dir, "**", "*"), recursive=True):
        if os.path.isfile(path):
            assert secret.encode() not in open(path, "rb").read(), path
