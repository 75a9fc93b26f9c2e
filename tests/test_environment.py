"""The pins that keep Estimator available: TensorFlow 2.15.1 (the last release with it), numpy<2;
and the CPU kernels importing trainer selects."""
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf


def test_tensorflow_is_the_pinned_release_with_estimator():
    assert tf.__version__ == "2.15.1"
    assert hasattr(tf.compat.v1.estimator.tpu, "TPUEstimator")


def test_numpy_is_below_2():
    assert int(np.__version__.split(".")[0]) < 2


def test_constraints_file_pins_the_same_versions():
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "requirements", "constraints.txt")
    lines = {line.strip() for line in open(path) if line.strip() and not line.startswith("#")}
    assert "tensorflow==2.15.1" in lines and "numpy<2" in lines


def _onednn_on(env_value=None) -> bool:
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if env_value is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = env_value
    code = ("import trainer, tensorflow\n"
            "from tensorflow.python.util import _pywrap_util_port\n"
            "print('ONEDNN', _pywrap_util_port.IsMklEnabled())")
    out = subprocess.run([sys.executable, "-c", code], env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
                         capture_output=True, text=True, check=True).stdout
    return "ONEDNN True" in out


def test_importing_trainer_turns_on_onednn_kernels_unless_the_user_chose():
    assert _onednn_on() is True
    assert _onednn_on("0") is False
