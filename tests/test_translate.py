"""trainer.translate against a small hand-made SavedModel with the export contract (tf.string
image bytes in, PNG bytes out) and two signatures, as CycleGAN exports a2b/b2a: the chosen
signature is the one applied, outputs and index.html rows line up with the input files, and bad
arguments fail with one line and exit code 2. The output read is `png_bytes` when the signature
has it (exports made before the rename have only `png`, as _Model here). Side-by-side A|B files
are translated whole with one warning line, or only the --pair_half asked for. The TF Serving
REST convention of tests/serving_rest.py: only a `*_bytes` output comes back as {"b64": ...}, and
a raw-bytes output beside it (the old `png`) makes the whole body invalid JSON.
(tests/test_pix2pix.py and tests/test_cyclegan.py run both on real exports.)"""
import base64
import html.parser
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import serving_rest
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


class _TwoOutputModel(tf.Module):
    """`png_bytes` (inverted) beside another PNG output named `png` (identity): what keeping the
    old name next to the new one would have been."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(self, image_bytes):
        inverted = _Model._map(image_bytes, lambda image: 255 - image)["png"]
        return {"png_bytes": inverted, "png": _Model._map(image_bytes, tf.identity)["png"]}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("translate") / "model")
    model = _Model()
    tf.saved_model.save(model, path, signatures={"a2b": model.a2b, "b2a": model.b2a})
    return path


@pytest.fixture(scope="module")
def two_output_model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("translate_two_outputs") / "model")
    model = _TwoOutputModel()
    tf.saved_model.save(model, path, signatures={"serving_default": model.serve})
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


def test_png_bytes_is_read_when_the_signature_has_it(two_output_model, folder, tmp_path):
    out = str(tmp_path / "out")
    assert translate.main(["--saved_model", two_output_model, "--input_dir", folder, "--output_dir", out]) == 0
    original = rgb(os.path.join(folder, "y.png"))
    np.testing.assert_array_equal(rgb(os.path.join(out, "images/y-output.png")), 255 - original)


def encoded_png(image):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_rest_json_base64_encodes_only_outputs_named_bytes(two_output_model):
    image = np.random.default_rng(2).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    instances = [{"image_bytes": encoded_png(image)}]
    request = json.loads(serving_rest.encode_request("serving_default", instances))
    assert request == {"signature_name": "serving_default",
                       "instances": [{"image_bytes": {"b64": base64.b64encode(encoded_png(image)).decode()}}]}

    body = serving_rest.predict(serving_rest.load(two_output_model), "serving_default", instances)
    with pytest.raises(UnicodeDecodeError):  # `png`'s raw PNG bytes: no JSON client can read the body
        json.loads(body)
    prediction = json.loads(body.decode("latin-1"))["predictions"][0]  # one char per byte, to look inside
    assert prediction["png"].encode("latin-1").startswith(b"\x89PNG")  # written as is, not b64
    png = base64.b64decode(prediction["png_bytes"]["b64"])
    np.testing.assert_array_equal(rgb(io.BytesIO(png)), 255 - image)


A_B = np.concatenate([np.full((20, 20, 3), 10, np.uint8), np.full((20, 20, 3), 200, np.uint8)], axis=1)


@pytest.fixture
def pair_folder(tmp_path):
    """Two side-by-side A|B files (A dark, B light, 40x20) and one ordinary 40x30 image."""
    folder = tmp_path / "pairs"
    folder.mkdir()
    for name in ("p1.png", "p2.png"):
        Image.fromarray(A_B).save(folder / name)
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(folder / "wide.png")
    return str(folder)


def test_side_by_side_pairs_are_translated_whole_with_one_warning_line(saved_model, pair_folder, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert translate.main(["--saved_model", saved_model, "--input_dir", pair_folder, "--output_dir", out,
                           "--signature", "a2b"]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"warning: {os.path.join(pair_folder, 'p1.png')}: 40x20")
    assert "looks like an A|B pair" in lines[0] and "translating the whole image" in lines[0]
    assert "--pair_half A or B" in lines[0]
    np.testing.assert_array_equal(rgb(os.path.join(out, "images/p1-output.png")), 255 - A_B)


@pytest.mark.parametrize("half,columns", [("A", slice(0, 20)), ("B", slice(20, 40))])
def test_pair_half_translates_only_that_half(saved_model, pair_folder, tmp_path, capsys, half, columns):
    out = str(tmp_path / "out")
    assert translate.main(["--saved_model", saved_model, "--input_dir", pair_folder, "--output_dir", out,
                           "--signature", "a2b", "--pair_half", half]) == 0
    assert capsys.readouterr().err == ""
    for stem in ("p1", "p2"):
        np.testing.assert_array_equal(rgb(os.path.join(out, f"images/{stem}-input.png")), A_B[:, columns])
        np.testing.assert_array_equal(rgb(os.path.join(out, f"images/{stem}-output.png")), 255 - A_B[:, columns])
    assert rgb(os.path.join(out, "images/wide-output.png")).shape == (30, 40, 3)  # not a pair: whole


def test_pair_half_must_be_a_or_b(saved_model, folder, tmp_path):
    with pytest.raises(translate.TranslateError, match=r"--pair_half left: expected A \(left half\) or B"):
        translate.translate_folder(saved_model, folder, str(tmp_path / "o"), "a2b", pair_half="left")
