"""The pins that keep Estimator available: TensorFlow 2.15.1 (the last release with it), numpy<2."""
import numpy as np
import tensorflow as tf


def test_tensorflow_is_the_pinned_release_with_estimator():
    assert tf.__version__ == "2.15.1"
    assert hasattr(tf.compat.v1.estimator.tpu, "TPUEstimator")


def test_numpy_is_below_2():
    assert int(np.__version__.split(".")[0]) < 2


def test_constraints_file_pins_the_same_versions():
    import os
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "requirements", "constraints.txt")
    lines = {line.strip() for line in open(path) if line.strip() and not line.startswith("#")}
    assert "tensorflow==2.15.1" in lines and "numpy<2" in lines
