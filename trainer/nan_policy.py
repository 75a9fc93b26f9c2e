"""What a training step does with a non-finite loss (`nan_policy`), in one place.

Both policies give the bad step learning rate 0 and zero gradients, so the weights keep their
last good values. 'skip' counts such steps in `nonfinite_steps` (checkpointed, in TensorBoard)
and goes on. 'stop' counts them in a local variable that the host call checks (on TPU it sees
only every n-th step's tensors, so the count, not the step's own flag): the run then fails with
a NonFiniteLoss naming the step, the count and the losses, and the last checkpoint stays good.

Errors raised inside the graph reach Python as tf.errors.InvalidArgumentError; their message
starts with MARKER, which trainer/graph_errors.py turns back into NonFiniteLoss.
"""
import contextlib
import enum
from typing import Dict, List

import tensorflow as tf

MARKER = "NonFiniteLoss:"


class NanPolicy(str, enum.Enum):
    STOP = "stop"
    SKIP = "skip"

    def __str__(self):
        return self.value


POLICIES = tuple(p.value for p in NanPolicy)


class NonFiniteLoss(RuntimeError):
    """Training stopped at a non-finite loss (nan_policy 'stop'); str() is one line."""


def policy(cfg) -> NanPolicy:
    return NanPolicy(cfg["nan_policy"])


def finite(loss):
    return tf.reduce_all(tf.math.is_finite(loss))


def _one_cond(finite_flag, grads) -> List:
    """One cond for all gradients: the finite branch passes them through untouched, where a
    tf.where per gradient wrote zeros and a copy of every gradient (pix2pix's G + D: 57M floats
    per step)."""
    return tf.cond(finite_flag, lambda: list(grads), lambda: [tf.zeros_like(g) for g in grads])


# The ways of zeroing the gradients of a bad step; benchmarks/breakdown measures the others.
GRADIENT_GUARDS = {
    "one_cond": _one_cond,
    "cond_per_gradient": lambda finite_flag, grads: [
        tf.cond(finite_flag, lambda g=g: g, lambda g=g: tf.zeros_like(g)) for g in grads],
    "none": lambda finite_flag, grads: list(grads),
}
_guard = "one_cond"


@contextlib.contextmanager
def gradient_guard(name: str):
    """Train steps built inside use GRADIENT_GUARDS[name] (for measurements; the default is
    'one_cond')."""
    global _guard
    previous, _guard = _guard, name
    try:
        yield
    finally:
        _guard = previous


def zeroed_unless(finite_flag, grads) -> List:
    """The gradients, or zeros for all of them when the loss is not finite."""
    return GRADIENT_GUARDS[_guard](finite_flag, grads)


def counter(cfg):
    """The variable counting non-finite steps (see the module docstring for which one)."""
    if policy(cfg) == NanPolicy.SKIP:
        return tf.compat.v1.get_variable("nonfinite_steps", [], tf.int64, tf.compat.v1.zeros_initializer(),
                                         trainable=False, use_resource=True)
    return tf.compat.v1.get_variable("nonfinite_steps_this_run", [], tf.int64, tf.compat.v1.zeros_initializer(),
                                     trainable=False, use_resource=True,
                                     collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES])


def stop_assertion(step, count, losses: Dict[str, tf.Tensor]):
    """The host-side check of nan_policy 'stop': fails with a MARKER message naming the step,
    the count of non-finite steps this run, and the losses, unless the count is 0."""
    message = [MARKER + " non-finite loss by step", step, "(", count, "step(s) this run );"]
    for name, value in losses.items():
        message += [name + " =", value]
    return tf.debugging.Assert(tf.equal(count, 0.0), message, summarize=8)
