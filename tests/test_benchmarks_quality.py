"""benchmarks.quality's measures from a classifier's outputs, on tiny synthetic logits and
features with known answers (no training, no timings), its table and plot (and the shared
benchmarks/charts.py that draws them), what --model trains, and the per-checkpoint samples of a
tiny progan run (stages 4 and 8, final size 32)."""
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from benchmarks import charts, quality
from benchmarks import fashion_classifier as fc
from datasets import make_dataset
from test_progan import tiny_progan
from trainer import config, run, trained_generator
from trainer.models import progan
from trainer.models import progan_schedule as ps
from trainer.networks import checkpoint_name


def one_hot_logits(labels, scale=50.0):
    return np.eye(fc.NUM_CLASSES)[labels] * scale


def test_a_perfect_classifier_covers_the_classes_present_and_is_confident():
    labels = np.repeat([0, 1, 2, 5, 7, 9, 4], 40)  # 7 classes, 40 samples each
    logits = one_hot_logits(labels)
    assert fc.coverage(logits) == 7
    assert fc.confidence(logits) == pytest.approx(1.0, abs=1e-9)
    fractions = fc.class_fractions(logits)
    assert fractions.sum() == pytest.approx(1.0)
    assert fractions[[0, 1, 2, 5, 7, 9, 4]] == pytest.approx([1 / 7] * 7)
    assert fractions[[3, 6, 8]].tolist() == [0, 0, 0]


def test_coverage_counts_only_classes_with_at_least_two_percent():
    labels = np.concatenate([np.zeros(97, int), [3], [4, 4]])  # 97%, 1%, 2%
    assert fc.coverage(one_hot_logits(labels)) == 2
    assert fc.coverage(one_hot_logits(labels), fraction=0.01) == 3


def test_confidence_of_uniform_logits_is_one_over_the_classes():
    assert fc.confidence(np.zeros((5, fc.NUM_CLASSES))) == pytest.approx(0.1)
    # Two equal top logits and the rest far below: 0.5.
    logits = np.full((3, fc.NUM_CLASSES), -50.0)
    logits[:, :2] = 0.0
    assert fc.confidence(logits) == pytest.approx(0.5, abs=1e-9)
    assert fc.softmax(np.array([[1000.0, 0.0]])) == pytest.approx(np.array([[1.0, 0.0]]))  # no overflow


def test_measures_of_the_real_features_themselves_and_of_shifted_ones():
    rng = np.random.default_rng(0)
    real = rng.normal(0, 1, (400, 8))
    labels = rng.integers(0, fc.NUM_CLASSES, 400)
    same = fc.measures(one_hot_logits(labels), real, real)
    assert same["cls_fd"] == pytest.approx(0.0, abs=1e-9)
    assert same["cls_kid"] == 0.0 and same["cls_kid_std"] == 0.0
    assert same["coverage"] == 10 and same["confidence"] == pytest.approx(1.0)
    assert sum(same["classes"].values()) == pytest.approx(1.0, abs=1e-3)
    assert set(same["classes"]) == set(fc.CLASSES)
    # A mean shift of 1 in each of 8 dimensions: FD = |mu diff|^2 = 8 (same covariance).
    shifted = fc.measures(one_hot_logits(labels), real + 1.0, real)
    assert shifted["cls_fd"] == pytest.approx(8.0, rel=1e-6)
    assert shifted["cls_kid"] > 0 and shifted["cls_kid_std"] > 0
    fresh = fc.measures(one_hot_logits(labels), rng.normal(0, 1, (400, 8)), real)
    assert 0 < fresh["cls_fd"] < 1 and abs(fresh["cls_kid"]) < shifted["cls_kid"] / 10


def test_images_are_prepared_as_the_converter_writes_them():
    gray = np.random.default_rng(1).integers(0, 256, (3, 28, 28)).astype(np.uint8)
    images = fc.as_converted(gray)
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1
    np.testing.assert_array_equal(images[..., 0], images[..., 2])
    assert fc.to_input(images).shape == (3, 32, 32, 1)


def test_the_classifier_gives_logits_and_penultimate_features():
    classifier = fc.Classifier(fc.build(), {"test_accuracy": 0.0})
    logits, features = classifier(np.zeros((4, 32, 32, 3), np.float32), batch_size=3)
    assert logits.shape == (4, fc.NUM_CLASSES) and features.shape == (4, 128)


def test_cache_key_follows_the_settings():
    assert fc.cache_key(4, None) == fc.cache_key(4, None)
    assert fc.cache_key(4, None) != fc.cache_key(1, 6000)


def rows():
    base = {"cls_kid": 0.1, "cls_kid_std": 0.01, "confidence": 0.5, "coverage": 7, "skew": "shirt 30%",
            "swd_32": 10.0, "swd_16": 20.0, "swd_avg": 15.0, "msssim_fake": 0.2}
    return [{"name": quality.FLOOR, "step": None, **base, "cls_fd": 2.0},
            {"name": quality.CEILING, "step": 0, **base, "cls_fd": 200.0, "fid_effnet": 300.0},
            {"name": "step 400", "step": 400, **base, "cls_fd": 50.0, "fid_effnet": 100.0}]


def test_table_has_a_row_per_sample_set_and_dashes_for_missing_values():
    text = charts.table(rows(), quality.COLUMNS, "samples").splitlines()
    assert len(text) == 2 + 3
    assert "cls FD" in text[0] and "classes≥2%" in text[0]
    assert text[2].split("|")[1].strip() == quality.FLOOR and "-" in text[2].split("|")[-3]
    assert "200.0" in text[3] and "400" in text[4]


def test_plot_writes_a_png_with_panels_and_grids(tmp_path):
    grids = {"real": np.zeros((36, 32, 32, 3), np.float32), "step 400": np.ones((36, 32, 32, 3), np.float32)}
    path = quality.plot(str(tmp_path / "q.png"), rows(), grids, "title")
    image = Image.open(path)
    assert image.format == "PNG" and image.width == 1200 and image.height > 400


def cells(line):
    return [c.strip() for c in line.split("|")[1:-1]]


def test_shared_table_titles_its_columns_and_dashes_missing_and_nan_values():
    columns = (("a", "A title", "{:.2f}"), ("b", "B", "{:d}"))
    table_rows = [{"name": "real", "step": None, "a": float("nan")},
                  {"name": "step 7", "step": 7, "a": 1.234, "b": 3}]
    text = charts.table(table_rows, columns, "what").splitlines()
    assert cells(text[0]) == ["what", "step", "A title", "B"]
    assert set(text[1]) == {"|", "-"}
    assert cells(text[2]) == ["real", "", "-", "-"]  # NaN and absent alike; no step for a reference
    assert cells(text[3]) == ["step 7", "7", "1.23", "3"]
    assert len({len(line) for line in text}) == 1  # aligned


def test_shared_plot_grows_with_its_panels_and_images_and_skips_missing_values(tmp_path):
    plot_rows = [{"name": "floor", "step": None, "x": 1.0, "y": 2.0},
                 {"name": "baseline", "step": None, "y": 2.5},
                 {"name": "step 0", "step": 0, "x": 100.0, "y": float("nan"), "z": float("nan")},
                 {"name": "step 5", "step": 5, "x": 10.0, "y": 3.0, "z": None}]
    blue = (0, 0, 200)  # unlike charts.GREY, no shade of the anti-aliased text
    references = {"floor": charts.GREEN, "baseline": ("blue", blue)}
    tile = Image.new("RGB", (200, 50))

    def draw(name, panels, images, per_line):
        return Image.open(charts.plot(str(tmp_path / name / "p.png"), plot_rows, panels, references, images,
                                      ["a title"], panels_per_line=per_line))

    x, y, z = ("x", "x (log)", True), ("y", "y", False), ("z", "only NaN and None", False)
    one = draw("one", [x], {}, 1).size
    assert one[0] == charts.PANEL_W
    assert draw("z", [x, z], {}, 1).size == one  # no finite value at any step: no panel
    assert draw("xy", [x, y], {}, 1).size == (one[0], one[1] + charts.PANEL_H)  # y's one finite step counts
    assert draw("row", [x, y, x], {}, 3).size == (3 * charts.PANEL_W, one[1])
    with_images = draw("images", [x], {"a": tile, "b": tile}, 3).size
    assert with_images[0] == 3 * charts.PANEL_W and with_images[1] > one[1] + tile.height  # one line below
    wide = Image.new("RGB", (5 * charts.PANEL_W, 20))
    assert draw("wide", [x], {"wide": wide}, 3).width > wide.width  # the canvas widens for an image
    colours = {rgb for _, rgb in draw("colours", [y], {}, 1).getcolors(1 << 16)}
    assert {charts.RED, charts.GREEN[1], blue} <= colours  # checkpoints and both references
    assert blue not in {rgb for _, rgb in draw("x only", [x], {}, 1).getcolors(1 << 16)}  # no baseline for x


def test_dcgan_32_is_the_default_and_trains_the_demo_as_before():
    args = quality.parse_args([])
    assert args.model == "dcgan_32"
    assert quality.run_settings("dcgan_32", False) == (["configs/dcgan_32.yaml", "configs/demo.yaml"], [])
    assert quality.run_settings("dcgan_32", True)[1] == list(quality.QUICK_SETS)


def _built(model, quick, tmp_path):
    configs, sets = quality.run_settings(model, quick)
    return config.build([os.path.join(quality.ROOT, c) for c in configs], [*sets, f"train_data={tmp_path}"])


def test_progan_32_trains_its_own_config_with_the_demos_cadences(tmp_path):
    cfg = _built("progan_32", False, tmp_path)
    demo = _built("dcgan_32", False, tmp_path)
    assert quality.model_name(cfg) == "progan_32" and quality.model_name(demo) == "dcgan_32"
    for key in quality.DEMO_CADENCE:
        assert cfg[key] == demo[key], key
    assert cfg["save_checkpoints_steps"] == 400
    assert cfg["learning_rate"] == 0.001 and cfg["train_batch_size"] == demo["train_batch_size"] == 32
    quick = _built("progan_32", True, tmp_path)
    sched = progan.schedule(quick)  # the smoke run's stages are short: its minute crosses stage changes
    assert quick["train_steps"] == 40 and ps.stage_starts(sched)[-1] < 40
    assert sched.resolutions == (4, 8, 16, 32)


@pytest.fixture(scope="module")
def progan_run(tmp_path_factory):
    """test_progan's tiny widths grown to 32 px: 3 steps at 4x4, then the 8x8 fade-in to step 5;
    a checkpoint every 2 steps and at the stage change, all kept."""
    root = tmp_path_factory.mktemp("quality_progan")
    cfg = tiny_progan(make_dataset(str(root / "data"), 32, count=8), "resolution=32", "train_steps=5")
    model_dir = str(root / "model")
    assert run.train(cfg, model_dir) == 5
    return cfg, model_dir


def _raw_and_average(cfg, path):
    """The checkpoint's stage generator with its raw weights, and with their averages."""
    reader = tf.train.load_checkpoint(path)
    stage_cfg = trained_generator.host_config(trained_generator.checkpoint_config(cfg, path))
    models = []
    for average in (False, True):
        g = trained_generator.build(stage_cfg, record_updates=False)["generator"].model
        for weight in g.weights:
            name = checkpoint_name("generator", weight)
            ema = trained_generator.ema_name(name)
            weight.assign(reader.get_tensor(ema if average and reader.has_tensor(ema) else name))
        models.append(g)
    return models


def test_every_progan_checkpoint_gives_final_size_samples_from_its_stages_average(progan_run):
    from trainer.quality import generator
    cfg, model_dir = progan_run
    found = quality.checkpoints(model_dir)
    stages = {step: progan.checkpoint_resolution(path) for step, path in found}
    assert stages == {0: 4, 2: 4, 3: 8, 5: 8}  # step 3: the 8x8 stage's first (hand-over) checkpoint
    z = generator.noise(cfg, 6)
    for step, path in found:
        images = quality.generate(model_dir, path, 6)
        assert images.shape == (6, 32, 32, 3) and images.dtype == np.float32, step
        assert np.isfinite(images).all() and np.abs(images).max() <= 1.0
        raw, average = _raw_and_average(cfg, path)
        np.testing.assert_allclose(images, average(z, training=False).numpy(), atol=1e-6, err_msg=str(step))
        if step in (2, 5):  # trained steps: the average trails the weights
            assert not np.allclose(images, raw(z, training=False).numpy(), atol=1e-6), step
