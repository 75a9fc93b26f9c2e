"""trainer/graph_errors.py: errors raised inside TensorFlow graphs come back as our types."""
import pytest
import tensorflow as tf

from trainer import graph_errors, nan_policy
from trainer.data import schema


def _failing(*message):
    @tf.function
    def check():
        tf.debugging.Assert(tf.constant(False), list(message))
        return tf.constant(0)
    return check


@pytest.mark.parametrize("marker, error_type", [(schema.BAD_RECORD_MARKER, schema.BadRecord),
                                                (nan_policy.MARKER, nan_policy.NonFiniteLoss)])
def test_a_marked_graph_assertion_becomes_its_type_with_one_line(marker, error_type):
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        _failing(marker + " shard", "s-0", "record", "a.png")()
    typed = graph_errors.from_tf_error(info.value)
    assert isinstance(typed, error_type)
    assert "\n" not in str(typed) and str(typed).startswith(marker) and "a.png" in str(typed)


def test_typed_converts_marked_errors_and_lets_others_through():
    marked = graph_errors.typed(_failing(schema.BAD_RECORD_MARKER + " shard", "s-0"))
    with pytest.raises(schema.BadRecord, match="s-0"):
        marked()
    other = graph_errors.typed(_failing("some other assertion"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="some other assertion"):
        other()
    assert graph_errors.from_tf_error(tf.errors.InvalidArgumentError(None, None, "plain")) is None


def test_a_bad_record_is_still_a_data_error():
    assert issubclass(schema.BadRecord, schema.DataError)  # the CLI's exit code 2 for bad input
