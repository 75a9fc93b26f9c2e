"""Errors that TensorFlow graphs raise for us, as Python types.

A check inside a graph (a bad record in the input pipeline, a non-finite loss in the host call)
can only fail as a tf.errors.InvalidArgumentError whose message holds our marker. `typed` turns
such an error into schema.BadRecord or nan_policy.NonFiniteLoss with the one line that matters,
so that callers (and the CLI's exit codes) decide by type.
"""
import functools
import re
from typing import Optional

import tensorflow as tf

from trainer import nan_policy
from trainer.data import schema

_TYPES = {schema.BAD_RECORD_MARKER: schema.BadRecord, nan_policy.MARKER: nan_policy.NonFiniteLoss}


def one_line(error: Exception) -> str:
    """The assertion line of a TF error, its '[a] [b]' data joined into one sentence."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [repr(error)]
    text = next((line for line in lines if line.startswith("assertion failed:")), lines[0])
    text = text.replace("assertion failed: ", "")
    return re.sub(r"\] \[", " ", text).strip("[]")


def from_tf_error(error: Exception) -> Optional[Exception]:
    """The typed error an InvalidArgumentError stands for, or None if it holds no marker."""
    message = one_line(error)
    for marker, error_type in _TYPES.items():
        if marker in message:
            return error_type(message)
    return None


def typed(fn):
    """Decorator: graph errors with a marker leave `fn` as their type (see from_tf_error)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except tf.errors.InvalidArgumentError as e:
            converted = from_tf_error(e)
            if converted is None:
                raise
            raise converted from None
    return wrapper
