"""--resume after an interrupted conversion (Ctrl-C at a known shard, damaged leftovers, and a
real SIGKILL of the converter and its workers) gives exactly the records of an uninterrupted
run: same shards byte for byte, no duplicates, no temporary files left."""
import os
import signal
import subprocess
import sys
import time

import pytest

from test_convert_support import (REPO, make_folder, manifest, record_set, records, run_cli,
                                  shard_bytes)
from trainer.data import convert, convert_output
from trainer.data.convert_options import ConvertOptions

SIZE = 16


def options(source, out, **overrides) -> ConvertOptions:
    fields = dict(input_dir=str(source), output_dir=str(out), size=SIZE, examples_per_shard=4,
                  num_workers=1)
    fields.update(overrides)
    return ConvertOptions(**fields)


def interrupt_after(count: int):
    done = []

    def on_shard_done(name):
        done.append(name)
        if len(done) == count:
            raise KeyboardInterrupt

    return on_shard_done


def leftovers(out) -> list:
    return [n for n in os.listdir(out) if n.startswith(".")]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("resume") / "in", 30)


@pytest.fixture(scope="module")
def reference(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "out"
    convert.convert(options(source, out))
    return out


def test_interrupted_run_resumes_to_the_same_records(source, reference, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        convert.convert(options(source, out, num_workers=2), on_shard_done=interrupt_after(3))
    assert len(convert_output.shard_files(str(out))) == 3
    assert not convert_output.temp_files(str(out)) and not os.path.exists(out / "dataset.json")
    code, _, err = run_cli("--input_dir", source, "--output_dir", out, "--size", SIZE,
                           "--examples_per_shard", 4, "--num_workers", 1, capsys=capsys)
    assert code == 1 and "--resume" in err  # an unfinished run is not silently restarted
    code, _, _ = run_cli("--input_dir", source, "--output_dir", out, "--size", SIZE,
                         "--examples_per_shard", 4, "--num_workers", 2, "--resume", capsys=capsys)
    assert code == 0
    assert shard_bytes(out) == shard_bytes(reference)
    assert open(out / "dataset.json").read() == open(reference / "dataset.json").read()
    assert leftovers(out) == []


def test_resume_repairs_damaged_leftovers(source, reference, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        convert.convert(options(source, out), on_shard_done=interrupt_after(4))
    names = convert_output.shard_files(str(out))
    with open(out / names[1], "r+b") as f:  # a shard cut short after its done-record
        f.truncate(100)
    os.remove(convert_output.progress_path(str(out), names[2]))  # killed before its done-record
    with open(convert_output.tmp_path(str(out), "train-00005-of-00008.tfrecord"), "wb") as f:
        f.write(b"half a shard")
    calls = []
    convert.convert(options(source, out, resume=True), on_shard_done=calls.append)
    assert calls == [names[1], names[2]] + [f"train-{i:05d}-of-00008.tfrecord" for i in range(4, 8)]
    assert shard_bytes(out) == shard_bytes(reference)
    assert len(records(out)) == len(record_set(out)) == 30
    assert leftovers(out) == []


def test_resume_with_other_options_is_refused(source, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        convert.convert(options(source, out), on_shard_done=interrupt_after(1))
    code, _, err = run_cli("--input_dir", source, "--output_dir", out, "--size", 32,
                           "--examples_per_shard", 4, "--resume", capsys=capsys)
    assert code == 1 and "different size (16 then, 32 now)" in err and len(err.strip().splitlines()) == 1


KILL_ARGS = ["--size", 32, "--examples_per_shard", 5]


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """(source folder of 400 images, its uninterrupted conversion)"""
    root = tmp_path_factory.mktemp("many")
    source = make_folder(root / "in", 400, size=(64, 48))
    assert run_cli("--input_dir", source, *KILL_ARGS, "--output_dir", root / "reference",
                   "--num_workers", 2)[0] == 0
    return source, root / "reference"


@pytest.mark.parametrize("victims", ["group", "parent_only"])
def test_sigkill_mid_run_then_resume(many, tmp_path, victims):
    """group: the converter and its workers all get SIGKILL. parent_only: the workers must notice
    and exit by themselves (no orphans decoding for nobody)."""
    source, reference = many
    out = tmp_path / "out"
    args = ["--input_dir", source, *KILL_ARGS]
    command = [sys.executable, os.path.join(REPO, "convert_to_tfrecords.py"),
               *map(str, args), "--output_dir", str(out), "--num_workers", "2"]
    process = subprocess.Popen(command, cwd=REPO, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_done_records(out, count=3, process=process)
        assert len(_session_members(process.pid)) >= 3  # the converter and its 2 workers
        if victims == "group":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        _wait_until(lambda: not _session_members(process.pid), "workers outlived the converter")
    finally:
        _kill_session(process.pid)
    assert not os.path.exists(out / "dataset.json"), "finished before it could be killed"
    assert 0 < len(convert_output.shard_files(str(out))) < 80
    code, _, _ = run_cli(*args, "--output_dir", out, "--num_workers", 2, "--resume")
    assert code == 0
    assert record_set(out) == record_set(reference)
    assert len(records(out)) == len(record_set(out)) == 400
    assert shard_bytes(out) == shard_bytes(reference)
    assert leftovers(out) == [] and manifest(out)["num_examples"] == 400


def _session_members(session_id: int) -> list:
    """Live (non-zombie) processes of a session, from /proc (Linux)."""
    members = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session_id and fields[0] != "Z":
            members.append(int(pid))
    return members


def _kill_session(session_id: int) -> None:
    for pid in _session_members(session_id):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _wait_until(condition, message: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(message)
        time.sleep(0.05)


def _wait_for_done_records(out, count: int, process, timeout: float = 60.0) -> None:
    progress = out / convert_output.PROGRESS_DIR
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"converter exited early: {process.stderr.read().decode()[-500:]}")
        if os.path.isdir(progress) and len(os.listdir(progress)) > count:  # + plan.json
            return
        time.sleep(0.005)
    pytest.fail("converter wrote no shards in time")
