"""gs:// end to end against the local GCS emulator (the `gcs` fixture): the converter writing
straight to a bucket (in parallel, killed and resumed), training and resuming with data and
model_dir in the bucket, and predict/export to gs:// with the SavedModel loaded back from it.
Objects are listed with google-cloud-storage, independently of TensorFlow's gs:// code."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from datasets import make_dataset
from runs import ROOT, tiny_config
from test_convert_support import make_folder, record_set, records, run_cli
from trainer import checkpoints, run

CONVERTER = os.path.join(ROOT, "convert_to_tfrecords.py")


def objects(gcs, url):
    """Object names under gs://bucket/prefix, relative to it ('' for the prefix's own marker)."""
    bucket, _, prefix = url[len("gs://"):].partition("/")
    prefix = prefix.rstrip("/") + "/"
    return sorted(b.name[len(prefix):] for b in gcs.client.list_blobs(bucket, prefix=prefix))


def converter(gcs, *args, background=False):
    """convert_to_tfrecords.py in a subprocess that talks to the emulator (its env vars)."""
    env = {**os.environ, **gcs.env, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3",
           "GCS_STAT_CACHE_MAX_AGE": "0", "GCS_RETRY_CONFIG_MAX_RETRIES": "2",
           "GCS_READ_CACHE_BLOCK_SIZE_MB": "1"}  # not 64 MiB per opened object (~40 ms each)
    command = [sys.executable, CONVERTER, *map(str, args)]
    if background:  # own process group: SIGKILL reaches the decoding workers too
        return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def leftovers(names):
    return [n for n in names if n.startswith((".tmp-", ".progress")) or n.endswith(".tmp")]


def test_converter_writes_straight_to_gcs_with_workers_and_inspect_reads_it(gcs, tmp_path, capsys):
    source = make_folder(tmp_path / "in", 12)
    (tmp_path / "in" / "broken.png").write_bytes(b"not a png at all")
    out = gcs.bucket("convert") + "/ds"
    result = converter(gcs, "--input_dir", source, "--output_dir", out, "--size", 32,
                       "--examples_per_shard", 5, "--num_workers", 2)
    assert result.returncode == 0, result.stderr
    assert "wrote 12 examples in 3 shard(s)" in result.stdout and "1 of 13 files rejected" in result.stdout

    names = objects(gcs, out)
    shards = [n for n in names if n.endswith(".tfrecord")]
    assert shards == [f"train-{i:05d}-of-00003.tfrecord" for i in range(3)]
    assert {"dataset.json", "rejects.csv"} <= set(names) and leftovers(names) == []
    rejects = tf.io.gfile.GFile(out + "/rejects.csv").read()
    assert "broken.png" in rejects
    assert len(records(out)) == len(record_set(out)) == 12

    code, printed, _ = run_cli("--inspect", out, capsys=capsys)  # in this process: TF's gs://
    assert code == 0 and "contact_sheet.png" in objects(gcs, out)
    assert "12" in printed


def test_train_resume_predict_export_all_in_gcs(gcs):
    root = gcs.bucket("train")
    data, model_dir = make_dataset(root + "/data", 32, count=16), root + "/model"
    cfg = tiny_config("dcgan_32", data, "train_steps=2")
    assert run.train(cfg, model_dir) == 2

    names = objects(gcs, model_dir)
    assert "config.yaml" in names and "checkpoint" in names
    assert {"model.ckpt-2.index", "model.ckpt-2.data-00000-of-00001"} <= set(names)
    assert any(n.startswith("model.ckpt-2.data-") for n in names)
    assert any(n.startswith("events.out.tfevents.") for n in names)
    assert any(n.startswith("samples/") and n.endswith(".png") for n in names)

    assert run.train(cfg.replace(train_steps=4), model_dir) == 4  # a new estimator resumes at 2
    assert checkpoints.latest_step(model_dir) == 4
    assert "model.ckpt-4.index" in objects(gcs, model_dir)

    written = run.predict(cfg, model_dir, output_dir=root + "/predict")
    assert written["grid"].startswith("gs://") and tf.io.gfile.exists(written["grid"])
    assert "grid.png" in objects(gcs, root + "/predict")

    export_path = run.export(cfg, model_dir, root + "/export")
    assert export_path.startswith(root + "/export/")
    assert any(n.endswith("saved_model.pb") for n in objects(gcs, root + "/export"))
    serve = tf.saved_model.load(export_path).signatures["serving_default"]
    images = serve(noise=tf.random.normal([3, cfg["noise_dim"]]))["images"].numpy()
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8 and images.std() > 0


def test_converter_killed_mid_run_to_gcs_resumes_to_the_same_records(gcs, tmp_path):
    source = make_folder(tmp_path / "in", 120, size=(40, 36))
    args = ["--input_dir", source, "--size", 16, "--examples_per_shard", 4, "--num_workers", 2]
    out = gcs.bucket("resume") + "/ds"
    process = converter(gcs, *args, "--output_dir", out, background=True)
    try:
        _wait_for_done_records(gcs, out, count=3, process=process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    names = objects(gcs, out)
    assert "dataset.json" not in names, "finished before it could be killed"
    assert 0 < len([n for n in names if n.endswith(".tfrecord") and not n.startswith(".")]) < 30

    # --resume and the reference run in this process (saves two TensorFlow start-ups): the
    # reference is an uninterrupted run into a local folder (same bytes, faster)
    assert run_cli(*args, "--output_dir", out, "--resume")[0] == 0
    reference = tmp_path / "reference"
    assert run_cli(*args, "--output_dir", reference)[0] == 0

    assert record_set(out) == record_set(reference)
    assert len(records(out)) == len(record_set(out)) == 120
    names = objects(gcs, out)
    assert leftovers(names) == [], leftovers(names)
    assert [n for n in names if n.endswith(".tfrecord")] == sorted(
        n for n in os.listdir(reference) if n.endswith(".tfrecord"))
    for name in ("dataset.json", "train-00000-of-00030.tfrecord"):
        with tf.io.gfile.GFile(f"{out}/{name}", "rb") as f:
            assert f.read() == (reference / name).read_bytes(), name


def _wait_for_done_records(gcs, out, count, process, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"converter exited early: {process.communicate()[1].decode()[-500:]}")
        done = [n for n in objects(gcs, out) if n.startswith(".progress/") and n.endswith(".tfrecord.json")]
        if len(done) >= count:
            return
        time.sleep(0.02)
    raise AssertionError("the converter wrote no shards in time")
