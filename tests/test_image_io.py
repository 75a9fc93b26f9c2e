"""image_io: every odd image kind becomes [H, W, 3] uint8 RGB that looks right, bad files are
rejected with a reason, and the module never imports TensorFlow."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from trainer.data import decode_worker, image_io
from trainer.data.image_io import ImageRejected

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def save(tmp_path, name, image, **kwargs):
    path = str(tmp_path / name)
    image.save(path, **kwargs)
    return path


def load(path):
    return image_io.to_rgb_array(image_io.open_image(path))


def test_grayscale_is_replicated_to_three_channels(tmp_path):
    gray = np.arange(16 * 16, dtype=np.uint8).reshape(16, 16)
    rgb = load(save(tmp_path, "g.png", Image.fromarray(gray, "L")))
    assert rgb.shape == (16, 16, 3) and rgb.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], gray)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparent_pixels_become_white_and_opaque_ones_keep_their_colour(tmp_path, mode):
    image = Image.new("RGBA", (10, 10), (200, 10, 10, 255)).convert(mode)
    image.paste(Image.new(mode, (5, 10), 0), (0, 0))  # left half: fully transparent (black)
    rgb = load(save(tmp_path, "t.png", image))
    assert (rgb[:, :5] == 255).all()
    expected = (200, 10, 10) if mode == "RGBA" else (image.getpixel((9, 0))[0],) * 3
    assert tuple(rgb[0, 9]) == expected


def test_half_transparent_pixels_are_composited_on_white(tmp_path):
    rgb = load(save(tmp_path, "h.png", Image.new("RGBA", (8, 8), (0, 0, 0, 128))))
    assert np.all(np.abs(rgb.astype(int) - 127) <= 1)


def test_palette_image_with_transparent_index_is_composited_on_white(tmp_path):
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)  # index 0 black, index 1 blue
    image.paste(0, (0, 0, 4, 8))
    path = save(tmp_path, "p.png", image, transparency=0)
    assert Image.open(path).mode == "P" and "transparency" in Image.open(path).info
    rgb = load(path)
    assert (rgb[:, :4] == 255).all() and tuple(rgb[0, 7]) == (0, 0, 255)


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = save(tmp_path, "c.jpg", Image.new("CMYK", (16, 16), (0, 255, 255, 0)), quality=95)
    rgb = load(path)
    assert rgb.shape == (16, 16, 3)
    r, g, b = rgb[8, 8].astype(int)
    assert r > 200 and g < 60 and b < 60  # cyan 0, magenta+yellow full -> red


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    path = save(tmp_path, "g16.png", Image.fromarray(values))
    assert Image.open(path).mode.startswith("I")
    rgb = load(path)
    expected = np.rint(values / 257.0)
    assert np.abs(rgb[..., 0].astype(int) - expected).max() <= 1
    assert rgb.max() == 255 and rgb.min() == 0 and len(np.unique(rgb)) > 200


def test_32_bit_integer_image_is_read_as_16_bit_range():
    image = Image.fromarray(np.full((8, 8), 65535, np.int32))
    assert image.mode == "I"
    assert (image_io.to_rgb_array(image) == 255).all()


def test_exif_orientation_is_applied(tmp_path):
    array = np.zeros((20, 40, 3), np.uint8)  # wide; left half red, right half blue
    array[:, :20] = (255, 0, 0)
    array[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = save(tmp_path, "r.jpg", Image.fromarray(array), exif=exif.tobytes(), quality=95)
    rgb = load(path)
    assert rgb.shape == (40, 20, 3)  # now tall
    assert rgb[5, 10, 0] > 200 and rgb[5, 10, 2] < 60  # top is the former left (red)
    assert rgb[35, 10, 2] > 200 and rgb[35, 10, 0] < 60


def test_square_resize_crops_the_centre_and_returns_hwc_uint8():
    array = np.zeros((30, 90, 3), np.uint8)
    array[:, 30:60] = 255  # only the centre square is white
    out = image_io.square_resize(array, 16)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert out.min() >= 250


def test_encode_png_refuses_channels_first_arrays():
    with pytest.raises(AssertionError, match="CHW|expected"):
        image_io.encode_png(np.zeros((3, 16, 16), np.uint8), 16)
    with pytest.raises(AssertionError):
        image_io.encode_png(np.zeros((16, 16, 3), np.float32), 16)
    png = image_io.encode_png(np.zeros((16, 16, 3), np.uint8), 16)
    assert Image.open(io.BytesIO(png)).size == (16, 16)


def test_split_side_by_side_takes_left_and_right_halves():
    array = np.zeros((10, 21, 3), np.uint8)
    array[:, :10] = 50
    array[:, 11:] = 200
    a, b = image_io.split_side_by_side(array)
    assert a.shape == b.shape == (10, 10, 3)
    assert (a == 50).all() and (b == 200).all()
    with pytest.raises(ImageRejected, match="side by side"):
        image_io.split_side_by_side(np.zeros((20, 10, 3), np.uint8))


def test_edge_map_is_black_lines_on_white():
    photo = np.full((32, 32, 3), 30, np.uint8)
    photo[8:24, 8:24] = 220
    edges = image_io.edge_map(photo, sigma=1.0)
    assert edges.shape == (32, 32, 3) and edges.dtype == np.uint8
    assert set(np.unique(edges)) == {0, 255}
    assert (edges == 255).mean() > 0.8
    assert (edges[8:24, 7:10] == 0).any() and (edges[14:18, 14:18] == 255).all()


@pytest.mark.parametrize("name, content, reason", [
    ("empty.png", b"", "empty file"),
    ("text.png", b"hello, I am not a picture\n", "not an image"),
])
def test_bad_files_are_rejected_with_a_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageRejected, match=reason):
        image_io.load_square(str(path), 16)


def test_truncated_jpeg_is_rejected(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        buffer, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageRejected, match="truncated"):
        image_io.load_square(str(path), 16)


def test_too_small_images_are_rejected_and_small_ones_flagged_upscaled(tmp_path):
    tiny = save(tmp_path, "tiny.png", Image.new("RGB", (7, 30)))
    with pytest.raises(ImageRejected, match="too small: 7x30"):
        image_io.load_square(tiny, 16)
    small = save(tmp_path, "small.png", Image.new("RGB", (8, 30)))
    image, upscaled = image_io.load_square(small, 16)
    assert image.shape == (16, 16, 3) and upscaled


def test_worker_turns_any_failure_into_rejects_for_both_files_of_a_pair(tmp_path):
    good = save(tmp_path, "a.png", Image.new("RGB", (16, 16)))
    bad = tmp_path / "b.png"
    bad.write_bytes(b"")
    result = decode_worker.run_task(decode_worker.Task(decode_worker.TWO_FILES, good, str(bad)),
                                    16, 1.0)
    assert result.encoded is None
    assert dict(result.rejects) == {good: "its partner in B was rejected", str(bad): "empty file (0 bytes)"}


def test_image_io_and_worker_do_not_import_tensorflow():
    code = ("import sys; import trainer.data.decode_worker, trainer.data.image_io; "
            "sys.exit(1 if 'tensorflow' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_large_jpeg_is_decoded_reduced_but_converts_to_the_same_picture(tmp_path):
    yy, xx = np.mgrid[0:768, 0:1024]
    array = np.stack([xx / 4, yy / 3, 255 - xx / 4], axis=2).clip(0, 255).astype(np.uint8)
    path = save(tmp_path, "big.jpg", Image.fromarray(array), quality=95)
    assert image_io.open_image(path, at_least=(64, 64)).size == (128, 96)  # 1/8 scale
    assert image_io.open_image(path, at_least=(200, 200)).size == (512, 384)
    reduced, upscaled = image_io.load_square(path, 32)
    full = image_io.square_resize(image_io.to_rgb_array(image_io.open_image(path)), 32)
    assert not upscaled and np.abs(reduced.astype(int) - full).max() <= 3
