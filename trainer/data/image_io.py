"""Image decoding and normalisation for the converter: any PIL-readable file -> HWC uint8 RGB.

numpy and PIL only, never TensorFlow: the converter's worker processes import this module (and
decode_worker) and nothing else, so they start in a fraction of a second.

What every image goes through, in this order:
  1. open and fully decode (corrupt, truncated, empty or unreadable files raise ImageRejected)
  2. EXIF orientation applied (ImageOps.exif_transpose), so phone photos stand upright
  3. forced to 8-bit RGB: grayscale and 1-bit replicated; RGBA, LA, PA and palette or RGB
     images with a transparent colour composited on white; CMYK and other modes converted;
     16-bit ("I;16*", "I") scaled from [0, 65535] to [0, 255]; float ("F") read as [0, 1]
     when its maximum is <= 1, else as [0, 255]
  4. centre-cropped to a square and resized to `size` with LANCZOS (sharpest when shrinking)
Images with a side shorter than MIN_SIDE pixels are rejected: they carry no usable content.
"""
import io
from typing import Optional, Tuple

import numpy as np
from PIL import Image, ImageOps

MIN_SIDE = 8
RESAMPLE = Image.Resampling.LANCZOS
RESAMPLE_NAME = "LANCZOS"
DEFAULT_EDGE_SIGMA = 1.5
WHITE = (255, 255, 255)


class ImageRejected(Exception):
    """A file that cannot become a training image; str(error) is the reason for rejects.csv."""


def open_image(path: str, at_least: Optional[Tuple[int, int]] = None) -> Image.Image:
    """Opens and fully decodes one file (first frame of animations), EXIF orientation applied.

    at_least=(width, height): a JPEG may be decoded at 1/2, 1/4 or 1/8 scale (PIL's draft
    mode, done in the DCT) as long as it stays at least this large; a 12-megapixel photo bound
    for 64 px then decodes about 10x faster."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ImageRejected(f"cannot read file ({e.strerror or e})") from None
    if not data:
        raise ImageRejected("empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
        if at_least and image.format == "JPEG":
            image.draft(None, at_least)
        image.load()
    except Image.DecompressionBombError:
        raise ImageRejected("image too large (over PIL's decompression-bomb limit)") from None
    except Image.UnidentifiedImageError:
        raise ImageRejected("not an image PIL can read (unknown or damaged format)") from None
    except Exception as e:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
        raise ImageRejected(f"corrupt, truncated or not an image ({first_line(e)})") from None
    return _upright(image)


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not cost an otherwise good image
        return image


def first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Any PIL image -> [H, W, 3] uint8 (see the module docstring for each mode)."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        rgb = _gray_to_rgb(_scale_16bit(np.asarray(image)))
    elif mode == "F":
        rgb = _gray_to_rgb(_scale_float(np.asarray(image)))
    elif _has_alpha(image):
        rgb = np.asarray(_on_white(image.convert("RGBA")))
    else:
        rgb = np.asarray(image.convert("RGB"))
    return check_hwc_uint8(np.ascontiguousarray(rgb))


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _on_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGBA", rgba.size, WHITE + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _scale_16bit(values: np.ndarray) -> np.ndarray:
    wide = np.clip(values.astype(np.int64), 0, 65535)
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)


def _scale_float(values: np.ndarray) -> np.ndarray:
    values = np.nan_to_num(values.astype(np.float64))
    if values.size and values.max() <= 1.0:
        values = values * 255.0
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def check_hwc_uint8(array: np.ndarray, size: int = None) -> np.ndarray:
    """Asserts [H, W, 3] uint8 (and H == W == size when given). A CHW array fed to an HWC model
    trains on noise without any error, so the layout is checked before anything is encoded."""
    expected = f"[{size or 'H'}, {size or 'W'}, 3] uint8"
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise AssertionError(f"image array is {list(array.shape)} {array.dtype}; expected {expected}")
    if size is not None and array.shape[:2] != (size, size):
        raise AssertionError(f"image array is {list(array.shape)}; expected {expected}")
    return array


def check_min_side(array: np.ndarray, what: str = "image") -> None:
    height, width = array.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ImageRejected(f"{what} too small: {width}x{height} px; expected at least "
                            f"{MIN_SIDE} px on each side")


def square_resize(array: np.ndarray, size: int) -> np.ndarray:
    """[H, W, 3] uint8 -> centre square -> [size, size, 3] uint8."""
    height, width = array.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(array[top:top + side, left:left + side])
    if side != size:
        square = square.resize((size, size), RESAMPLE)
    return check_hwc_uint8(np.asarray(square), size)


def split_side_by_side(array: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """[H, W, 3] with A on the left half and B on the right -> (A, B). With an odd width the
    middle column belongs to neither half."""
    height, width = array.shape[:2]
    if width < height:
        raise ImageRejected(f"expected A|B side by side (width about twice the height), "
                            f"got {width}x{height} px")
    half = width // 2
    return array[:, :half], array[:, width - half:]


def edge_map(photo: np.ndarray, sigma: float = DEFAULT_EDGE_SIGMA) -> np.ndarray:
    """[H, W, 3] uint8 photo -> [H, W, 3] uint8 Canny edges: black (0) lines on white (255)."""
    from skimage.feature import canny  # imported here: only --make_edges workers pay for it

    gray = photo.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255.0
    edges = canny(gray, sigma=sigma)
    return _gray_to_rgb(np.where(edges, 0, 255).astype(np.uint8))


def encode_png(array: np.ndarray, size: int) -> bytes:
    check_hwc_uint8(array, size)
    buffer = io.BytesIO()
    Image.fromarray(array, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def load_square(path: str, size: int) -> Tuple[np.ndarray, bool]:
    """One file -> ([size, size, 3] uint8, whether it had to be upscaled)."""
    array = to_rgb_array(open_image(path, at_least=(size, size)))
    check_min_side(array)
    return square_resize(array, size), min(array.shape[:2]) < size


def load_side_by_side(path: str, size: int) -> Tuple[np.ndarray, np.ndarray, bool]:
    """One A|B file -> (A, B) each [size, size, 3] uint8, and whether either was upscaled."""
    left, right = split_side_by_side(to_rgb_array(open_image(path, at_least=(2 * size, size))))
    check_min_side(left, "each half")
    upscaled = min(left.shape[:2]) < size
    return square_resize(left, size), square_resize(right, size), upscaled
