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


def _no_flags(**kwargs):
    import argparse
    return argparse.Namespace(**{"batch": None, "quick": False, **kwargs})


def test_a_progan_stage_name_is_that_stages_config_reading_the_final_resolution_records():
    from trainer.models import progan, progan_schedule as ps
    asked = []

    def data_dir_for(resolution, mode):
        asked.append(resolution)
        return "/data/records"

    cfg, skipped = suite.model_config("progan_32@16", _no_flags(), data_dir_for)
    assert skipped is None and asked == [32]
    assert (cfg["progan_stage_resolution"], cfg["train_batch_size"], cfg["resolution"]) == (16, 32, 32)
    cfg, _ = suite.model_config("progan_128@64", _no_flags(), data_dir_for)
    assert (cfg["progan_stage_resolution"], cfg["train_batch_size"]) == (64, 32)  # "64:32" in the config
    quick, _ = suite.model_config("progan_128@64", _no_flags(quick=True), data_dir_for)
    forced, _ = suite.model_config("progan_128@64", _no_flags(batch=8), data_dir_for)
    assert (quick["train_batch_size"], forced["train_batch_size"], forced["progan_stage_resolution"]) == (16, 8, 64)
    # a smaller batch for the benchmark leaves the growth schedule (and so every alpha) the config's
    assert ps.stage_starts(progan.schedule(forced)) == ps.stage_starts(progan.schedule(cfg))
    assert ps.transition_steps(progan.schedule(forced), 4) == ps.transition_steps(progan.schedule(cfg), 4)


def test_the_paper_width_stages_run_only_when_named():
    from benchmarks import run
    default = suite.chosen_models(run.parse_args([]))
    assert {"dcgan_32", "progan_32@4", "progan_32@16", "progan_32@32"} <= set(default)
    assert not any(name.startswith("progan_128@") for name in default)
    assert suite.chosen_models(run.parse_args(["--only", "progan_128@64,progan_32@16"])) == ["progan_128@64",
                                                                                            "progan_32@16"]


def _tiny_progan_stage(tmp_path, name, batch):
    from benchmarks import data
    cfg, _ = suite.model_config(name, _no_flags(batch=batch),
                                lambda r, mode: data.write_dataset(str(tmp_path / f"data{r}"), r, mode, batch))
    return cfg.replace(fmap_base=16, fmap_max=8, noise_dim=8)


def test_the_bare_step_of_a_progan_stage_reads_and_advances_its_own_global_step(tmp_path):
    from benchmarks import training
    from trainer.models import progan, progan_schedule as ps
    cfg = _tiny_progan_stage(tmp_path, "progan_32@8", batch=4)
    sched = progan.schedule(cfg)
    middle = ps.stage_starts(sched)[1] + ps.transition_steps(sched, 1) // 2   # mid fade-in of stage 8
    with training.fresh_global_step(middle) as global_step:
        step, nets, dataset = training.bare_step_for(cfg, jit=False, global_step=global_step)
        d_loss, g_loss = step(*next(iter(dataset)))
        assert math.isfinite(float(d_loss)) and math.isfinite(float(g_loss))
        assert int(global_step.numpy()) == middle + 1
        # the losses saw the step before its increment: G recorded that step's alpha
        assert float(nets["generator"].model.fade_in_alpha.numpy()) == pytest.approx(ps.alpha_at(middle, sched))
        assert 0.4 < ps.alpha_at(middle, sched) < 0.6
    assert tf.compat.v1.train.get_global_step() is None  # the next measurement makes its own


def test_both_progan_feeds_deliver_the_same_images_at_the_stage_resolution(tmp_path):
    from benchmarks import data, progan_input
    from trainer.gan_model_fn import make_input_fn
    host = _tiny_progan_stage(tmp_path, "progan_32@8", batch=8)
    level = progan_input.level_config(host, data.write_dataset(str(tmp_path / "level"), 8, "images", 8,
                                                               downscale_from=32))
    assert level["resolution"] == 8 and host["resolution"] == 32
    feeds = [make_input_fn(c, split)({"batch_size": 8}) for split in ("train", "eval") for c in (host, level)]
    assert feeds[0].element_spec == feeds[1].element_spec
    assert feeds[0].element_spec[1].shape == [8, 8, 8, 3]
    (_, from_host), (_, from_level) = next(iter(feeds[2])), next(iter(feeds[3]))
    # the same images in the same order; the level's records are rounded to uint8 once
    assert float(tf.reduce_max(tf.abs(from_host - from_level))) <= 0.5 / 127.5 + 1e-6


def test_progan_input_ratios_only_against_training_at_the_same_batch(tmp_path):
    import json
    from benchmarks import progan_input, report
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"models": {"progan_32@8": {"batch": 32, "project_img_s": 100.0},
                                           "progan_32@16": {"batch": 16, "project_img_s": 50.0},
                                           "dcgan_32": {"batch": 64, "project_img_s": 300.0}}}))
    source, training = progan_input.training_rates(str(path))
    assert source == str(path) and set(training) == {"progan_32@8", "progan_32@16"}
    stages = {name: {"batch": 32, "host_img_s": 800.0, "records_img_s": 1200.0, "records_over_host": 1.5}
              for name in ("progan_32@8", "progan_32@16")}
    progan_input.with_step_ratios(stages, training)
    assert stages["progan_32@8"]["host_over_step"] == pytest.approx(8.0)
    assert stages["progan_32@8"]["records_over_step"] == pytest.approx(12.0)
    assert "host_over_step" not in stages["progan_32@16"]   # measured at batch 16: not comparable
    text = progan_input.table({"stages": stages, "training_results": source})
    assert "12.0x" in text and "1.50x" in text
    text = report.table({"models": {"progan_32@16": {"batch": 32, "stage_resolution": 16, "project_img_s": 99.0}}})
    assert "progan_32@16" in text and "99.0" in text and report.STAGE_NOTE in text


def test_results_json_goes_to_out_or_is_named_after_the_host_and_records_the_machine(tmp_path):
    import json
    import os
    import socket
    from benchmarks import results_file
    results = {"models": {"dcgan_32": {"batch": 64, "project_img_s": 12.5, "input_ratio": float("nan")}},
               "machine": results_file.machine(tf)}
    assert results["machine"]["tensorflow"] == tf.__version__ and results["machine"]["cores"] >= 1
    out = str(tmp_path / "new" / "run.json")
    assert results_file.write_json(results, out) == out  # --out: that path, its folder made
    with open(out) as f:
        assert json.dumps(json.load(f), sort_keys=True) == json.dumps(results, sort_keys=True)
    named = results_file.write_json({}, folder=str(tmp_path / "a"), name="progan_input-h")
    assert named.startswith(str(tmp_path / "a" / "progan_input-h-")) and named.endswith(".json")
    default = results_file.write_json({}, folder=str(tmp_path / "b"))
    assert os.path.basename(default).startswith(socket.gethostname() + "-")
    assert results_file.RESULTS == os.path.join(results_file.ROOT, "benchmarks", "results")
    assert os.path.exists(os.path.join(results_file.ROOT, "benchmarks", "run.py"))
