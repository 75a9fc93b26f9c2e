"""FLOPs of one training step, counted from a graph, and the machine's matmul peak.

`step_flops(graph, fetches)` walks the ops that run for the fetches (data inputs, and control
inputs that are stateful: an unused gradient is left out, as Grappler prunes it; checked
against a RunMetadata trace of the executed kernels) and counts 2 FLOPs per multiply-add of every Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter, MatMul
and BatchMatMul, from the static shapes in the graph. Element-wise work (batch norm, activations,
Adam) is not counted: it is a few percent of a convolutional GAN's arithmetic.
`profiler_flops(graph)` is TensorFlow's own count (tf.compat.v1.profiler, float_ops) over the
whole graph, for comparison: it also counts element-wise ops, and ops that never run.
"""
import time
from typing import Dict, Iterable

import numpy as np
import tensorflow as tf

CONV_TYPES = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter")
MATMUL_TYPES = ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")


def _dims(shape) -> list:
    dims = shape.as_list() if shape.rank is not None else None
    if dims is None or any(d is None for d in dims):
        raise ValueError(f"unknown static shape {shape}")
    return dims


def op_flops(op: tf.Operation) -> int:
    """2 x multiply-adds of one conv or matmul op; 0 for other op types."""
    if op.type in CONV_TYPES:
        # Every variant does (output pixels of the forward conv) x (kh * kw * cin * cout) MACs.
        if op.type == "Conv2D":
            kernel, forward_out = op.inputs[1].shape, _dims(op.outputs[0].shape)
        elif op.type == "Conv2DBackpropInput":  # inputs (input_sizes, filter, out_backprop)
            kernel, forward_out = op.inputs[1].shape, _dims(op.inputs[2].shape)
        else:  # Conv2DBackpropFilter: inputs (input, filter_sizes, out_backprop) -> kernel grad
            kernel, forward_out = op.outputs[0].shape, _dims(op.inputs[2].shape)
        kh, kw, cin, cout = _dims(kernel)
        n, h, w, _ = forward_out
        return 2 * n * h * w * kh * kw * cin * cout
    if op.type in MATMUL_TYPES:
        a, b = _dims(op.inputs[0].shape), _dims(op.inputs[1].shape)
        transpose_a = op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x")
        transpose_b = op.get_attr("transpose_b" if op.type == "MatMul" else "adj_y")
        m, k = (a[-1], a[-2]) if transpose_a else (a[-2], a[-1])
        n = b[-2] if transpose_b else b[-1]
        batch = int(np.prod(a[:-2])) if len(a) > 2 else 1
        return 2 * batch * m * k * n
    return 0


def _live_ops(fetches: Iterable[tf.Operation]):
    """The ops that run for `fetches`: reached through data edges, or stateful. A stateless op
    reached only through control edges (e.g. a weight gradient nobody reads, kept by
    tf.compat.v1's gradient gating) is turned into a NoOp by Grappler's dependency optimizer;
    its control inputs still count as control edges."""
    live, control_only = set(), set()
    stack = [(op, True) for op in fetches]
    while stack:
        op, by_data = stack.pop()
        runs = by_data or op.op_def.is_stateful
        if op in live or (not runs and op in control_only):
            continue
        if runs:
            live.add(op)
            stack.extend((t.op, True) for t in op.inputs)
        else:
            control_only.add(op)
        stack.extend((c, False) for c in op.control_inputs)
    return live


def step_flops(graph: tf.Graph, fetches) -> Dict:
    """{'flops': int, 'by_type': {op type: flops}} of the conv/matmul ops that run for `fetches`."""
    ops = [f if isinstance(f, tf.Operation) else f.op for f in tf.nest.flatten(fetches)]
    by_type: Dict[str, int] = {}
    for op in _live_ops(ops):
        flops = op_flops(op)
        if flops:
            by_type[op.type] = by_type.get(op.type, 0) + flops
    return {"flops": sum(by_type.values()), "by_type": by_type}


def profiler_flops(graph: tf.Graph) -> int:
    """TensorFlow's float_ops count of the whole graph (all registered op types, live or not)."""
    options = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)


def matmul_peak(schedule, n: int = 4096) -> Dict:
    """FLOP/s of float32 [n, n] x [n, n] matmuls, by TensorFlow (tf.function) and by numpy
    (its BLAS), each timed in windows like the training steps. The peak is the best window of
    either: other load only ever lowers a window, and on some CPUs the BLAS beats TF's MatMul."""
    a = tf.random.normal([n, n], seed=1) / np.sqrt(n)
    b = tf.random.normal([n, n], seed=2) / np.sqrt(n)

    @tf.function
    def call():
        return tf.matmul(a, b)[0, 0]

    a_np, b_np = a.numpy(), b.numpy()
    flops = 2 * n ** 3
    tf_rate = _windows(schedule, lambda: call().numpy(), flops)
    np_rate = _windows(schedule, lambda: a_np @ b_np, flops)
    best = max(tf_rate["max_per_s"], np_rate["max_per_s"])
    return {"flops_per_s": best, "source": "tensorflow" if best == tf_rate["max_per_s"] else "numpy",
            "tensorflow": tf_rate, "numpy": np_rate, "n": n, "threads": _threads()}


def _windows(schedule, fn, flops_per_call) -> Dict:
    from benchmarks.timing import WindowPlan
    plan = WindowPlan(schedule)
    while True:
        fn()
        if plan.add(time.perf_counter()):
            break
    return plan.summary(flops_per_call)


def _threads() -> Dict:
    return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
