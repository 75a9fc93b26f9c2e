"""trainer.translate against a small hand-made SavedModel with the export contract (tf.string
image bytes in, PNG bytes out) and two signatures, as CycleGAN exports a2b/b2a: the chosen
signature is the one applied, outputs and index.html rows line up with the input files, and bad
arguments fail with one line and exit code 2. (tests/test_pix2pix.py runs it on a real export.)"""
import html.parser
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from runs import ROOT
from trainer import translate


class _Model(tf.Module):
    """a2b: colour inversion; b2a: identity; both at the input's own size."""

    @staticmethod
    def _map(image_bytes, fn):
        def one(encoded):
            image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
            return tf.io.encode_png(fn(image))
        return {"png": tf.map_fn(one, image_bytes, fn_output_signature=tf.string)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def a2b(self, image_bytes):
        return self._map(image_bytes, lambda image: 255 - image)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def b2a(self, image_bytes):
        return self._map(image_bytes, tf.identity)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("translate") / "model")
    model = _Model()
    tf.saved_model.save(model, path, signatures={"a2b": model.a2b, "b2a": model.b2a})
    return path


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    images = {"x.png": rng.integers(0, 256, (20, 30, 3), dtype=np.uint8),
              "x.jpg": rng.integers(0, 256, (16, 16, 3), dtype=np.uint8),
              "y.png": rng.integers(0, 256, (9, 40, 3), dtype=np.uint8)}
    for name, image in images.items():
        Image.fromarray(image).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    return str(tmp_path)


def rgb(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def img_srcs(index_path):
    srcs = []

    class Parser(html.parser.HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "img":
                srcs.append(dict(attrs)["src"])
    with open(index_path) as f:
        Parser().feed(f.read())
    return srcs


@pytest.mark.parametrize("signature,expected", [("a2b", lambda x: 255 - x), ("b2a", lambda x: x)])
def test_selected_signature_is_applied_to_every_image(saved_model, folder, tmp_path, signature, expected):
    out = str(tmp_path / "out")
    code = translate.main(["--saved_model", saved_model, "--input_dir", folder, "--output_dir", out,
                           "--signature", signature, "--batch_size", "2"])
    assert code == 0
    srcs = img_srcs(os.path.join(out, "index.html"))
    # x.jpg and x.png share a stem: sorted, the JPEG keeps 'x' and the PNG becomes 'x-1'.
    assert srcs == ["images/x-input.png", "images/x-output.png", "images/x-1-input.png",
                    "images/x-1-output.png", "images/y-input.png", "images/y-output.png"]
    for stem, source in (("x-1", "x.png"), ("y", "y.png")):
        original = rgb(os.path.join(folder, source))
        np.testing.assert_array_equal(rgb(os.path.join(out, f"images/{stem}-input.png")), original)
        np.testing.assert_array_equal(rgb(os.path.join(out, f"images/{stem}-output.png")), expected(original))
    jpeg_in, jpeg_out = rgb(os.path.join(out, "images/x-input.png")), rgb(os.path.join(out, "images/x-output.png"))
    assert jpeg_out.shape == (16, 16, 3)
    # TF's and PIL's JPEG decoders round differently (a few levels on noise); inverted would be ~128 off.
    assert np.abs(jpeg_out.astype(int) - expected(jpeg_in).astype(int)).mean() < 3


def test_bad_arguments_fail_with_one_line(saved_model, folder, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert translate.main(["--saved_model", saved_model, "--input_dir", folder, "--output_dir", out]) == 2
    assert "--signature serving_default: not in" in capsys.readouterr().err  # lists a2b, b2a
    empty = tmp_path / "empty"
    empty.mkdir()
    assert translate.main(["--saved_model", saved_model, "--input_dir", str(empty), "--output_dir", out]) == 2
    assert "no images" in capsys.readouterr().err
    assert translate.main(["--saved_model", str(tmp_path), "--input_dir", folder, "--output_dir", out]) == 2
    assert "no saved_model.pb" in capsys.readouterr().err
    assert not os.path.exists(out)


def test_command_line_entry_point(saved_model, folder, tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT}
    result = subprocess.run([sys.executable, "-m", "trainer.translate", "--saved_model", saved_model,
                             "--input_dir", folder, "--output_dir", str(tmp_path / "o"), "--signature", "c2d"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: --signature c2d: not in")
    assert "a2b, b2a" in result.stderr
