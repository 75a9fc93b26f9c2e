"""Progressive GAN end to end on CPU (TPUEstimator(use_tpu=False)): a 4 -> 8 -> 16 run with tiny
widths through trainer.run.train, which hands progan to the stage runner (trainer/progan_growth.py).

The run is stopped and resumed on purpose: at the end of the 4x4 stage, in the middle of the 8x8
fade-in, at the end of the 8x8 stage, then to train_steps. Checked: a stage boundary keeps the
earlier blocks' weights exactly (the last checkpoint of a stage against the first of the next, at
the same global step) and resets only the optimizer; alpha (TensorBoard scalar) rises 0 -> 1 over
each fade-in and continues across the resume with the schedule's value; the run reaches
train_steps with every step trained once; sample grids, predict and export give final-size images
at every stage; evaluate builds the latest stage."""
import glob
import os
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from datasets import make_dataset
from runs import CONFIGS, checkpoint_values, events
from trainer import checkpoints, config, progan_growth, run, trained_generator
from trainer.fields import ConfigError
from trainer.models import progan
from trainer.models import progan_schedule as ps

FINAL = 16
# Tiny widths (8, 8, 4 channels at 4, 8, 16 px), batch 4; stages of 3 steps stable + 4 fade-in.
TINY_PROGAN = (f"resolution={FINAL}", "noise_dim=8", "fmap_base=32", "fmap_max=8", "train_batch_size=4",
               "eval_batch_size=4", "predict_batch_size=4", "progan_stage_kimg=0.012",
               "progan_transition_kimg=0.016", "eval_steps=1", "save_checkpoints_steps=2",
               "summary_every_steps=1", "image_summary_every_steps=5", "sample_grid_size=2", "num_samples=4",
               "shuffle_buffer=16", "keep_checkpoint_max=50")


def tiny_progan(data_dir: str, *overrides: str) -> config.Config:
    """configs/progan_32.yaml with tiny widths and schedule, trained to the end of the growth."""
    return config.build([os.path.join(CONFIGS, "progan_32.yaml")],
                        [*TINY_PROGAN, f"train_data={data_dir}", "train_steps=17", *overrides])


def _values(path):
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    root = tmp_path_factory.mktemp("progan")
    data = make_dataset(str(root / "data"), FINAL, count=8)
    cfg = tiny_progan(data)
    sched = progan.schedule(cfg)
    starts = ps.stage_starts(sched)
    assert starts == (0, 3, 10) and ps.growth_steps(sched) == cfg["train_steps"] == 17
    model_dir = str(root / "model")
    out = {"cfg": cfg, "sched": sched, "model_dir": model_dir, "stage_end": {}, "seconds": {}, "predict": {},
           "stage": {}}
    for name, max_steps in (("4", 3), ("8_half", 5), ("8", 10), ("16", None)):
        t = time.monotonic()
        out["reached_" + name] = run.train(cfg, model_dir, max_steps=max_steps)
        out["seconds"][name] = time.monotonic() - t
        out["stage_end"][name] = _values(tf.train.latest_checkpoint(model_dir))
        out["stage"][name] = trained_generator.current_config(cfg, model_dir)["progan_stage_resolution"]
        out["predict"][name] = run.predict(cfg, model_dir, output_dir=str(root / f"predict_{name}"))
    print("seconds per train call:", {k: round(v, 1) for k, v in out["seconds"].items()})
    return out


def _optimizer_state(name):
    return not progan_growth.carried(name) and not name.endswith(progan.ALPHA_VARIABLE)


@pytest.mark.parametrize("before,step,dropped", [("4", 3, set()),
                                                 ("8", 10, {"generator/to_rgb_4", "discriminator/from_rgb_4"})])
def test_stage_boundary_keeps_the_earlier_blocks_exactly(grown, before, step, dropped):
    old = grown["stage_end"][before]
    new = _values(os.path.join(grown["model_dir"], f"model.ckpt-{step}"))  # the next stage's first checkpoint
    assert old["global_step"] == new["global_step"] == step
    assert "generator/to_rgb_%d/kernel" % (2 * int(before)) in new  # it is the next stage's graph
    weights = {n for n in old if progan_growth.carried(n) and n != "global_step"}
    gone = {n for n in weights if n not in new}
    assert {n for n in gone if "/ExponentialMovingAverage" not in n} == {f"{d}/{w}" for d in dropped
                                                                         for w in ("kernel", "bias")}
    kept = weights - gone
    assert kept and any("ExponentialMovingAverage" in n for n in kept)
    for name in kept:
        np.testing.assert_array_equal(new[name], old[name], err_msg=name)
    slots = [n for n in new if _optimizer_state(n) and "beta" not in n]
    assert slots and all(not np.any(new[n]) for n in slots)  # Adam starts afresh
    assert new["generator/fade_in_alpha"] == 0.0


def test_a_stage_change_starts_the_new_blocks_from_the_configs_seed(grown, tmp_path):
    """Growing the same checkpoint twice gives the same new blocks (a rerun of a config grows the
    same networks, as its first stage starts from the same weights); another seed, other ones."""
    previous = os.path.join(grown["model_dir"], "model.ckpt-3")  # the 8x8 stage's first checkpoint
    stage_cfg = progan_growth.stage_config(grown["cfg"], 2)

    def grow(name, cfg):
        os.makedirs(tmp_path / name)
        return _values(progan_growth.hand_over(cfg, str(tmp_path / name), previous))

    first, again = grow("a", stage_cfg), grow("b", stage_cfg)
    other = grow("c", stage_cfg.replace(seed=stage_cfg["seed"] + 1))
    new_blocks = [n for n in first if "_16" in n and progan_growth.carried(n)]
    assert new_blocks and set(first) == set(again)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name], err_msg=name)
    assert any(not np.array_equal(first[n], other[n]) for n in new_blocks)


def _scalar_events(model_dir, tag):
    found = []
    for event in events(model_dir):
        for value in event.summary.value:
            if value.tag == tag:
                found.append((event.step, float(tf.make_ndarray(value.tensor))))
    return found


def test_alpha_rises_over_each_transition_and_continues_across_the_resume(grown):
    alphas = _scalar_events(grown["model_dir"], "alpha")
    steps = [s for s, _ in alphas]
    assert sorted(steps) == list(range(17))  # every step trained once, across four train calls
    by_step = dict(alphas)
    for step, alpha in by_step.items():
        assert alpha == pytest.approx(ps.alpha_at(step, grown["sched"])), step
    assert [by_step[s] for s in range(3, 10)] == pytest.approx([0, 0.25, 0.5, 0.75, 1, 1, 1])
    assert [by_step[s] for s in range(10, 17)] == pytest.approx([0, 0.25, 0.5, 0.75, 1, 1, 1])
    assert by_step[5] == pytest.approx(0.5)  # the first step after the stop at 5: not back to 0
    assert {s for s, _ in _scalar_events(grown["model_dir"], "kimg")} == set(range(17))


def test_a_run_stopped_mid_transition_resumes_in_its_stage_and_reaches_the_final_step(grown):
    assert [grown[f"reached_{n}"] for n in ("4", "8_half", "8", "16")] == [3, 5, 10, 17]
    assert grown["stage"] == {"4": 4, "8_half": 8, "8": 8, "16": 16}
    half = grown["stage_end"]["8_half"]
    assert half["generator/fade_in_alpha"] == pytest.approx(0.25)  # its last step, 4, trained at 0.25
    assert checkpoints.latest_step(grown["model_dir"]) == 17
    final = grown["stage_end"]["16"]
    assert "generator/to_rgb_16/kernel" in final and "generator/to_rgb_4/kernel" not in final
    stored = config.load_from_model_dir(grown["model_dir"])
    # config.yaml keeps the user's config (no stage, the user's time budget); the stage is the checkpoint's
    assert stored == {k: v for k, v in grown["cfg"].to_dict().items()} and stored["progan_stage_resolution"] is None


def test_sample_grids_and_predictions_have_the_final_size_at_every_stage(grown):
    grids = sorted(glob.glob(os.path.join(grown["model_dir"], "samples", "step_*.png")))
    steps = {int(os.path.basename(p)[5:12]) for p in grids}
    assert {0, 2, 3, 5, 10, 17} <= steps  # grids in all three stages
    sizes = {Image.open(p).size for p in grids}
    assert len(sizes) == 1, sizes
    grid_size = sizes.pop()
    for name, written in grown["predict"].items():
        assert Image.open(written["grid"]).size == grid_size, name  # 4 samples: the same 2 x 2 tiling
        singles = glob.glob(os.path.join(os.path.dirname(written["grid"]), "images", "*.png"))
        assert singles and all(Image.open(p).size == (FINAL, FINAL) for p in singles), name


def test_predict_uses_the_fade_in_alpha_of_the_checkpoint(grown, tmp_path):
    """Mid-transition the generator is the blend at the alpha its last step trained with."""
    cfg = trained_generator.current_config(grown["cfg"], grown["model_dir"])
    g, step = trained_generator.load(cfg, grown["model_dir"])
    assert step == 17 and float(g.fade_in_alpha.numpy()) == 1.0
    z = tf.random.normal([2, cfg["noise_dim"]], seed=1)
    images = g(z, training=False).numpy()
    assert images.shape == (2, FINAL, FINAL, 3) and np.abs(images).max() <= 1.0
    raw = g.net([z, tf.ones([2, 1])], training=False).numpy()
    np.testing.assert_allclose(images, np.clip(raw, -1, 1), rtol=1e-5, atol=1e-6)
    stored = grown["stage_end"]["16"]  # g_ema_decay (progan_32.yaml): the average, not the raw weights
    kernel = g.net.get_layer("to_rgb_16").kernel.numpy()
    np.testing.assert_array_equal(kernel, stored["generator/to_rgb_16/kernel/ExponentialMovingAverage"])
    assert not np.array_equal(kernel, stored["generator/to_rgb_16/kernel"])


def test_a_changed_schedule_is_refused_before_training(grown):
    """Step 17 of a slower schedule is in the 4x4 stage; the checkpoint holds the 16x16 networks."""
    slower = grown["cfg"].replace(progan_stage_kimg=1.0)
    with pytest.raises(ConfigError, match="holds the 16x16 networks"):
        run.train(slower, grown["model_dir"], max_steps=40)
    assert checkpoints.latest_step(grown["model_dir"]) == 17


def test_export_and_evaluate_build_the_latest_stage(grown, tmp_path):
    path = run.export(grown["cfg"], grown["model_dir"], str(tmp_path / "export"))
    loaded = tf.saved_model.load(path)
    images = loaded.signatures["serving_default"](noise=tf.random.normal([3, 8]))["images"]
    assert images.shape == (3, FINAL, FINAL, 3) and images.dtype == tf.uint8
    results = run.evaluate(grown["cfg"], grown["model_dir"])
    assert results["global_step"] == 17
    assert all(np.isfinite(results[k]) for k in ("d_loss", "g_loss", "d_real_score", "d_fake_score"))


def test_quality_metrics_and_latent_tools_use_the_latest_stage(grown):
    """They build the checkpoint's stage too (trained_generator.checkpoint_config), and see
    final-size images."""
    from trainer.quality import evaluation, modes
    cfg = grown["cfg"].replace(quality_num_samples=8, swd_projections=16)
    assert set(evaluation.evaluate(cfg, grown["model_dir"])) >= {"swd_16", "msssim_fake", "fid", "kid"}
    written = modes.run("interpolate", cfg.replace(projection_steps=2), grown["model_dir"])
    from PIL import Image
    with Image.open(written["gif"]) as gif:
        assert gif.size == (FINAL, FINAL) and gif.n_frames > 1


def test_inputs_are_the_records_box_filtered_to_the_stage(tmp_path):
    data = make_dataset(str(tmp_path / "d"), FINAL, count=4)
    image = tf.random.uniform([FINAL, FINAL, 3], -1, 1, seed=3)
    cfg = tiny_progan(data, "progan_stage_resolution=4")
    features, label = progan.make_inputs({"image": image}, cfg, training=False)
    assert features["noise"].shape == [8] and label.shape == [4, 4, 3]
    np.testing.assert_allclose(label.numpy()[1, 2], image.numpy()[4:8, 8:12].mean(axis=(0, 1)), rtol=1e-5)


def test_config_errors_name_the_key(tmp_path):
    data = make_dataset(str(tmp_path / "d"), FINAL, count=4)
    with pytest.raises(ConfigError, match="progan_batch_sizes"):
        tiny_progan(data, "progan_batch_sizes=4=16")
    with pytest.raises(ConfigError, match="progan_stage_resolution.*allowed: 4, 8, 16"):
        tiny_progan(data, "progan_stage_resolution=32")
    with pytest.raises(ConfigError, match="resolution"):
        tiny_progan(data, "resolution=4")
    for name in ("progan_32", "progan_128"):  # the shipped configs pass the TPU loop-boundary checks
        cfg = config.build([os.path.join(CONFIGS, f"{name}.yaml"), os.path.join(CONFIGS, "tpu.yaml")],
                           [f"train_data={data}"])
        sched = progan.schedule(cfg)
        assert all(s % cfg["iterations_per_loop"] == 0 for s in ps.stage_starts(sched))
        assert cfg["g_ema_decay"] == 0.999
