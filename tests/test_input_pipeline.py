"""Input pipeline: static shapes and [-1, 1] range, and bad records caught with a message that
names the file and what was expected (before the first step where possible); a bad data folder's
message names its config key (train_data or eval_data), and records resized to the model's
resolution are reported once."""
import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from datasets import make_dataset, png, write_raw_records
from runs import tiny_config
from trainer.data import input_pipeline, schema
from trainer.data.schema import DataError
from trainer.gan_model_fn import make_input_fn


def encode(array, mode=None):
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_batches_have_static_shapes_and_range(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 32, count=10)
    cfg = tiny_config("dcgan_32", data)
    ds = make_input_fn(cfg, "train")({"batch_size": 4})
    features, images = ds.element_spec
    assert images.shape.as_list() == [4, 32, 32, 3] and features["noise"].shape.as_list() == [4, 100]
    batch = next(iter(ds))[1].numpy()
    assert batch.min() >= -1.0 and batch.max() <= 1.0 and batch.std() > 0.1


def test_eval_repeats_and_never_returns_a_short_batch(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 32, count=6)
    cfg = tiny_config("dcgan_32", data)
    ds = make_input_fn(cfg, "eval")({"batch_size": 4})
    shapes = [b[1].shape[0] for b in ds.take(5)]
    assert shapes == [4] * 5


def test_decoded_values_match_what_was_written(tmp_path):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    data = write_raw_records(str(tmp_path / "d"), [png(image)], 8)
    example = next(iter(input_pipeline.load_examples(data)))
    np.testing.assert_allclose(example["image"].numpy(), image / 127.5 - 1.0, atol=1e-6)
    assert example["filename"].numpy() == b"bad/0.png"


def test_resolution_smaller_than_records_is_resized(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 64, count=4)
    cfg = tiny_config("dcgan_32", data)
    ds = make_input_fn(cfg, "train")({"batch_size": 2})
    assert ds.element_spec[1].shape.as_list() == [2, 32, 32, 3]


@pytest.mark.parametrize("make_bytes, expected", [
    (lambda: encode(np.zeros((16, 16), np.uint8)), "1 channel(s), expected 3"),
    (lambda: encode(np.zeros((16, 16, 4), np.uint8)), "4 channel(s), expected 3"),
    (lambda: encode(np.zeros((48, 16), np.uint8)), "1 channel(s), expected 3"),  # stacked planes
    (lambda: encode(np.zeros((8, 8, 3), np.uint8)), "decodes to 8x8x3, expected 16x16x3"),
    (lambda: b"not an image at all", "not a decodable PNG/JPEG"),
])
def test_bad_first_record_is_refused_before_training(tmp_path, make_bytes, expected):
    data = write_raw_records(str(tmp_path / "d"), [make_bytes()], 16)
    with pytest.raises(DataError) as info:
        input_pipeline.load_examples(data)
    message = str(info.value)
    assert expected in message and "train-00000-of-00001.tfrecord" in message and "\n" not in message


def test_bad_record_later_in_a_shard_names_shard_and_record(tmp_path):
    good = png(np.zeros((16, 16, 3), np.uint8))
    gray = encode(np.zeros((16, 16), np.uint8))
    data = write_raw_records(str(tmp_path / "d"), [good, good, gray], 16)
    ds = input_pipeline.load_examples(data)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        list(ds)
    message = str(info.value)
    assert "BadRecord" in message and "train-00000-of-00001.tfrecord" in message
    assert "bad/2.png" in message and "wrong number of channels" in message


def smooth_image(size=16):
    yy, xx = np.mgrid[0:size, 0:size]
    return np.stack([yy * 8, xx * 8, (yy + xx) * 4], axis=-1).astype(np.uint8)


def test_raw_hwc_records_decode_exactly(tmp_path):
    image = smooth_image()
    data = write_raw_records(str(tmp_path / "d"), [image.tobytes()], 16, image_format="raw")
    example = next(iter(input_pipeline.load_examples(data)))
    np.testing.assert_allclose(example["image"].numpy(), image / 127.5 - 1.0, atol=1e-6)


def test_raw_chw_records_are_refused_as_channels_first(tmp_path):
    chw = smooth_image().transpose(2, 0, 1).tobytes()  # CIFAR's binary layout
    data = write_raw_records(str(tmp_path / "d"), [chw], 16, image_format="raw")
    with pytest.raises(DataError, match=r"looks like CHW \(channels first\).*transpose\(1, 2, 0\)"):
        input_pipeline.load_examples(data)


def test_raw_record_of_wrong_length_later_in_shard(tmp_path):
    good = smooth_image().tobytes()
    data = write_raw_records(str(tmp_path / "d"), [good, good[:-3]], 16, image_format="raw")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"BadRecord.*bad/1.png.*raw bytes"):
        list(input_pipeline.load_examples(data))


def test_missing_feature_is_named(tmp_path):
    data = write_raw_records(str(tmp_path / "d"), [png(np.zeros((8, 8, 3), np.uint8))], 8,
                             drop_feature=schema.ENCODED)
    with pytest.raises(DataError, match="lacks feature.*image/encoded"):
        input_pipeline.load_examples(data)


def test_truncated_shard_is_named(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 16, count=6, shards=1)
    shard = os.path.join(data, "train-00000-of-00001.tfrecord")
    size = os.path.getsize(shard)
    with open(shard, "r+b") as f:
        f.truncate(size - 10)
    with pytest.raises(DataError, match="train-00000-of-00001.tfrecord: truncated shard"):
        input_pipeline.load_examples(data)


def test_missing_manifest_shard_and_empty_list(tmp_path):
    with pytest.raises(DataError, match="no manifest found"):
        input_pipeline.load_examples(str(tmp_path / "nothing"))
    data = make_dataset(str(tmp_path / "d"), 16, count=4)
    os.remove(os.path.join(data, "train-00001-of-00002.tfrecord"))
    with pytest.raises(DataError, match="train-00001-of-00002.tfrecord: shard listed in the manifest is missing"):
        input_pipeline.load_examples(data)
    manifest = schema.read_manifest(data)
    schema.write_manifest(data, {**manifest, "shards": []})
    with pytest.raises(DataError, match="lists no shards"):
        input_pipeline.load_examples(data)


def test_manifest_with_wrong_channels_is_refused(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 16, count=2)
    manifest = schema.read_manifest(data)
    schema.write_manifest(data, {**manifest, "channels": 1})
    with pytest.raises(DataError, match="channels 1; expected 3"):
        input_pipeline.load_examples(data)


def test_model_needing_other_records_is_told_which(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 16, count=2)
    with pytest.raises(DataError, match="images dataset; this model needs paired records"):
        input_pipeline._check_mode("paired", schema.read_manifest(data), data)


def test_paired_records_read_as_both_images(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 16, count=4, mode="paired")
    example = next(iter(input_pipeline.load_examples(data)))
    np.testing.assert_allclose(example["b"].numpy(), -example["a"].numpy(), atol=1e-5)  # B = inverted A
    as_images = next(iter(input_pipeline.load_examples(data, paired=False)))
    assert set(as_images) == {"image", "label", "filename"}


def test_unpaired_domains_are_separate_streams(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 16, count=4, mode="unpaired")
    a = next(iter(input_pipeline.load_examples(data, "a")))["filename"].numpy()
    b = next(iter(input_pipeline.load_examples(data, "b")))["filename"].numpy()
    assert a.startswith(b"a/") and b.startswith(b"b/")
    with pytest.raises(DataError, match="pick domain"):
        input_pipeline.load_examples(data)


class FakeHostContext:
    """The two attributes of TPUContext that per-host sharding reads."""
    def __init__(self, num_hosts, host):
        self.num_hosts = num_hosts
        self._host = host

    def current_input_fn_deployment(self):
        return ("/job:worker/task:%d" % self._host, self._host, 1)


def host_names(data, num_hosts, host, training=False, take=None):
    ds = input_pipeline.load_examples(data, training=training, context=FakeHostContext(num_hosts, host))
    return [ex["filename"].numpy() for ex in (ds.take(take) if take else ds)]


def test_multi_host_with_enough_shards_reads_only_its_own_files(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 16, count=10, shards=4)  # files of 3, 3, 3 and 1 records
    files = [[f"img/{i}.png".encode() for i in range(lo, min(lo + 3, 10))] for lo in range(0, 12, 3)]
    for host in range(2):
        names = host_names(data, 2, host)
        assert sorted(names) == sorted(files[host] + files[host + 2])  # files.shard(2, host): files host, host+2


@pytest.mark.parametrize("shards, num_hosts", [(1, 2), (1, 4), (3, 4)])
def test_multi_host_with_fewer_shards_than_hosts_shards_records(tmp_path, shards, num_hosts):
    data = make_dataset(str(tmp_path / "d"), 16, count=10, shards=shards)
    every = {f"img/{i}.png".encode() for i in range(10)}
    subsets = []
    for host in range(num_hosts):
        names = host_names(data, num_hosts, host)
        assert len(names) == len(set(names)) and len(names) in (10 // num_hosts, -(-10 // num_hosts))
        subsets.append(set(names))
    assert set().union(*subsets) == every and sum(map(len, subsets)) == 10  # disjoint, covering
    for host, subset in enumerate(subsets):  # training: endless, and still only this host's records
        streamed = host_names(data, num_hosts, host, training=True, take=8 * len(subset))
        assert set(streamed) == subset


def test_multi_host_input_fn_yields_batches_on_every_host_of_one_shard(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 16, count=8, shards=1)
    input_fn = make_input_fn(tiny_config("dcgan_32", data), "train")
    for host in range(4):
        _, images = next(iter(input_fn({"batch_size": 2, "context": FakeHostContext(4, host)})))
        assert images.shape == (2, 32, 32, 3)


def test_fewer_records_than_hosts_is_refused_naming_the_counts(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 16, count=3, shards=1)
    with pytest.raises(DataError) as info:
        input_pipeline.load_examples(data, context=FakeHostContext(4, 0))
    message = str(info.value)
    assert "3 record(s) in 1 shard(s) for 4 hosts" in message and "\n" not in message


def test_missing_eval_data_is_named_as_eval_data(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 32, count=4)
    missing = str(tmp_path / "val")
    cfg = tiny_config("dcgan_32", data, f"eval_data={missing}")
    make_input_fn(cfg, "train")  # train_data is fine
    with pytest.raises(DataError) as info:
        make_input_fn(cfg, "eval")
    message = str(info.value)
    assert message.startswith(f"key 'eval_data': {missing}/dataset.json: no manifest found")
    assert "point eval_data at" in message and "train_data" not in message and "\n" not in message
    no_eval_data = tiny_config("dcgan_32", str(tmp_path / "nope"))  # evaluation reads train_data
    with pytest.raises(DataError, match=r"^key 'train_data': .*/nope/dataset.json: no manifest found"):
        make_input_fn(no_eval_data, "eval")


def test_other_manifest_errors_name_the_key_too(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 32, count=4)
    val = make_dataset(str(tmp_path / "val"), 32, count=4)
    schema.write_manifest(val, {**schema.read_manifest(val), "channels": 1})
    with pytest.raises(DataError, match=r"^key 'eval_data': .*val/dataset.json: channels 1; expected 3"):
        make_input_fn(tiny_config("dcgan_32", data, f"eval_data={val}"), "eval")


def test_resizing_to_the_model_resolution_is_said_once(tmp_path, capsys):
    data = make_dataset(str(tmp_path / "d32"), 32, count=4)
    cfg = tiny_config("dcgan_64", data)
    for split in ("train", "eval", "train"):
        make_input_fn(cfg, split)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"warning: {data}: 32x32 records, upscaled to 64x64 for dcgan at resolution 64; "
                     "convert with --size 64 to train on images of that size"]
    make_input_fn(tiny_config("dcgan_32", data), "train")  # the records' own size
    assert capsys.readouterr().err == ""
