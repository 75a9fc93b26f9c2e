"""The benchmark's arithmetic: FLOP counting from graphs, window timing and the derived ratios.
(No speed is asserted: speed lives in benchmarks/, these check that what it reports is counted
right.)"""
import math

import pytest
import tensorflow as tf

from benchmarks import flops, suite, timing


def _graph_function(fn, *specs):
    return tf.function(fn).get_concrete_function(*specs).graph


def test_conv_and_matmul_flops_are_two_per_multiply_add():
    graph = _graph_function(
        lambda x, w, a, b: (tf.nn.conv2d(x, w, strides=2, padding="SAME"), tf.matmul(a, b, transpose_b=True)),
        tf.TensorSpec([4, 8, 8, 3]), tf.TensorSpec([5, 5, 3, 16]),
        tf.TensorSpec([7, 11]), tf.TensorSpec([13, 11]))
    by_type = flops.step_flops(graph, graph.outputs)["by_type"]
    assert by_type["Conv2D"] == 2 * (4 * 4 * 4) * (5 * 5 * 3 * 16)   # output pixels x MACs each
    assert by_type["MatMul"] == 2 * 7 * 11 * 13


def test_a_training_step_counts_both_backprop_convolutions():
    def step(x, w):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            loss = tf.reduce_sum(tf.nn.conv2d(x, w, strides=1, padding="SAME"))
        return loss, tape.gradient(loss, [x, w])

    graph = _graph_function(step, tf.TensorSpec([2, 6, 6, 4]), tf.TensorSpec([3, 3, 4, 8]))
    by_type = flops.step_flops(graph, graph.outputs)["by_type"]
    forward = 2 * (2 * 6 * 6) * (3 * 3 * 4 * 8)
    assert by_type == {"Conv2D": forward, "Conv2DBackpropInput": forward, "Conv2DBackpropFilter": forward}


def test_an_op_reached_only_by_a_control_edge_is_not_counted():
    def fn(a, b):
        unused = tf.matmul(a, b)                      # stateless, nobody reads its value
        with tf.control_dependencies([unused]):
            return tf.identity(a)

    graph = _graph_function(fn, tf.TensorSpec([3, 3]), tf.TensorSpec([3, 3]))
    assert flops.step_flops(graph, graph.outputs)["flops"] == 0


def test_unknown_static_shapes_are_refused_rather_than_guessed():
    graph = _graph_function(lambda a, b: tf.matmul(a, b), tf.TensorSpec([None, 4]), tf.TensorSpec([4, 2]))
    with pytest.raises(ValueError, match="unknown static shape"):
        flops.step_flops(graph, graph.outputs)


def test_window_plan_skips_warmup_and_reports_the_median_window_rate():
    plan = timing.WindowPlan(timing.Schedule(warmup_steps=3, window_seconds=1.0, windows=3))
    # 3 slow warm-up steps (graph optimisation), then steps of 0.1 s, 0.2 s and 0.1 s per window
    stamps = [5.0, 10.0, 15.0]
    for step_seconds in (0.1, 0.2, 0.1):
        stamps += [stamps[-1] + step_seconds * (i + 1) for i in range(round(1.0 / step_seconds))]
    done = [plan.add(s) for s in stamps]
    assert done[-1] and not any(done[:-1])
    summary = plan.summary(items_per_step=8)
    assert summary["windows"] == 3
    assert summary["per_s"] == pytest.approx(80.0)              # median of 80, 40, 80 images/s
    assert (summary["min_per_s"], summary["max_per_s"]) == pytest.approx((40.0, 80.0))


def test_derived_ratios_use_the_faster_bare_step_as_ceiling():
    out = {"batch": 10, "project_runs": [{"per_s": 90.0, "flops_per_step": 2e9}],
           "bare_runs": [{"per_s": 100.0}], "bare_jit": {"per_s": 40.0}, "input": {"per_s": 900.0}}
    derived = suite.derive(out, {"flops_per_s": 100e9})
    assert derived["ceiling"] == "tf.function"
    assert derived["step_time_ratio"] == pytest.approx(100.0 / 90.0)
    assert derived["achieved_flops_per_s"] == pytest.approx(2e9 * 9.0)
    assert derived["fraction_of_peak"] == pytest.approx(0.18)
    assert derived["input_ratio"] == pytest.approx(10.0)
    out["bare_jit"] = {"per_s": float("nan")}
    assert not math.isnan(suite.derive(out, {"flops_per_s": 100e9})["ceiling_img_s"])


def test_converter_benchmark_accounts_every_image_and_the_emulators_cpu(gcs, tmp_path):
    from benchmarks import converter, data, report
    folder = tmp_path / "jpegs"
    data.write_jpeg_folder(str(folder), 12, workers=1)
    results = converter.converter_benchmark(str(folder), str(tmp_path), 32, gcs=gcs, repeats=1)
    runs = [v for v in results.values() if isinstance(v, dict) and "images_per_s" in v]
    assert {r["images"] for r in runs} == {12} and len(runs) == 1 + 2 * len({1, results["cores"]})
    assert all(r["emulator_cpu_s"] >= 0 for k, r in results.items() if k.startswith("gcs_"))
    assert not any("emulator_cpu_s" in r for k, r in results.items() if k.startswith("converter_"))
    text = report.table({"converter": {**results, "jpegs": 12, "jpeg_kib": 40, "size": 32}})
    assert "emulator CPU-s" in text and "emulator + proxy used" in text
