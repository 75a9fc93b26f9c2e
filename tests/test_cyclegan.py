"""CycleGAN / DiscoGAN (trainer/models/cyclegan.py): network shapes per generator and
discriminator kind and resolution, PyTorch-equal parameter counts, the loss composition and the
training-only image pool, and runs of the shipped configs through TPUEstimator(use_tpu=False):
all four networks train, the seed's scalars reach the event file, the learning-rate schedule
continues from the global step at resume, evaluation writes the cycle errors (and the L1 to the
true counterpart on paired eval data), predict writes both directions and the export's a2b and
b2a signatures turn PNG bytes into PNG bytes of the model size (`png_bytes`, which TF Serving's
REST API returns as {"b64": ...}).

The runs use 64 px, widths 8 (configs/tiny.yaml) and, for the CycleGAN configs, one residual
block (the graph of six takes much longer to build and write): the block count is covered by
the shape and parameter-count tests."""
import base64
import io
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import serving_rest
from datasets import make_dataset
from runs import changed, checkpoint_values, event_tags, events, tiny_config
from trainer import config, gan_model_fn, run
from trainer.models import cyclegan
from trainer.models import cyclegan_networks as nets_lib

NETWORKS = ("generator/a2b", "generator/b2a", "discriminator/a", "discriminator/b")
SEED_SCALARS = ("g_loss_a2b", "g_loss_b2a", "g_loss", "da_loss", "da_loss_real", "da_loss_fake",
                "db_loss", "db_loss_real", "db_loss_fake", "d_loss")


def trainable_count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


@pytest.mark.parametrize("res", cyclegan.RESOLUTIONS)
@pytest.mark.parametrize("kind,blocks", [("resnet", 6), ("resnet", 9), ("encoder_decoder", 0)])
def test_generator_shapes(res, kind, blocks):
    cfg = {"resolution": res, "gf_dim": 8, "generator": kind, "resnet_blocks": blocks, "norm": "instance"}
    with tf.Graph().as_default():
        g = nets_lib.make_generator(cfg, "g")
        assert g.output_shape == (None, res, res, 3)
        if kind == "resnet":
            assert sum(name.endswith("_add") for name in (layer.name for layer in g.layers)) == blocks


@pytest.mark.parametrize("res", cyclegan.RESOLUTIONS)
@pytest.mark.parametrize("kind,side", [("patchgan", lambda r: r // 8 - 2), ("discogan", lambda r: 1)])
def test_discriminator_shapes(res, kind, side):
    cfg = {"resolution": res, "df_dim": 8, "discriminator": kind, "norm": "batch"}
    with tf.Graph().as_default():
        assert nets_lib.make_discriminator(cfg, "d").output_shape == (None, side(res), side(res), 1)


@pytest.mark.parametrize("blocks,expected", [(9, 11_378_179), (6, 7_837_699)])
def test_resnet_generator_parameters_match_pytorch(blocks, expected):
    # pytorch-CycleGAN-and-pix2pix prints 11.378 M (resnet_9blocks) and 7.837 M (resnet_6blocks).
    with tf.Graph().as_default():
        assert trainable_count(nets_lib.make_resnet_generator(256, 64, blocks, "instance")) == expected


def test_encoder_decoder_is_the_seeds_at_64px():
    with tf.Graph().as_default():
        g = nets_lib.make_encoder_decoder_generator(64, 64, "batch")
        shapes = {layer.name: layer.output_shape[1:] for layer in g.layers}
    assert [shapes[f"down{i}_lrelu"] for i in range(4)] == [(32, 32, 64), (16, 16, 128), (8, 8, 256), (4, 4, 512)]
    assert shapes["code_lrelu"] == (1, 1, 100) and shapes["up_code_relu"] == (4, 4, 512)
    assert [shapes[f"up{i}_relu"] for i in (2, 1, 0)] == [(8, 8, 256), (16, 16, 128), (32, 32, 64)]


@pytest.mark.parametrize("name", ["discogan_64", "cyclegan_128", "cyclegan_256"])
def test_shipped_configs_decay_the_learning_rate_within_the_run(name):
    cfg = config.build([os.path.join(os.path.dirname(__file__), "..", "configs", f"{name}.yaml")],
                       ["train_data=/nowhere"])
    assert cfg.model == "cyclegan" and cfg.resolution in cyclegan.RESOLUTIONS
    assert cfg.lr_decay_start_step < cfg.train_steps


def _graph_cfg(**changes):
    return tiny_config("cyclegan_128", "/nowhere", "resolution=64", "resnet_blocks=1").replace(**changes)


def test_loss_composition_and_pool_only_in_training():
    cfg = _graph_cfg(identity_weight=0.5, cycle_weight=10.0)
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(1)
        nets = gan_model_fn.build_networks(cyclegan.MODEL, cfg)
        features = {"a": tf.random.uniform([2, 64, 64, 3], -1, 1), "b": tf.random.uniform([2, 64, 64, 3], -1, 1)}
        cyclegan.discriminator_loss(nets, features, None, cfg, training=False)
        assert not [v for v in tf.compat.v1.global_variables() if v.op.name.startswith("image_pool")]
        d_out = cyclegan.discriminator_loss(nets, features, None, cfg, training=True)
        pools = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()
                 if v.op.name.startswith("image_pool")}
        assert pools == {"image_pool/a/images": [50, 64, 64, 3], "image_pool/a/num_seen": [],
                         "image_pool/b/images": [50, 64, 64, 3], "image_pool/b/num_seen": []}
        g_out = cyclegan.generator_loss(nets, features, None, cfg, training=True)
        assert g_out.images["a2b2a"].shape.as_list() == [2, 64, 3 * 64, 3]
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            d, s, g_loss = sess.run([d_out.scalars, g_out.scalars, g_out.loss])
    for p in ("da_loss", "db_loss"):
        assert d[p] == pytest.approx(0.5 * (d[p + "_real"] + d[p + "_fake"]))
    # G: A -> B carries B's identity term |G(b) - b|, weighted cycle_weight * identity_weight = 5.
    for g, cycle, identity in (("a2b", "a", "b"), ("b2a", "b", "a")):
        want = s[f"g_gan_{g}"] + 10 * s[f"cycle_loss_{cycle}"] + 5 * s[f"identity_loss_{identity}"]
        assert s[f"g_loss_{g}"] == pytest.approx(want, rel=1e-5)
    assert g_loss == pytest.approx(s["g_loss_a2b"] + s["g_loss_b2a"], rel=1e-5)


def test_pair_errors_are_nan_exactly_for_examples_without_a_true_counterpart():
    cfg = _graph_cfg()
    with tf.Graph().as_default():
        nets = gan_model_fn.build_networks(cyclegan.MODEL, cfg)
        a = tf.random.uniform([3, 64, 64, 3], -1, 1)
        features = {"a": a, "b": -a, "has_pair": tf.constant([1.0, 0.0, 1.0])}
        metrics = cyclegan.eval_metrics(nets, features, None, cfg)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            m = sess.run(metrics)
    assert all(v.shape == (3,) for v in m.values())
    for key in ("l1_a2b_vs_b", "l1_b2a_vs_a"):
        assert np.isnan(m[key][1]) and np.isfinite(m[key][[0, 2]]).all()
    assert np.isfinite(m["cycle_l1_a"]).all() and np.isfinite(m["cycle_l1_b"]).all()


def event_values(model_dir, tag):
    """step -> value of a scalar tag over all event files."""
    values = {}
    for event in events(model_dir):
        for value in event.summary.value:
            if value.tag == tag:
                values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


def checkpoint_at(model_dir, step):
    """Variable values of model.ckpt-STEP (step 0 is saved when the first session starts)."""
    reader = tf.train.load_checkpoint(os.path.join(model_dir, f"model.ckpt-{step}"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def assert_all_networks_trained(before, after):
    for prefix in NETWORKS:
        assert changed(before, after, prefix + "/"), prefix
    assert all(np.isfinite(v).all() for v in after.values() if v.dtype.kind == "f")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cyclegan_data")
    return {"unpaired": make_dataset(str(root / "unpaired"), 64, count=8, mode="unpaired"),
            "paired": make_dataset(str(root / "paired"), 64, count=8, mode="paired", seed=1)}


@pytest.fixture(scope="module")
def discogan_run(data, tmp_path_factory):
    """discogan_64: 1 step, then a new estimator resumes to step 3, the LR decaying from step 1
    (lr_decay_start_step=1, train_steps=3)."""
    cfg = tiny_config("discogan_64", data["unpaired"], "train_steps=3", "lr_decay_start_step=1")
    model_dir = str(tmp_path_factory.mktemp("discogan") / "model")
    assert run.train(cfg, model_dir, max_steps=1) == 1
    assert run.train(cfg, model_dir) == 3
    return cfg, model_dir


@pytest.fixture(scope="module")
def cyclegan_run(data, tmp_path_factory):
    """cyclegan_128 at 64 px (one residual block): 2 steps."""
    cfg = tiny_config("cyclegan_128", data["unpaired"], "resolution=64", "resnet_blocks=1")
    model_dir = str(tmp_path_factory.mktemp("cyclegan") / "model")
    assert run.train(cfg, model_dir) == 2
    return cfg, model_dir


def test_discogan_trains_all_four_networks_without_a_pool(discogan_run):
    _, model_dir = discogan_run
    before, after = checkpoint_at(model_dir, 0), checkpoint_values(model_dir)
    assert after["global_step"] == 3
    assert_all_networks_trained(before, after)
    moving_mean = "generator/a2b/code_norm/moving_mean"
    assert not np.array_equal(before[moving_mean], after[moving_mean])  # batch-norm updates ran
    assert not any(name.startswith("image_pool") for name in after)  # pool_size 0
    tags = set(event_tags(model_dir))
    assert set(SEED_SCALARS) <= tags and {"cycle_loss_a", "cycle_loss_b", "a2b2a", "b2a2b"} <= tags
    assert "identity_loss_a" not in tags  # identity_weight 0


def test_learning_rate_schedule_continues_from_the_global_step_at_resume(discogan_run):
    cfg, model_dir = discogan_run
    logged = event_values(model_dir, "learning_rate")
    assert {1, 2} <= set(logged), logged  # steps 1 and 2 ran in the resumed estimator
    for step, value in logged.items():
        assert value == pytest.approx(float(gan_model_fn.learning_rate(tf.constant(step, tf.int64), cfg)))
    assert logged[1] == pytest.approx(cfg.learning_rate)
    assert logged[2] == pytest.approx(cfg.learning_rate / 2)  # halfway from step 1 to 3


def test_cyclegan_trains_all_four_networks_and_fills_its_pools(cyclegan_run):
    cfg, model_dir = cyclegan_run
    before, after = checkpoint_at(model_dir, 0), checkpoint_values(model_dir)
    assert_all_networks_trained(before, after)
    seen = 2 * cfg.train_batch_size
    for domain in "ab":
        assert before[f"image_pool/{domain}/num_seen"] == 0 and after[f"image_pool/{domain}/num_seen"] == seen
        stored = after[f"image_pool/{domain}/images"]
        assert stored.shape == (cfg.pool_size, 64, 64, 3)
        assert (np.abs(stored[:seen]).reshape(seen, -1).max(axis=1) > 0).all()  # filled in order
        assert not stored[seen:].any()
    tags = set(event_tags(model_dir))
    expected = SEED_SCALARS + ("cycle_loss_a", "cycle_loss_b", "identity_loss_a", "identity_loss_b",
                               "learning_rate", "a2b2a", "b2a2b")
    assert set(expected) <= tags, set(expected) - tags


def test_cyclegan_evaluate_on_paired_data_reports_cycle_and_pair_errors(cyclegan_run, data):
    cfg, model_dir = cyclegan_run
    results = run.evaluate(cfg.replace(eval_data=data["paired"]), model_dir)
    with open(os.path.join(model_dir, run.METRICS_NAME)) as f:
        latest = json.load(f)["latest"]
    for key in ("cycle_l1_a", "cycle_l1_b", "l1_a2b_vs_b", "l1_b2a_vs_a"):
        assert 0 < latest[key] < 2 and latest[key] == pytest.approx(results[key])
    assert latest["global_step"] == 2


def test_cyclegan_predicts_both_ways_into_index_html(cyclegan_run, tmp_path):
    cfg, model_dir = cyclegan_run
    written = run.predict(cfg, model_dir, str(tmp_path / "pred"))
    with open(written["index"]) as f:
        links = re.findall(r'src="([^"]+)"', f.read())
    assert len(links) == len(cyclegan.GRID_COLUMNS) * cfg.num_samples
    assert {link.split("-", 1)[1] for link in links} == {f"{c}.png" for c in cyclegan.GRID_COLUMNS}
    for link in links:
        assert Image.open(tmp_path / "pred" / link).size == (64, 64)
    a, a2b = (np.asarray(Image.open(tmp_path / "pred" / "images" / f"00000-{c}.png")) for c in ("a", "a2b"))
    assert not np.array_equal(a, a2b)


def _encoded(width, height, fmt):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def exported(cyclegan_run):
    cfg, model_dir = cyclegan_run
    return run.export(cfg, model_dir)


def test_cyclegan_export_has_a2b_and_b2a_signatures(exported):
    loaded = tf.saved_model.load(exported)
    inputs = tf.constant([_encoded(50, 30, "PNG"), _encoded(90, 120, "JPEG")])
    outputs = {}
    for name in ("a2b", "b2a"):
        pngs = loaded.signatures[name](image_bytes=inputs)["png_bytes"].numpy()
        outputs[name] = [np.asarray(Image.open(io.BytesIO(p))) for p in pngs]
        assert [o.shape for o in outputs[name]] == [(64, 64, 3)] * 2
    assert not np.array_equal(outputs["a2b"][0], outputs["b2a"][0])  # two different generators


def test_cyclegan_export_answers_tf_serving_rest_with_base64_pngs(exported):
    """TF Serving's REST JSON (tests/serving_rest.py), each signature: `png_bytes` is the only
    output, so each prediction is a bare {"b64": ...} holding a 64 x 64 PNG."""
    loaded = serving_rest.load(exported)
    instances = [{"image_bytes": _encoded(50, 30, "PNG")}, {"image_bytes": _encoded(90, 120, "JPEG")}]
    for signature in ("a2b", "b2a", "serving_default"):
        assert set(serving_rest.signature_outputs(exported, signature)) == {"png_bytes"}, signature
        predictions = json.loads(serving_rest.predict(loaded, signature, instances))["predictions"]
        assert len(predictions) == 2
        for prediction in predictions:
            assert set(prediction) == {"b64"}
            assert Image.open(io.BytesIO(base64.b64decode(prediction["b64"]))).size == (64, 64)
