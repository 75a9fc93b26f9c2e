"""The local GCS emulator (tests/gcs_emulator) through TensorFlow's own gs:// filesystem and
through google-cloud-storage: what the trainer relies on when model_dir or data live in gs://."""
import os
import socket
import time
from urllib.parse import urlparse

import numpy as np
import pytest
import tensorflow as tf

try:
    from tests.gcs_emulator import ALLOWED_HOSTS, start_emulator
except ModuleNotFoundError:  # tests/ itself is on sys.path (see conftest.py)
    from gcs_emulator import ALLOWED_HOSTS, start_emulator

gfile = tf.io.gfile


def _blob(client, url):
    """google-cloud-storage Blob for "gs://bucket/path"."""
    parsed = urlparse(url)
    return client.bucket(parsed.netloc).blob(parsed.path.lstrip("/"))


def test_gfile_directory_operations(gcs_bucket):
    root = gcs_bucket
    gfile.makedirs(f"{root}/a/b/c")
    assert gfile.isdir(f"{root}/a/b/c") and gfile.isdir(f"{root}/a")
    assert not gfile.exists(f"{root}/nope")
    for name in ("x.txt", "y.txt", "z.bin"):
        with gfile.GFile(f"{root}/a/{name}", "w") as f:
            f.write(name)
    assert sorted(gfile.listdir(f"{root}/a")) == ["b/", "x.txt", "y.txt", "z.bin"]  # GCS: "b/"
    assert sorted(gfile.glob(f"{root}/a/*.txt")) == [f"{root}/a/x.txt", f"{root}/a/y.txt"]
    assert gfile.stat(f"{root}/a/x.txt").length == len("x.txt")

    gfile.rename(f"{root}/a/x.txt", f"{root}/a/b/moved.txt")
    assert not gfile.exists(f"{root}/a/x.txt")
    with gfile.GFile(f"{root}/a/b/moved.txt") as f:
        assert f.read() == "x.txt"
    gfile.rename(f"{root}/a/y.txt", f"{root}/a/z.bin", overwrite=True)
    with gfile.GFile(f"{root}/a/z.bin") as f:
        assert f.read() == "y.txt"

    gfile.remove(f"{root}/a/z.bin")
    assert not gfile.exists(f"{root}/a/z.bin")
    gfile.rmtree(f"{root}/a")
    assert not gfile.exists(f"{root}/a") and gfile.listdir(root) == []


def test_few_mib_file_is_byte_exact_and_overwrite_is_seen(gcs_bucket):
    path = f"{gcs_bucket}/blob.bin"
    data = np.random.default_rng(0).bytes(5 * 2**20 + 123)  # not a multiple of any block size
    with gfile.GFile(path, "wb") as f:
        f.write(data)
    assert gfile.stat(path).length == len(data)
    with gfile.GFile(path, "rb") as f:
        assert f.read() == data
    with gfile.GFile(path, "rb") as f:  # ranged reads
        f.seek(3 * 2**20)
        assert f.read(1000) == data[3 * 2**20:3 * 2**20 + 1000]
    with gfile.GFile(path, "wb") as f:  # a shorter overwrite (GCS_STAT_CACHE_MAX_AGE=0)
        f.write(b"short")
    with gfile.GFile(path, "rb") as f:
        assert f.read() == b"short"


def test_tfrecord_round_trip(gcs_bucket):
    records = [os.urandom(n) for n in (0, 1, 1000, 100_000)]
    for compression in (None, "GZIP"):
        path = f"{gcs_bucket}/data-{compression}.tfrecord"
        with tf.io.TFRecordWriter(path, options=compression) as writer:
            for record in records:
                writer.write(record)
        read = [r.numpy() for r in tf.data.TFRecordDataset(path, compression_type=compression)]
        assert read == records


def test_checkpoint_manager_save_prune_restore(gcs_bucket):
    directory = f"{gcs_bucket}/model"
    step = tf.Variable(0, dtype=tf.int64)
    weights = tf.Variable(tf.zeros([64, 64]))
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(step=step, weights=weights), directory, max_to_keep=2)
    for i in range(1, 4):
        step.assign(i)
        weights.assign(tf.fill([64, 64], float(i)))
        manager.save(checkpoint_number=i)
    assert [os.path.basename(p) for p in manager.checkpoints] == ["ckpt-2", "ckpt-3"]
    assert not gfile.glob(f"{directory}/ckpt-1.*")  # pruned in gs:// too

    step2, weights2 = tf.Variable(0, dtype=tf.int64), tf.Variable(tf.zeros([64, 64]))
    restored = tf.train.Checkpoint(step=step2, weights=weights2)
    restored.restore(tf.train.latest_checkpoint(directory)).assert_consumed()
    assert int(step2.numpy()) == 3
    np.testing.assert_array_equal(weights2.numpy(), np.full([64, 64], 3.0, np.float32))


def test_summary_event_file_written_and_read_back(gcs_bucket):
    logdir = f"{gcs_bucket}/logs"
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        for step in range(3):
            tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
    writer.close()
    (event_file,) = gfile.glob(f"{logdir}/events.out.tfevents.*")
    values = {}
    for event in tf.compat.v1.train.summary_iterator(event_file):
        for value in event.summary.value:
            values[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
    assert values == pytest.approx({("loss", 0): 1.0, ("loss", 1): 0.5, ("loss", 2): 1 / 3})


def test_tensorflow_and_google_cloud_storage_see_each_others_objects(gcs, gcs_bucket):
    from_tf = f"{gcs_bucket}/dir/from_tf.bin"
    with gfile.GFile(from_tf, "wb") as f:
        f.write(b"written by tf")
    assert _blob(gcs.client, from_tf).download_as_bytes() == b"written by tf"

    from_client = f"{gcs_bucket}/dir/from_client.bin"
    _blob(gcs.client, from_client).upload_from_string(b"written by google-cloud-storage")
    with gfile.GFile(from_client, "rb") as f:
        assert f.read() == b"written by google-cloud-storage"
    assert sorted(gfile.listdir(f"{gcs_bucket}/dir")) == ["from_client.bin", "from_tf.bin"]
    names = {b.name for b in gcs.client.list_blobs(urlparse(gcs_bucket).netloc)}
    assert {"dir/from_tf.bin", "dir/from_client.bin"} <= names


def _proxy_reply(gcs, request):
    port = urlparse(gcs.env["HTTPS_PROXY"]).port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        return s.recv(4096).split(b"\r\n", 1)[0]


@pytest.mark.parametrize("request_bytes, status", [
    (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", b"403"),
    (b"CONNECT oauth2.googleapis.com:443 HTTP/1.1\r\n\r\n", b"403"),
    (b"CONNECT www.googleapis.com:80 HTTP/1.1\r\n\r\n", b"403"),
    (b"CONNECT 127.0.0.1:22 HTTP/1.1\r\n\r\n", b"403"),
    (b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", b"405"),
])
def test_proxy_refuses_everything_but_google_storage(gcs, request_bytes, status):
    assert _proxy_reply(gcs, request_bytes).split()[1] == status


def test_proxy_tunnels_only_the_storage_hosts(gcs):
    for host in ALLOWED_HOSTS:
        reply = _proxy_reply(gcs, f"CONNECT {host}:443 HTTP/1.1\r\n\r\n".encode())
        assert reply.split()[1] == b"200"


def test_start_emulator_outside_pytest_restores_env_and_stops(gcs):
    before = dict(os.environ)
    t0 = time.perf_counter()
    with start_emulator(set_env=True) as other:
        elapsed = time.perf_counter() - t0
        assert other.running and os.environ["STORAGE_EMULATOR_HOST"] == other.endpoint
        assert other.endpoint != gcs.endpoint
        bucket = other.bucket("bench")
        with gfile.GFile(f"{bucket}/x", "w") as f:  # TF now talks to the second emulator
            f.write("x")
        assert [b.name for b in other.client.list_buckets()] == [bucket[len("gs://"):]]
    assert not other.running
    assert dict(os.environ) == before
    assert elapsed < 5, f"emulator took {elapsed:.2f} s to start"


def test_cpu_seconds_counts_the_emulators_work(gcs, gcs_bucket):
    before = gcs.cpu_seconds()
    if before is None:
        pytest.skip("no /proc here")
    payload = os.urandom(16 << 20)
    for i in range(3):
        with tf.io.gfile.GFile(f"{gcs_bucket}/cpu/{i}", "wb") as f:
            f.write(payload)
    assert gcs.cpu_seconds() > before
