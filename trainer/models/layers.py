"""Small building blocks shared by the model modules."""
import math

import tensorflow as tf


def log2_int(resolution: int) -> int:
    """log2 of a power-of-two resolution (network depth follows it)."""
    value = int(round(math.log2(resolution)))
    if 2 ** value != resolution:
        raise ValueError(f"resolution {resolution} is not a power of two")
    return value


def to_uint8(images):
    """[-1, 1] float -> [0, 255] uint8 (rounded, clipped)."""
    return tf.cast(tf.clip_by_value(tf.round((tf.cast(images, tf.float32) + 1.0) * 127.5), 0, 255), tf.uint8)
