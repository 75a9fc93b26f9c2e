"""trainer.submit prints the gcloud commands that put a training run on a Cloud TPU VM, and
runs nothing unless --execute. A real Google Cloud CLI may be installed on this machine: every
test puts a fake `gcloud` first on PATH that records its calls, and asserts the record stays
absent. No test uses --execute except with input it must refuse before running anything."""
import os
import shlex
import subprocess
import sys

import pytest
import yaml

from runs import CONFIGS, ROOT
from trainer import config, progan_growth, submit
from trainer.models import progan
from trainer.models import progan_schedule as ps

DCGAN_64 = os.path.join(CONFIGS, "dcgan_64.yaml")
TPU = os.path.join(CONFIGS, "tpu.yaml")
BASE = ["--config", DCGAN_64, "--config", TPU, "--set", "train_data=gs://bkt/data64",
        "--model_dir", "gs://bkt/runs/dcgan64", "--tpu", "my-tpu", "--zone", "us-central1-b",
        "--project", "my-proj"]


@pytest.fixture
def fake_gcloud(tmp_path, monkeypatch):
    """PATH = one folder whose `gcloud` appends its arguments to a record file."""
    bin_dir, record = tmp_path / "bin", tmp_path / "gcloud_calls.txt"
    bin_dir.mkdir()
    script = bin_dir / "gcloud"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {shlex.quote(str(record))}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return record


def run(capsys, *argv):
    staged_before = os.path.exists(submit.STAGING)
    code = submit.main(list(argv))
    out, err = capsys.readouterr()
    assert os.path.exists(submit.STAGING) == staged_before, "a dry run must not build or write"
    return code, out, err


def gcloud_lines(out):
    """{verb: [argv, ...]} of the printed `gcloud compute tpus tpu-vm VERB ...` commands."""
    found = {}
    for line in out.splitlines():
        if line.startswith("gcloud "):
            argv = shlex.split(line)
            assert argv[:4] == ["gcloud", "compute", "tpus", "tpu-vm"], line
            found.setdefault(argv[4], []).append(argv)
    return found


def option(argv, name):
    return argv[argv.index(name) + 1]


def remote(argv):
    """The shell words of an ssh --command, as the TPU VM's shell splits them."""
    return shlex.split(option(argv, "--command"))


def test_dry_run_single_host_prints_every_step_and_runs_nothing(capsys, fake_gcloud):
    code, out, err = run(capsys, *BASE, "--accelerator_type", "v3-8", "--spot")
    assert code == 0, err
    cmds = gcloud_lines(out)
    (create,) = cmds["create"]
    assert create[5] == "my-tpu" and option(create, "--zone") == "us-central1-b"
    assert option(create, "--project") == "my-proj" and option(create, "--accelerator-type") == "v3-8"
    assert option(create, "--version") == "tpu-vm-tf-2.15.0-pjrt" and "--spot" in create
    assert "--preemptible" not in create

    (scp,) = cmds["scp"]
    assert "--worker=all" in scp and "my-tpu:gan-submit/" in scp
    assert [os.path.basename(a) for a in scp if a.startswith(submit.STAGING)] == [
        submit.wheel_name(), "constraints.txt", "config.yaml"]

    mkdir, install, start, tail = cmds["ssh"]
    assert all(option(c, "--zone") == "us-central1-b" and option(c, "--project") == "my-proj"
               for c in cmds["ssh"])
    assert "--worker=all" in mkdir and "--worker=all" in install
    words = remote(install)
    assert submit.wheel_name() in words and "--no-deps" in words and "-c" in words
    assert "constraints.txt" in words and not any(w.startswith("tensorflow") for w in words)

    assert "--worker=0" in start
    words = remote(start)
    train = words[words.index("python3"):words.index(">>")]
    assert train[:3] == ["python3", "-m", "trainer.task"]
    assert option(train, "--model_dir") == "gs://bkt/runs/dcgan64" and option(train, "--mode") == "train"
    assert [train[i + 1] for i, w in enumerate(train) if w == "--set"] == ["use_tpu=true", "tpu=local"]
    assert "nohup" in words and words[-1] == "&" and option(words, ">>") == "train.log"
    assert "TPU_LOAD_LIBRARY=0" not in words  # single host: the local TPU

    assert remote(tail)[:3] == ["tail", "-f", "gan-submit/train.log"]  # how to follow the log
    assert "tensorboard --logdir gs://bkt/runs/dcgan64" in out
    assert "--set use_tpu=false --mode predict" in out  # predicting on this machine, from gs://
    assert cmds["delete"] and "pip wheel" in out
    assert "train_data: gs://bkt/data64" in out  # the operative config it will ship
    assert not fake_gcloud.exists()


def test_dry_run_pod_slice_uses_pod_runtime_and_worker_0_client(capsys, fake_gcloud):
    code, out, err = run(capsys, *BASE, "--set", "num_shards=32", "--accelerator_type", "v3-32",
                         "--preemptible")
    assert code == 0, err
    (create,) = gcloud_lines(out)["create"]
    assert option(create, "--version") == "tpu-vm-tf-2.15.0-pod-pjrt"
    assert option(create, "--accelerator-type") == "v3-32" and "--preemptible" in create
    start = gcloud_lines(out)["ssh"][2]
    assert "--worker=0" in start
    words = remote(start)
    assert "TPU_LOAD_LIBRARY=0" in words
    sets = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    assert sets == ["use_tpu=true", "tpu=my-tpu", "zone=us-central1-b", "project=my-proj"]
    assert "4 host(s)" in out
    assert not fake_gcloud.exists()


def test_reuse_skips_create(capsys, fake_gcloud):
    code, out, _ = run(capsys, *BASE, "--reuse")
    assert code == 0 and "create" not in gcloud_lines(out) and "scp" in gcloud_lines(out)
    assert not fake_gcloud.exists()


@pytest.mark.parametrize("extra, message", [
    (["--set", "resolution=48"], "resolution"),
    (["--set", "no_such_key=1"], "unknown key 'no_such_key'"),
    (["--accelerator_type", "v4-8", "--set", "num_shards=8"], "num_shards=8 but a v4-8 has 4 TPU devices; --set num_shards=4"),
    (["--accelerator_type", "v5e-8"], "--accelerator_type 'v5e-8'"),
    (["--set", "train_batch_size=1020"], "train_batch_size=1020 is not a multiple of the 8"),
    (["--set", "train_data=", "--execute"], "train_data is not set"),
    (["--model_dir", "/tmp/runs/x", "--execute"], "--model_dir /tmp/runs/x: a TPU VM cannot read local paths"),
    (["--set", "train_data=/data/x", "--execute"], "train_data /data/x: a TPU VM cannot read local paths"),
])
def test_bad_input_is_one_line_exit_2_and_runs_nothing(capsys, fake_gcloud, extra, message):
    code, out, err = run(capsys, *BASE, *extra)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not fake_gcloud.exists()


def test_arguments_survive_both_shells(capsys, fake_gcloud):
    """The printed line is split by the local shell, its --command by the VM's shell."""
    odd = "gs://bkt/runs/it's a $HOME; rm -rf ~"
    code, out, _ = run(capsys, *BASE, "--model_dir", odd)
    start = gcloud_lines(out)["ssh"][2]
    words = remote(start)
    assert code == 0 and option(words, "--model_dir") == odd and words[-1] == "&"


def test_local_paths_are_fine_for_a_dry_run(capsys, fake_gcloud):
    code, out, _ = run(capsys, *BASE, "--model_dir", "/tmp/runs/x")
    assert code == 0 and "--model_dir /tmp/runs/x" in out


def test_cli_subprocess_exit_codes(tmp_path, fake_gcloud):
    """`python -m trainer.submit` as a user runs it: a refused --execute is one stderr line."""
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "trainer.submit", *BASE, "--model_dir", str(tmp_path / "m"), "--execute"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and "cannot read local paths" in result.stderr
    assert not fake_gcloud.exists()


def test_tpu_shapes():
    assert submit.tpu_shape("v2-8") == (8, 8, 1)
    assert submit.tpu_shape("v3-32") == (32, 32, 4)
    assert submit.tpu_shape("v4-8") == (8, 4, 1)  # megacore: one device per v4 chip
    assert submit.tpu_shape("v4-32") == (32, 16, 4)


PROGAN = ["--config", os.path.join(CONFIGS, "progan_128.yaml"), "--config", TPU,
          "--set", "train_data=gs://bkt/data128", "--model_dir", "gs://bkt/runs/progan128", "--tpu", "my-tpu",
          "--zone", "us-central1-b", "--project", "my-proj"]


def shipped(out, tmp_path, sets):
    """The config the TPU VM's `trainer.task --config config.yaml --set ...` builds from what the
    dry run says it ships."""
    lines = out.split("# dist/gan-submit/config.yaml will hold:\n", 1)[1].splitlines()
    text = "\n".join(line[len("#   "):] for line in lines if line.startswith("#   "))
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return config.build([str(path)], sets)


@pytest.mark.parametrize("accelerator, devices", [("v3-8", 8), ("v4-8", 4), ("v4-32", 16)])
def test_progan_128_on_tpu_every_stage_splits_over_the_devices_and_ends_on_a_loop(
        capsys, fake_gcloud, tmp_path, accelerator, devices):
    code, out, err = run(capsys, *PROGAN, "--accelerator_type", accelerator)
    assert code == 0, err
    words = remote(gcloud_lines(out)["ssh"][2])
    sets = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    cfg = shipped(out, tmp_path, sets)
    assert cfg["model"] == "progan" and cfg["use_tpu"] and cfg["precision"] == "bfloat16"
    loop = cfg["iterations_per_loop"]
    assert loop == 500 and all(cfg[key] % loop == 0 for key in config.LOOP_BOUNDARY_KEYS)
    sched = progan.schedule(cfg)
    assert sched.resolutions == (4, 8, 16, 32, 64, 128) and sched.iterations_per_loop == loop
    starts = ps.stage_starts(sched)  # each stage is its own graph: it starts and ends between loops
    assert all(start % loop == 0 for start in starts) and ps.growth_steps(sched) % loop == 0
    assert starts[1:] == (5000, 14500, 24000, 43000, 80500)  # README's per-stage table
    batches = [progan_growth.stage_config(cfg, i)["train_batch_size"] for i in range(len(starts))]
    assert batches == [128, 128, 128, 64, 32, 16]  # what each stage's TPUEstimator gets, not tpu.yaml's 1024
    assert all(b % devices == 0 for b in batches)


@pytest.mark.parametrize("extra, message", [
    # 32 devices: the 128x128 stage's batch of 16 cannot be split (it would fail after ~80k steps)
    (["--accelerator_type", "v3-32"], "progan_128.yaml: key 'progan_batch_sizes': the 128x128 stage's global batch "
                                      "16 is not a multiple of num_shards (32 TPU devices)"),
    (["--accelerator_type", "v3-32", "--set", "num_shards=32"], "the 128x128 stage's global batch 16"),
    (["--set", "progan_batch_sizes=4:12,8:128"], "--set: key 'progan_batch_sizes': the 4x4 stage's global batch 12"),
    (["--set", "save_checkpoints_steps=5100"], "key 'save_checkpoints_steps': 5100 is not a multiple of "
                                               "iterations_per_loop (500"),
    (["--set", "train_steps=200100"], "key 'train_steps': 200100 is not a multiple of iterations_per_loop (500"),
])
def test_progan_that_a_tpu_cannot_run_is_one_line_exit_2(capsys, fake_gcloud, extra, message):
    code, out, err = run(capsys, *PROGAN, *extra)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not fake_gcloud.exists()


def test_progan_stage_batches_are_checked_whenever_num_shards_is_known(tmp_path):
    """A stage without a progan_batch_sizes entry trains train_batch_size: the error names that key."""
    paths = [os.path.join(CONFIGS, "progan_32.yaml"), TPU]
    sets = ["progan_batch_sizes=4:64,8:64", "train_batch_size=36", "iterations_per_loop=100",
            "save_checkpoints_steps=500"]
    with pytest.raises(config.ConfigError, match=r"^--set: key 'train_batch_size': the 16x16 stage's global batch 36"):
        config.build(paths, sets + ["num_shards=8"])
    assert config.build(paths, sets + ["num_shards=4"])["num_shards"] == 4
    assert config.build(paths, sets)["num_shards"] is None  # unknown until the TPU says: gan-submit checks
    assert config.build(paths, sets + ["num_shards=8", "use_tpu=false"])  # CPU/GPU: no cores to split over
