"""convert_to_tfrecords.py --index DIR: records written by other tools (TF-Slim's layout, plain
tf.train.Example code in tests/slim_records.py) get a checked dataset.json, then load through the
trainer's input pipeline and train; a bad record is a one-line error naming shard and record."""
import os

import numpy as np
import pytest
import tensorflow as tf

from datasets import make_dataset
from runs import CONFIGS, TINY, checkpoint_values, run_cli as run_trainer
from slim_records import encoded, jpeg, picture, slim_example, write_slim_split
from test_convert_support import run_cli
from trainer.data import input_pipeline, schema

SIZE = 32  # dcgan_32's resolution: the records train as they are


def index(data_dir, *args, capsys):
    return run_cli("--index", data_dir, "--num_workers", 2, *args, capsys=capsys)


def one_line_error(code, err):
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_slim_records_index_load_and_train(tmp_path, capsys):
    data = str(tmp_path / "flowers")
    shards = write_slim_split(data, "train", [5, 4], size=(SIZE, SIZE))
    assert shards == ["train-00000-of-00002", "train-00001-of-00002"]
    code, stdout, err = index(data, capsys=capsys)
    assert code == 0, err
    assert "checked 9 images records in 2 shard(s)" in stdout and err == ""
    m = schema.read_manifest(data)
    assert (m["mode"], m["num_examples"], m["height"], m["width"], m["channels"]) == ("images", 9, SIZE, SIZE, 3)
    assert m["shards"] == shards and m["shard_sizes"] == [5, 4]
    assert m["labels"] == {"daisy": 1, "roses": 2} and m["label_counts"] == {"1": 5, "2": 4}
    assert (m["image_format"], m["split"], m["source"]) == ("jpeg", "train", data)

    examples = list(input_pipeline.load_examples(data).as_numpy_iterator())
    assert len(examples) == 9
    assert {e["image"].shape for e in examples} == {(SIZE, SIZE, 3)}
    assert all(-1.0 <= e["image"].min() < e["image"].max() <= 1.0 for e in examples)
    assert sorted(int(e["label"]) for e in examples) == [1] * 5 + [2] * 4
    assert {e["filename"] for e in examples} == {f"train_{i}.JPEG".encode() for i in range(9)}
    first = next(e for e in examples if e["filename"] == b"train_0.JPEG")
    np.testing.assert_allclose((first["image"] + 1) * 127.5, picture(0, SIZE, SIZE), atol=12)  # JPEG loss

    model_dir = str(tmp_path / "model")
    result = run_trainer("--config", os.path.join(CONFIGS, "dcgan_32.yaml"), "--config", TINY,
                         "--set", f"train_data={data}", "--model_dir", model_dir, "--mode", "train")
    assert result.returncode == 0, result.stderr[-2000:]
    assert checkpoint_values(model_dir)["global_step"] == 2


def test_slim_records_on_gcs(gcs_bucket, capsys):
    data = f"{gcs_bucket}/imagenet"
    write_slim_split(data, "train", [3, 3], size=(16, 24))
    write_slim_split(data, "validation", [2], size=(16, 24), seed=50)
    with tf.io.gfile.GFile(f"{data}/labels.txt", "w") as f:
        f.write("daisy\nroses\n")
    code, _, err = index(data, capsys=capsys)
    assert "several splits: train (2 file(s)), validation (1 file(s))" in one_line_error(code, err)
    assert "--split train or --split validation" in err
    code, stdout, err = index(data, "--split", "validation", capsys=capsys)
    assert code == 0, err
    assert "other split(s): train (2 file(s))" in err and "labels.txt" in err
    m = schema.read_manifest(data)
    assert (m["split"], m["num_examples"], m["height"], m["width"]) == ("validation", 2, 16, 24)
    assert m["shards"] == ["validation-00000-of-00001"]
    assert len(list(input_pipeline.load_examples(data).as_numpy_iterator())) == 2


def gray_png(shard, record, example):
    if (shard, record) == (1, 2):
        gray = picture(7, SIZE, SIZE)[..., 0]
        return slim_example(encoded(gray, "PNG"), 1, SIZE, SIZE, "gray.png", b"PNG")


def without_encoded(shard, record, example):
    if (shard, record) == (0, 1):
        del example.features.feature["image/encoded"]


def other_size(shard, record, example):
    if (shard, record) == (1, 0):
        return slim_example(jpeg(picture(3, 24, SIZE)), 1, 24, SIZE, "short.jpg")


def truncated_jpeg(shard, record, example):
    if (shard, record) == (0, 2):
        data = jpeg(np.random.default_rng(0).integers(0, 255, (SIZE, SIZE, 3), np.uint8))
        return slim_example(data[: len(data) // 2], 1, SIZE, SIZE, "cut.jpg")


def webp(shard, record, example):
    if (shard, record) == (1, 1):
        return slim_example(encoded(picture(1, SIZE, SIZE), "WEBP"), 1, SIZE, SIZE, "x.webp", b"WEBP")


def wrong_declared_height(shard, record, example):
    if (shard, record) == (0, 0):
        return slim_example(jpeg(picture(1, SIZE, SIZE)), 1, 64, SIZE, "x.jpg")


def float_label(shard, record, example):
    if (shard, record) == (1, 1):
        example.features.feature["image/class/label"].CopyFrom(
            tf.train.Feature(float_list=tf.train.FloatList(value=[1.0])))


def other_class_name(shard, record, example):
    if (shard, record) == (0, 2):  # label 1, which record 0 calls daisy
        example.features.feature["image/class/text"].bytes_list.value[:] = [b"tulips"]


@pytest.mark.parametrize("replace, shard, record, words", [
    (gray_png, 1, 2, "image/encoded is a grayscale PNG (PIL mode L, 1 channel(s)); expected 3 channels"),
    (without_encoded, 0, 1, "lacks image/encoded"),
    (other_size, 1, 0, "image/encoded is 24x32, but record 0 of train-00000-of-00002 is 32x32"),
    (truncated_jpeg, 0, 2, "image/encoded does not decode as an image"),
    (webp, 1, 1, "image/encoded is WEBP, which tf.io.decode_image cannot read"),
    (wrong_declared_height, 0, 0, "image/height says 64 but the image is 32x32x3"),
    (other_class_name, 0, 2, "label 1 is 'tulips', but record 0 calls it 'daisy'"),
    (float_label, 1, 1, "image/class/label is a float_list; expected an int64_list"),
])
def test_bad_record_is_one_line_naming_shard_and_record(tmp_path, capsys, replace, shard, record, words):
    data = str(tmp_path / "slim")
    write_slim_split(data, "train", [3, 3], size=(SIZE, SIZE), replace=replace)
    code, _, err = index(data, capsys=capsys)
    where = f"{os.path.join(data, f'train-{shard:05d}-of-00002')}: record {record}: "
    assert where + words in one_line_error(code, err)
    assert not os.path.exists(os.path.join(data, "dataset.json"))


def test_truncated_shard_names_the_record(tmp_path, capsys):
    data = str(tmp_path / "slim")
    write_slim_split(data, "train", [4], size=(SIZE, SIZE))
    path = os.path.join(data, "train-00000-of-00001")
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 100)
    code, _, err = index(data, capsys=capsys)
    assert f"{path}: record 3: truncated or corrupt TFRecord framing" in one_line_error(code, err)


def test_missing_shard_and_existing_manifest(tmp_path, capsys):
    data = str(tmp_path / "slim")
    write_slim_split(data, "train", [2, 2, 2], size=(SIZE, SIZE))
    os.remove(os.path.join(data, "train-00001-of-00003"))
    code, _, err = index(data, capsys=capsys)
    assert "train-00001-of-00003: missing; split 'train' has 2 of the 3 shards" in one_line_error(code, err)
    write_slim_split(data, "train", [2, 2, 2], size=(SIZE, SIZE))
    assert index(data, capsys=capsys)[0] == 0
    code, _, err = index(data, capsys=capsys)
    assert "dataset.json: already there; pass --overwrite" in one_line_error(code, err)
    assert index(data, "--overwrite", capsys=capsys)[0] == 0


def test_other_shard_names_raw_records_and_paired_records(tmp_path, capsys):
    flowers = str(tmp_path / "flowers")  # TF-Slim's download_and_convert_flowers.py names
    write_slim_split(flowers, "x", [2, 1], size=(SIZE, SIZE))
    for i in range(2):
        os.rename(os.path.join(flowers, f"x-{i:05d}-of-00002"),
                  os.path.join(flowers, f"flowers_train_{i:05d}-of-00002.tfrecord"))
    assert index(flowers, capsys=capsys)[0] == 0
    assert schema.read_manifest(flowers)["split"] == "flowers_train"

    raw = str(tmp_path / "raw")  # uint8 HWC bytes, image/format 'raw'
    tf.io.gfile.makedirs(raw)
    with tf.io.TFRecordWriter(os.path.join(raw, "cifar.tfrecord")) as writer:
        for i in range(3):
            writer.write(schema.make_example(picture(i, 8, 8).tobytes(), 8, 8, f"{i}", image_format="raw")
                         .SerializeToString())
    assert index(raw, capsys=capsys)[0] == 0
    m = schema.read_manifest(raw)
    assert (m["image_format"], m["num_examples"], m["split"]) == ("raw", 3, "cifar")
    assert len(list(input_pipeline.load_examples(raw).as_numpy_iterator())) == 3

    pairs = make_dataset(str(tmp_path / "pairs"), 16, count=6, mode="paired")
    os.remove(os.path.join(pairs, "dataset.json"))
    assert index(pairs, capsys=capsys)[0] == 0
    m = schema.read_manifest(pairs)
    assert (m["mode"], m["num_examples"], m["image_format"]) == ("paired", 6, "png")
    assert {e["b"].shape for e in input_pipeline.load_examples(pairs).as_numpy_iterator()} == {(16, 16, 3)}


def test_missing_manifest_error_points_to_index(tmp_path, capsys):
    data = str(tmp_path / "slim")
    write_slim_split(data, "train", [2], size=(SIZE, SIZE))
    with pytest.raises(schema.DataError, match="no manifest found") as error:
        input_pipeline.load_examples(data)
    assert f"run convert_to_tfrecords.py --index {data}," in str(error.value)
    code, _, err = run_cli("--inspect", data, capsys=capsys)
    assert f"--index {data}" in one_line_error(code, err)


@pytest.mark.parametrize("args", [
    ["--index", "d", "--size", "16"],
    ["--index", "d", "--input_dir", "x"],
    ["--index", "d", "--mode", "paired"],
])
def test_index_usage_errors_exit_2(args):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(*args)
    assert exit_info.value.code == 2
