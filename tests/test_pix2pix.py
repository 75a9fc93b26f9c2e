"""pix2pix: shared crop/flip augmentation, direction swap, network shapes and exact parameter
counts, the test-time switch, and one 2-step run through TPUEstimator(use_tpu=False) followed by
evaluate (metrics.json with l1/psnr/ssim and the output = input baselines), predict (from the
records and from a plain folder, index.html links; from another folder with the model_dir's
config.yaml, whose data paths are absolute), export (PNG bytes in, `png_bytes` out, which TF
Serving's REST API returns as {"b64": ...}) and trainer.translate on a folder with the exported
SavedModel."""
import base64
import html.parser
import io
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
import yaml
from PIL import Image

import serving_rest
from datasets import make_dataset
from runs import changed, checkpoint_values, event_tags, events, tiny_config
from trainer import config, run, task, translate
from trainer.config import ConfigError
from trainer.models import image_to_image, pix2pix, pix2pix_networks

RES = 64


def trainable_count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def find_crop(resized, crop, res):
    """(dy, dx, flipped) with resized[dy:dy+res, dx:dx+res] (maybe flipped) == crop, or None."""
    size = resized.shape[0]
    for dy in range(size - res + 1):
        for dx in range(size - res + 1):
            window = resized[dy:dy + res, dx:dx + res]
            for flipped, candidate in ((False, window), (True, window[:, ::-1])):
                if np.array_equal(candidate, crop):
                    return dy, dx, flipped
    return None


def test_jitter_size_follows_the_paper_ratio():
    assert [image_to_image.jitter_size(r) for r in (256, 128, 64)] == [286, 143, 72]


def test_input_and_target_share_crop_offset_and_flip():
    cfg = tiny_config("pix2pix_128", "unused", f"resolution={RES}")
    a = tf.random.stateless_uniform([RES, RES, 3], seed=[1, 2], minval=-1.0, maxval=1.0)
    example = {"a": a, "b": -a, "filename": "x", "filename_b": "y"}  # B = A transformed pointwise
    resized = tf.image.resize(a, [72, 72], method="bilinear", antialias=True).numpy()
    seen = set()
    for _ in range(24):
        features, target = pix2pix.make_inputs(example, cfg, training=True)
        source = features["input"].numpy()
        assert source.shape == (RES, RES, 3)
        np.testing.assert_array_equal(target.numpy(), -source)  # same offset and flip for B
        where = find_crop(resized, source, RES)
        assert where is not None, "the input is not a crop of the jittered image"
        seen.add(where)
    assert len({(dy, dx) for dy, dx, _ in seen}) > 1, "the crop offset never changes"
    assert {flipped for _, _, flipped in seen} == {False, True}, "flips are not random"


def test_no_augmentation_outside_training_and_direction_swap():
    a = tf.random.uniform([RES, RES, 3], -1.0, 1.0)
    b = tf.random.uniform([RES, RES, 3], -1.0, 1.0)
    example = {"a": a, "b": b, "filename": "x", "filename_b": "y"}
    cfg = tiny_config("pix2pix_128", "unused", f"resolution={RES}")
    features, target = pix2pix.make_inputs(example, cfg, training=False)
    assert np.array_equal(features["input"], a) and np.array_equal(target, b)
    features, target = pix2pix.make_inputs(example, cfg.replace(which_direction="BtoA"), training=False)
    assert np.array_equal(features["input"], b) and np.array_equal(target, a)
    features, target = pix2pix.make_inputs(example, cfg.replace(random_jitter=False, random_flip=False), True)
    assert np.array_equal(features["input"], a) and np.array_equal(target, b)


@pytest.mark.parametrize("res,downs,logits", [(256, 8, 30), (128, 7, 14), (64, 6, 6)])
def test_network_shapes(res, downs, logits):
    with tf.Graph().as_default():
        g = pix2pix_networks.make_unet(res, 8)
        d = pix2pix_networks.make_pair_patchgan(res, 8)
        assert g.output_shape == (None, res, res, 3)
        assert d.input_shape == (None, res, res, 6)
        assert d.output_shape == (None, logits, logits, 1)
        assert g.get_layer("down%d" % (downs - 1)).output_shape == (None, 1, 1, 64)  # innermost 1x1, 8*gf
        assert len([layer for layer in g.layers if isinstance(layer, tf.keras.layers.Dropout)]) == 3


def test_exact_parameter_counts_at_256_with_64_filters():
    """pytorch-CycleGAN-and-pix2pix: unet_256 54,413,955 (+576 here: biases on the first and the
    innermost encoder convs, which have no norm after them); basic D 2,768,705 (the same)."""
    with tf.Graph().as_default():
        g = pix2pix_networks.make_unet(256, 64)
        d = pix2pix_networks.make_pair_patchgan(256, 64)
        assert trainable_count(g) == 54_414_531 == 54_413_955 + 64 + 512
        assert trainable_count(d) == 2_768_705
        bn = sum(int(np.prod(v.shape)) for v in g.non_trainable_variables)
        assert bn == 9_856 and g.count_params() == 54_414_531 + bn  # moving mean/variance


def test_patchgan_depth_is_checked_against_the_resolution():
    assert tiny_config("pix2pix_128", "unused", "resolution=64", "d_layers=4")["d_layers"] == 4  # 4x4 left
    with pytest.raises(ConfigError, match="d_layers.*resolution 64"):
        tiny_config("pix2pix_128", "unused", "resolution=64", "d_layers=5")


def test_test_time_training_switch():
    """On (the paper): dropout stays active, so two runs differ. Off: deterministic."""
    cfg = tiny_config("pix2pix_128", "unused", f"resolution={RES}")
    nets = {"generator": pix2pix_networks.make_unet(RES, 4)}
    x = tf.random.uniform([2, RES, RES, 3], -1.0, 1.0)
    on = [pix2pix.translate(nets, x, cfg).numpy() for _ in range(2)]
    off = [pix2pix.translate(nets, x, cfg.replace(test_time_training=False)).numpy() for _ in range(2)]
    assert on[0].shape == (2, RES, RES, 3) and np.abs(on[0]).max() <= 1.0
    assert not np.array_equal(on[0], on[1])
    np.testing.assert_array_equal(off[0], off[1])


def test_test_time_batch_norm_gives_each_example_its_own_statistics_in_one_pass():
    """test_time_training translates a batch at once exactly as examples one by one (the
    reference's test batch of 1), not with the batch's statistics; no per-example loop."""
    cfg = tiny_config("pix2pix_128", "unused", f"resolution={RES}")
    unet = pix2pix_networks.make_unet(RES, 4)
    for layer in unet.layers:
        if isinstance(layer, tf.keras.layers.Dropout):
            layer.rate = 0.0  # deterministic, so the passes can be compared
    x = tf.random.uniform([3, RES, RES, 3], -1.0, 1.0, seed=1)
    batched = pix2pix.translate({"generator": unet}, x, cfg).numpy()
    alone = np.concatenate([unet(x[i:i + 1], training=True).numpy() for i in range(3)])
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    assert not np.allclose(unet(x, training=True).numpy(), alone, atol=1e-3)  # batch statistics differ
    graph = tf.function(lambda images: pix2pix.translate({"generator": unet}, images, cfg)).get_concrete_function(
        tf.TensorSpec([3, RES, RES, 3])).graph
    assert not [op for op in graph.get_operations() if op.type in ("While", "StatelessWhile")]


def test_image_metrics_known_values():
    x = tf.zeros([2, 32, 32, 3])
    y = tf.concat([tf.fill([1, 32, 32, 3], 0.5), tf.zeros([1, 32, 32, 3])], axis=0)
    m = {k: v.numpy() for k, v in pix2pix.image_metrics(x, y).items()}
    np.testing.assert_allclose(m["l1"], [0.5, 0.0])
    np.testing.assert_allclose(m["psnr"][0], 20 * np.log10(2.0 / 0.5), rtol=1e-5)
    assert m["ssim"][1] == pytest.approx(1.0) and m["ssim"][0] < 1.0


class _Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.headers, self._in_th = [], [], False

    def handle_starttag(self, tag, attrs):
        self._in_th = tag == "th"
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])

    def handle_data(self, data):
        if self._in_th:
            self.headers.append(data)
            self._in_th = False


def parse_index(path):
    parser = _Images()
    with open(path) as f:
        parser.feed(f.read())
    return parser


def read_rgb(path_or_bytes):
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(source) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-step run at 64 px; B = A + 128 (mod 256), so |A - B| is 128 at every pixel."""
    root = tmp_path_factory.mktemp("pix2pix")
    data = make_dataset(str(root / "data"), RES, count=8, mode="paired",
                        transform_b=lambda a: ((a.astype(np.int32) + 128) % 256).astype(np.uint8))
    cfg = tiny_config("pix2pix_128", data, f"resolution={RES}")
    model_dir = str(root / "model")
    assert run.train(cfg, model_dir) == 2
    return cfg, model_dir, root


def test_two_steps_change_weights_and_write_summaries(trained):
    cfg, model_dir, _ = trained
    reader = tf.train.load_checkpoint(os.path.join(model_dir, "model.ckpt-0"))  # saved before step 1
    before = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    after = checkpoint_values(model_dir)
    assert after["global_step"] == 2
    weights = lambda prefix: [n for n in changed(before, after, prefix) if "_adam" not in n]  # noqa: E731
    assert "generator/down0/kernel" in weights("generator/") and "generator/to_rgb/bias" in weights("generator/")
    assert "discriminator/conv0/kernel" in weights("discriminator/")
    assert "discriminator/logits/kernel" in weights("discriminator/")
    for stat in ("generator/down1_bn/moving_mean", "generator/up0_bn/moving_variance",
                 "discriminator/conv1_norm/moving_mean"):
        assert not np.array_equal(before[stat], after[stat]), stat
    assert all(np.isfinite(v).all() for v in after.values() if v.dtype.kind == "f")

    tags = event_tags(model_dir)
    for tag in ("d_loss_real", "d_loss_fake", "g_loss_gan", "g_loss_l1", "d_loss", "g_loss", "learning_rate",
                "input_output_target"):
        assert tag in tags, tag
    row = None
    for event in events(model_dir):
        for value in event.summary.value:
            if value.tag == "input_output_target":
                row = tf.make_ndarray(value.tensor)
    height, width = read_rgb(row[2]).shape[:2]  # [width, height, PNG, ...]
    assert (height, width) == (2 * RES, 2 * 3 * RES)  # a 2x2 grid of input | output | target rows
    assert os.path.exists(os.path.join(model_dir, "samples", "latest.png"))


def test_evaluate_writes_metrics_and_baselines(trained):
    cfg, model_dir, _ = trained
    results = run.evaluate(cfg, model_dir)
    with open(os.path.join(model_dir, "metrics.json")) as f:
        latest = json.load(f)["latest"]
    assert latest["global_step"] == 2
    for key in ("l1", "psnr", "ssim", "baseline_l1", "baseline_psnr", "baseline_ssim"):
        assert np.isfinite(latest[key]) and latest[key] == pytest.approx(results[key]), key
    diff = 128 / 127.5  # |A - B| everywhere, in [-1, 1] units
    assert latest["baseline_l1"] == pytest.approx(diff, rel=1e-5)
    assert latest["baseline_psnr"] == pytest.approx(20 * np.log10(2.0 / diff), rel=1e-4)
    assert 0.0 <= latest["l1"] <= 2.0 and -1.0 <= latest["ssim"] <= 1.0
    assert "psnr" in event_tags(os.path.join(model_dir, "eval"))


def test_predict_from_records_writes_linked_index(trained):
    cfg, model_dir, root = trained
    written = run.predict(cfg, model_dir, str(root / "predict"))
    page = parse_index(written["index"])
    assert page.headers == ["#", "input", "output", "target"]
    assert len(page.srcs) == 3 * cfg["num_samples"]
    for src in page.srcs:
        assert os.path.exists(os.path.join(written["output_dir"], src)), src
    first = {c: read_rgb(os.path.join(written["output_dir"], f"images/00000-{c}.png"))
             for c in ("input", "output", "target")}
    assert all(image.shape == (RES, RES, 3) for image in first.values())
    np.testing.assert_array_equal(first["target"], (first["input"].astype(np.int32) + 128) % 256)  # AtoB pairs


def write_folder(folder):
    """PNG, JPEG and grayscale images of different sizes and aspect ratios."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (50, 90, 3), dtype=np.uint8)).save(os.path.join(folder, "wide.png"))
    Image.fromarray(rng.integers(0, 256, (120, 80, 3), dtype=np.uint8)).save(os.path.join(folder, "tall.jpg"))
    Image.fromarray(rng.integers(0, 256, (30, 30), dtype=np.uint8)).save(os.path.join(folder, "gray.png"))
    return folder


def test_predict_from_plain_folder_has_no_target(trained):
    cfg, model_dir, root = trained
    folder = write_folder(str(root / "plain"))
    written = run.predict(cfg, model_dir, str(root / "predict_folder"), input_dir=folder)
    page = parse_index(written["index"])
    assert written["count"] == "3" and page.headers == ["#", "input", "output"]
    assert len(page.srcs) == 6
    for src in page.srcs:
        assert read_rgb(os.path.join(written["output_dir"], src)).shape == (RES, RES, 3)


@pytest.fixture(scope="module")
def exported(trained):
    cfg, model_dir, root = trained
    return run.export(cfg, model_dir, str(root / "export"))


def encoded(height, width, fmt="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


def test_export_round_trips_png_and_translate_cli(trained, exported):
    cfg, model_dir, root = trained
    path = exported
    loaded = tf.saved_model.load(path)
    serve = loaded.signatures["serving_default"]
    big = encoded(100, 150)
    out = serve(image_bytes=tf.constant([big, big]))["png_bytes"].numpy()
    assert len(out) == 2 and all(read_rgb(png).shape == (RES, RES, 3) for png in out)

    folder = write_folder(str(root / "to_translate"))
    out_dir = str(root / "translated")
    assert translate.main(["--saved_model", path, "--input_dir", folder, "--output_dir", out_dir]) == 0
    page = parse_index(os.path.join(out_dir, "index.html"))
    assert page.headers == ["#", "input", "output"] and len(page.srcs) == 6
    outputs = [s for s in page.srcs if s.endswith("-output.png")]
    assert sorted(outputs) == ["images/gray-output.png", "images/tall-output.png", "images/wide-output.png"]
    for src in outputs:
        assert read_rgb(os.path.join(out_dir, src)).shape == (RES, RES, 3)
    assert read_rgb(os.path.join(out_dir, "images/wide-input.png")).shape == (50, 90, 3)  # original kept


def test_export_answers_tf_serving_rest_with_base64_pngs(exported):
    """As TF Serving's REST API would answer POST :predict with {"instances": [{"image_bytes":
    {"b64": ...}}, ...]}: one output, so `predictions` is the bare list of {"b64": PNG}."""
    assert set(serving_rest.signature_outputs(exported, "serving_default")) == {"png_bytes"}
    instances = [{"image_bytes": encoded(100, 150)}, {"image_bytes": encoded(40, 30, "JPEG")}]
    loaded = serving_rest.load(exported)
    response = json.loads(serving_rest.predict(loaded, "serving_default", instances))  # valid UTF-8 JSON
    predictions = response["predictions"]
    assert len(predictions) == 2 and all(set(p) == {"b64"} for p in predictions)
    for prediction in predictions:
        png = base64.b64decode(prediction["b64"])
        assert png.startswith(b"\x89PNG") and read_rgb(png).shape == (RES, RES, 3)

    # The same tensor under a name without _bytes goes into the JSON raw: not decodable.
    outputs = loaded.signatures["serving_default"](image_bytes=tf.constant([encoded(100, 150)]))
    with pytest.raises(UnicodeDecodeError):
        json.loads(serving_rest.encode_response({"png": outputs["png_bytes"]}))


def test_predict_from_another_folder_finds_the_data_of_a_relative_train_data(trained, tmp_path, monkeypatch):
    """train_data typed relative to where training ran ('data'); config.yaml stores it absolute,
    so `--mode predict` with only --model_dir, from another folder, reads the eval records."""
    cfg, model_dir, root = trained
    moved = str(tmp_path / "elsewhere" / "model")
    shutil.copytree(model_dir, moved)
    monkeypatch.chdir(root)
    assert run.train(cfg.replace(train_data="data"), moved) == 2  # at train_steps: only writes config.yaml
    with open(os.path.join(moved, config.CONFIG_FILENAME)) as f:
        assert yaml.safe_load(f)["train_data"] == str(root / "data")
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert task.main(["--model_dir", moved, "--mode", "predict", "--output_dir", "predicted"]) == 0
    assert len(parse_index(os.path.join("predicted", "index.html")).srcs) == 3 * cfg["num_samples"]
