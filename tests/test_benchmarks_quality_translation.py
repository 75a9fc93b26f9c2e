"""benchmarks.quality_translation's measures on known images and crafted logits, its reference
rows (the copy-input baseline), its held-out edge pairs against the converter's own records, and
its table, JSON and plot (no training: seconds)."""
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from benchmarks import charts
from benchmarks import fashion_classifier as fc
from benchmarks import quality_translation as qt
from benchmarks import translation_measures as tm


class BrightnessClassifier:
    """A stand-in with the classifier's interface (32-px images -> logits [n, 10], features):
    a bright image is a bag, a dark one a boot; features are its 4x4 block means."""

    def __call__(self, images):
        assert images.shape[1:] == (32, 32, 3)  # what for_classifier hands the real one
        mean = images.mean(axis=(1, 2, 3))
        logits = np.zeros((len(images), fc.NUM_CLASSES))
        logits[np.arange(len(images)), np.where(mean > 0, tm.BAG, tm.BOOT)] = 10.0
        features = images.mean(axis=-1).reshape(len(images), 4, 8, 4, 8).mean(axis=(2, 4)).reshape(len(images), 16)
        return logits, features


def smooth_images(n, size=64, seed=0, level=0.0):
    """[n, size, size, 3] in [-0.5 + level, 0.5 + level]: blurry random blobs."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(-0.5, 0.5, (n, 8, 8, 1)).repeat(size // 8, axis=1).repeat(size // 8, axis=2)
    return (np.repeat(coarse, 3, axis=3) + level).astype(np.float32)


def test_l1_psnr_ssim_match_a_numpy_reference_and_tf_image():
    targets = smooth_images(5)
    outputs = targets + 0.1
    scores = tm.image_scores(outputs, targets, batch_size=2)  # 3 batches, the last short
    assert scores["l1"] == pytest.approx(0.1, abs=1e-6)
    assert scores["psnr"] == pytest.approx(10 * np.log10(2.0 ** 2 / 0.1 ** 2), abs=1e-3)  # 26.02 dB
    noisy = np.clip(targets + np.random.default_rng(1).normal(0, 0.2, targets.shape), -1, 1).astype(np.float32)
    scores = tm.image_scores(noisy, targets, batch_size=2)
    mse = np.mean((noisy.astype(np.float64) - targets) ** 2, axis=(1, 2, 3))
    assert scores["psnr"] == pytest.approx(np.mean(10 * np.log10(4.0 / mse)), rel=1e-4)
    assert scores["l1"] == pytest.approx(np.mean(np.abs(noisy - targets)), rel=1e-5)
    ssim = tf.image.ssim(tf.constant(noisy), tf.constant(targets), max_val=2.0).numpy()
    assert scores["ssim"] == pytest.approx(float(ssim.mean()), rel=1e-5)
    assert 0 < scores["ssim"] < 1
    assert tm.image_scores(targets, targets)["ssim"] == pytest.approx(1.0, abs=1e-5)


def test_accuracy_per_label_and_for_one_target_class():
    logits = np.full((4, fc.NUM_CLASSES), -1.0)
    logits[np.arange(4), [8, 9, 9, 3]] = 5.0
    assert tm.accuracy(logits, np.array([8, 9, 0, 3])) == 0.75
    assert tm.accuracy(logits, tm.BOOT) == 0.5  # target-domain accuracy: how many are boots
    assert tm.accuracy(logits, tm.BAG) == 0.25


def test_images_reach_the_classifier_at_32_px_as_the_converter_would_resize_them():
    images = smooth_images(3, level=0.2)
    small = tm.for_classifier(images)
    assert small.shape == (3, 32, 32, 3) and small.dtype == np.float32
    assert np.abs(small.mean(axis=(1, 2, 3)) - images.mean(axis=(1, 2, 3))).max() < 0.02
    flat = np.full((2, 64, 64, 3), 0.5, np.float32)
    np.testing.assert_allclose(tm.for_classifier(flat), np.round(1.5 * 127.5) / 127.5 - 1.0, atol=1e-6)
    already = tm.for_classifier(small)  # 32 px: only rounded to uint8 levels
    np.testing.assert_allclose(already, small, atol=1 / 127.5)


def test_pix2pix_copy_input_baseline_row_scores_the_edge_map_itself():
    edges, garments = smooth_images(6, seed=2, level=0.4), smooth_images(6, seed=3, level=-0.4)
    labels = np.array([tm.BAG] * 3 + [tm.BOOT] * 3)
    real, baseline = tm.pix2pix_references(edges, garments, labels, BrightnessClassifier())
    assert real["name"] == tm.REAL and real["accuracy"] == 0.5 and "l1" not in real  # dark: all boots
    assert baseline["name"] == tm.BASELINE and baseline["step"] is None
    assert baseline["accuracy"] == 0.5  # bright edges: all bags
    assert {k: baseline[k] for k in ("l1", "psnr", "ssim")} == tm.image_scores(edges, garments)
    assert baseline["l1"] == pytest.approx(np.mean(np.abs(edges - garments)), rel=1e-5)
    perfect = tm.pix2pix_row("step 9", 9, garments, garments, labels, BrightnessClassifier())
    assert perfect["l1"] == 0 and perfect["ssim"] == pytest.approx(1.0, abs=1e-5) and perfect["step"] == 9


def test_discogan_rows_score_each_translation_in_its_target_domain():
    bags, boots = smooth_images(40, seed=4, level=0.4), smooth_images(40, seed=5, level=-0.4)
    reference = tm.DomainReference(bags, boots, BrightnessClassifier())
    real, copy = tm.discogan_references(bags, boots, smooth_images(40, seed=6, level=0.4),
                                        smooth_images(40, seed=7, level=-0.4), reference)
    assert real["acc_a2b"] == 1.0 and real["acc_b2a"] == 1.0 and "cycle_l1_a" not in real
    assert copy["cycle_l1_a"] == 0 and copy["cycle_l1_b"] == 0
    assert copy["acc_a2b"] == 0.0 and copy["acc_b2a"] == 0.0  # a bag left a bag is no boot
    assert copy["fd_a2b"] > 10 * real["fd_a2b"] and copy["fd_b2a"] > 10 * real["fd_b2a"]
    swapped = {"a": bags, "a2b": boots, "a2b2a": bags + 0.25, "b": boots, "b2a": bags[:20], "b2a2b": boots}
    row = tm.discogan_row("step 5", 5, swapped, reference)
    assert row["acc_a2b"] == 1.0 and row["acc_b2a"] == 1.0
    assert row["fd_a2b"] == pytest.approx(0.0, abs=1e-9)  # the real boots themselves
    assert row["cycle_l1_a"] == pytest.approx(0.25, abs=1e-6) and row["cycle_l1_b"] == 0


def test_held_out_edge_pairs_are_the_converters_records(tmp_path):
    from trainer.data import convert, input_pipeline
    from trainer.data.convert_options import ConvertOptions
    gray = np.zeros((3, 28, 28), np.uint8)
    gray[0, 6:22, 8:20] = 200  # a box, a bar, a ring: edges to find
    gray[1, 2:26, 12:16] = 255
    yy, xx = np.mgrid[:28, :28]
    gray[2][(np.hypot(yy - 14, xx - 14) < 10) & (np.hypot(yy - 14, xx - 14) > 5)] = 150
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, g in enumerate(gray):
        Image.fromarray(g).save(folder / f"{i}.png")
    out = str(tmp_path / "records")
    convert.convert(ConvertOptions(str(folder), out, qt.SIZE, mode="paired", make_edges=True, num_workers=1))
    records = {ex["filename"].decode(): ex for ex in input_pipeline.load_examples(out).as_numpy_iterator()}
    edges, garments = qt.edge_pairs(gray)
    assert edges.shape == garments.shape == (3, 64, 64, 3)
    for i in range(3):
        np.testing.assert_array_equal(records[f"{i}.png"]["a"], edges[i])
        np.testing.assert_array_equal(records[f"{i}.png"]["b"], garments[i])
        assert (edges[i] == -1).any() and (edges[i] == 1).mean() > 0.5  # black lines on white


def rows():
    return [{"name": tm.REAL, "step": None, "accuracy": 0.9},
            {"name": tm.BASELINE, "step": None, "l1": 1.4, "psnr": 2.2, "ssim": -0.06, "accuracy": 0.3},
            {"name": "step 0 (untrained)", "step": 0, "l1": 0.77, "psnr": 7.6, "ssim": 0.001, "accuracy": 0.1},
            {"name": "step 100", "step": 100, "l1": 0.2, "psnr": float("nan"), "ssim": 0.5, "accuracy": 0.6}]


def test_table_has_a_row_per_image_set_and_dashes_for_missing_values():
    text = charts.table(rows(), tm.COLUMNS["pix2pix"], "images").splitlines()
    assert len(text) == 2 + 4
    assert [c.strip() for c in text[0].split("|")[1:-1]] == ["images", "step", "L1", "PSNR dB", "SSIM", "cls acc"]
    real = [c.strip() for c in text[2].split("|")[1:-1]]
    assert real == [tm.REAL, "", "-", "-", "-", "90.0%"]
    assert [c.strip() for c in text[5].split("|")[1:-1]] == ["step 100", "100", "0.200", "-", "0.500", "60.0%"]
    assert len({len(line) for line in text}) == 1  # aligned


def test_results_are_saved_as_json_named_by_model_and_tag(tmp_path):
    result = {"model": "pix2pix", "tag": "t1", "rows": rows()[:3]}
    path = qt.save(result, str(tmp_path / "results"))
    assert path.startswith(str(tmp_path / "results" / "quality_translation-pix2pix-t1-"))
    with open(path) as f:
        assert json.load(f) == result


def test_plot_writes_a_png_with_panels_and_example_strips(tmp_path):
    images = smooth_images(10)
    strips = {tm.BASELINE: [images, images, images], "step 0": [images, images, images],
              "step 100": [images, images, images]}
    path = tm.plot(str(tmp_path / "q.png"), rows(), tm.COLUMNS["pix2pix"], strips, ["title", "sets"])
    image = Image.open(path)
    assert image.format == "PNG" and image.width == 900  # three panels a line; strips are narrower
    assert image.height > 2 * 170 + 3 * 3 * 64  # two lines of panels, three strips of three rows
    assert tm.strip([images, -images]).size == (10 * 64, 2 * 64)  # every example, one line per array


def test_translator_restores_each_checkpoint_into_the_models_own_predict(tmp_path):
    from runs import tiny_config
    from trainer import models, trained_generator
    from trainer.networks import checkpoint_name
    cfg = trained_generator.host_config(tiny_config("discogan_64", str(tmp_path)))
    nets = trained_generator.build(cfg, record_updates=False)
    variables = {checkpoint_name(net.name, v): v for net in nets.values() for v in net.model.variables}
    saver = tf.compat.v1.train.Saver(var_list=variables)
    features = {"a": smooth_images(4, seed=8), "b": smooth_images(4, seed=9)}
    paths, expected = [], []
    for scale in (1.0, 1.5):  # two checkpoints with different weights
        for v in variables.values():
            v.assign(v * scale)
        paths.append(saver.save(None, str(tmp_path / f"model.ckpt-{len(paths)}"), write_meta_graph=False))
        expected.append({k: np.asarray(v) for k, v in models.get("cyclegan").predict(nets, features, cfg).items()})
    translate = qt.Translator(cfg, batch_size=2)  # its own networks, restored from each file; 2 batches
    for path, want in zip(paths, expected):
        got = translate(path, features)
        assert set(got) == {"a", "a2b", "a2b2a", "b", "b2a", "b2a2b"} and got["a2b"].shape == (4, 64, 64, 3)
        for key in got:
            np.testing.assert_allclose(got[key], want[key], atol=1e-5)
    assert not np.allclose(expected[0]["a2b"], expected[1]["a2b"])
