"""Translate a folder of images with an exported SavedModel (from `trainer.task --mode export`).

  python -m trainer.translate --saved_model PATH --input_dir DIR --output_dir OUT \
      [--signature serving_default] [--batch_size 8] [--pair_half A|B]

The signature takes encoded images (a tf.string [None] input, PNG/JPEG of any size; pix2pix calls
it `image_bytes`) and returns PNG bytes (a tf.string [None] output, `png_bytes`; exports made
before it was renamed call it `png`), the contract of the pix2pix and CycleGAN exports (CycleGAN:
--signature a2b or b2a). Writes OUT/images/NAME-input.png, OUT/images/NAME-output.png and
OUT/index.html (input | output per row). Local paths or gs://.
Needs only TensorFlow and the SavedModel, not the training config or checkpoints.

A file twice as wide as high looks like a side-by-side A|B pair (a pix2pix dataset image): it is
translated whole, squeezed into the model's square input, with a one-line warning on stderr,
unless --pair_half A (left) or B (right) picks the half to translate (the model's input side:
A for an AtoB model, B for BtoA).
"""
import argparse
import io
import os
import sys
from typing import Dict, List, Optional

import numpy as np
from PIL import Image

DEFAULT_SIGNATURE = "serving_default"
OUTPUT_NAME = "png_bytes"  # models/image_to_image.PNG_OUTPUT; older exports have only `png`
PAIR_HALVES = ("A", "B")  # the left and right half of a side-by-side A|B file


class TranslateError(ValueError):
    """A problem with the arguments, the SavedModel or the folder; one line for the user."""


def _string_key(specs: Dict, preferred: str, what: str, signature: str) -> str:
    """The name of the signature's tf.string input (or output): `preferred`, or the only one."""
    import tensorflow as tf
    strings = [k for k, spec in specs.items() if getattr(spec, "dtype", None) == tf.string]
    if preferred in strings:
        return preferred
    if len(strings) == 1:
        return strings[0]
    raise TranslateError(f"signature {signature!r}: expected one tf.string {what} (e.g. {preferred!r}), "
                         f"found {sorted(specs)}")


class Translator:
    """One signature of a SavedModel: `translator([encoded bytes, ...]) -> [PNG bytes, ...]`."""

    def __init__(self, saved_model: str, signature: str = DEFAULT_SIGNATURE):
        import tensorflow as tf
        if not tf.io.gfile.exists(os.path.join(saved_model, "saved_model.pb")):
            raise TranslateError(f"--saved_model {saved_model}: no saved_model.pb there (use the folder "
                                 "that `--mode export` printed)")
        self._loaded = tf.saved_model.load(saved_model)  # keeps the signature's variables alive
        if signature not in self._loaded.signatures:
            raise TranslateError(f"--signature {signature}: not in {saved_model}; it has "
                                 f"{', '.join(sorted(self._loaded.signatures))}")
        self._fn = self._loaded.signatures[signature]
        self.input_key = _string_key(self._fn.structured_input_signature[1], "image_bytes", "input", signature)
        self.output_key = _string_key(self._fn.structured_outputs, OUTPUT_NAME, "output", signature)

    def __call__(self, encoded: List[bytes]) -> List[bytes]:
        import tensorflow as tf
        return list(self._fn(**{self.input_key: tf.constant(encoded, tf.string)})[self.output_key].numpy())


def _output_names(files: List[str]) -> List[str]:
    """Unique stems: 'x.png' and 'x.jpg' become 'x' and 'x-1'."""
    seen, names = set(), []
    for path in files:
        stem = os.path.splitext(os.path.basename(path))[0]
        name, k = stem, 0
        while name in seen:
            k += 1
            name = f"{stem}-{k}"
        seen.add(name)
        names.append(name)
    return names


def _read(path: str) -> bytes:
    import tensorflow as tf
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def _as_rgb(encoded: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(encoded)) as image:
        return np.asarray(image.convert("RGB"))


def _size(encoded: bytes):
    """(width, height) from the image header, or None when PIL cannot read it (TF may still)."""
    try:
        with Image.open(io.BytesIO(encoded)) as image:
            return image.size
    except (OSError, ValueError):
        return None


def looks_like_pair(size) -> bool:
    """A side-by-side A|B file, as pix2pix datasets and `convert_to_tfrecords.py --mode paired` use."""
    return size is not None and size[0] == 2 * size[1]


def half_of_pair(encoded: bytes, half: str) -> bytes:
    """PNG bytes of the A (left) or B (right) half of a side-by-side A|B image."""
    image = _as_rgb(encoded)
    width = image.shape[1] // 2
    buffer = io.BytesIO()
    Image.fromarray(image[:, :width] if half == "A" else image[:, width:]).save(buffer, format="PNG")
    return buffer.getvalue()


class _PairInputs:
    """Applies --pair_half to A|B-shaped files, or warns once (one stderr line) that they are
    translated whole."""

    def __init__(self, pair_half: Optional[str]):
        self._half, self._warned = pair_half, False

    def __call__(self, path: str, encoded: bytes) -> bytes:
        size = _size(encoded)
        if not looks_like_pair(size):
            return encoded
        if self._half is not None:
            return half_of_pair(encoded, self._half)
        if not self._warned:
            self._warned = True
            print(f"warning: {path}: {size[0]}x{size[1]}, twice as wide as high, looks like an A|B pair; "
                  "translating the whole image squeezed into one square input (--pair_half A or B "
                  "translates one half; further such files are not reported)", file=sys.stderr)
        return encoded


def translate_folder(saved_model: str, input_dir: str, output_dir: str,
                     signature: str = DEFAULT_SIGNATURE, batch_size: int = 8,
                     pair_half: Optional[str] = None) -> Dict[str, str]:
    """Runs every image of input_dir through the signature (of side-by-side A|B files only the
    `pair_half` 'A' or 'B', if given); returns {'index', 'count', ...}."""
    import tensorflow as tf
    from trainer import images
    from trainer.fields import ConfigError

    if batch_size < 1:
        raise TranslateError(f"--batch_size {batch_size}: must be at least 1")
    if pair_half not in (None, *PAIR_HALVES):
        raise TranslateError(f"--pair_half {pair_half}: expected A (left half) or B (right half)")
    if not tf.io.gfile.isdir(input_dir):
        raise TranslateError(f"--input_dir {input_dir}: not a folder")
    try:
        files = images.folder_images(input_dir)
    except ConfigError as e:
        raise TranslateError(str(e)) from None
    translator = Translator(saved_model, signature)
    pair_inputs = _PairInputs(pair_half)
    names, rows = _output_names(files), []
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        encoded = [pair_inputs(p, _read(p)) for p in chunk]
        for data, png, name in zip(encoded, translator(encoded), names[start:start + batch_size]):
            row = {"input": f"images/{name}-input.png", "output": f"images/{name}-output.png"}
            images.write_png(os.path.join(output_dir, row["input"]), _as_rgb(data))
            with tf.io.gfile.GFile(os.path.join(output_dir, row["output"]), "wb") as f:
                f.write(png)
            rows.append(row)
    index = images.write_index_html(os.path.join(output_dir, "index.html"), rows, ("input", "output"),
                                    title=f"{os.path.basename(saved_model.rstrip('/'))} [{signature}]: {input_dir}")
    return {"index": index, "count": str(len(rows)), "output_dir": output_dir}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m trainer.translate", description=__doc__.split("\n")[0])
    parser.add_argument("--saved_model", required=True, help="folder with saved_model.pb (from --mode export)")
    parser.add_argument("--input_dir", required=True, help="folder of PNG/JPEG images, any size")
    parser.add_argument("--output_dir", required=True, help="where images/ and index.html go")
    parser.add_argument("--signature", default=DEFAULT_SIGNATURE, help="e.g. a2b / b2a for CycleGAN exports")
    parser.add_argument("--batch_size", type=int, default=8, help="images per call of the signature")
    parser.add_argument("--pair_half", choices=PAIR_HALVES,
                        help="of side-by-side A|B files (twice as wide as high) translate only the A (left) "
                             "or B (right) half; default: the whole file, with a warning")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        written = translate_folder(args.saved_model, args.input_dir, args.output_dir, args.signature,
                                   args.batch_size, args.pair_half)
    except TranslateError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"translated {written['count']} images: {written['index']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
