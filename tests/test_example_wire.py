"""The hand-written tf.train.Example encoder must write exactly what protobuf writes."""
import pytest
import tensorflow as tf

from trainer.data import example_wire, schema


def _protobuf_reference(features) -> bytes:
    """The same record built and serialised by protobuf itself (deterministic: sorted keys)."""
    def feature(value):
        if isinstance(value, bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    example = tf.train.Example(features=tf.train.Features(
        feature={key: feature(value) for key, value in features.items()}))
    return example.SerializeToString(deterministic=True)


@pytest.mark.parametrize("features", [
    {"image/encoded": b"\x89PNG" + bytes(range(256)) * 3, "image/class/label": -1, "image/height": 64},
    {"b": b"", "a": 0, "c": 2 ** 63 - 1, "d": -(2 ** 63), "e": 127, "f": 128, "g": 300},
    {"image/filename": "ünïcode/фото 1.jpg".encode("utf-8"), "k" * 200: b"x" * 20000},
])
def test_bytes_equal_protobufs_deterministic_serialisation(features):
    assert example_wire.serialize(features) == _protobuf_reference(features)


@pytest.mark.parametrize("paired", [False, True])
def test_schema_records_parse_back_through_the_input_pipelines_spec(paired):
    extra = {"encoded_b": b"B-image", "filename_b": ""} if paired else {}
    serialized = schema.serialize_example(b"A-image", 32, 48, "dir/a.png", label=7, **extra)
    parsed = tf.io.parse_single_example(serialized, schema.feature_spec(paired))
    assert parsed[schema.ENCODED].numpy() == b"A-image"
    assert (int(parsed[schema.HEIGHT]), int(parsed[schema.WIDTH])) == (32, 48)
    assert int(parsed[schema.LABEL]) == 7
    assert int(parsed[schema.NUM_CHANNELS]) == 3
    if paired:
        assert parsed[schema.ENCODED_B].numpy() == b"B-image"
    assert schema.make_example(b"A-image", 32, 48, "dir/a.png", label=7, **extra).SerializeToString(
        deterministic=True) == serialized


def test_a_value_of_another_type_is_refused_naming_its_key():
    with pytest.raises(TypeError, match="'image/height': expected bytes or int, got float"):
        example_wire.serialize({"image/height": 64.0})
