"""Generated inputs for the benchmarks: photo-like images, a TFRecord dataset in the converter's
layout (for training and the input pipeline; also a ProGAN level: the same images box-filtered
to a lower resolution), and a folder of JPEGs (for the converter).

The images are smooth random colour fields with fine noise on top, so they neither compress nor
decode much faster than photos (flat test blobs would flatter PNG decoding). Everything is
seeded. numpy + PIL at import; TensorFlow only inside `write_dataset` and `dataset_in` (the converter's spawned
workers import this module's parent package).
"""
import io
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Optional, Tuple

import numpy as np
from PIL import Image


def photo_like(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """uint8 [height, width, 3]: a bicubic-upsampled 6x8 colour grid plus noise (sigma 6)."""
    grid = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC), np.float32)
    noisy = smooth + rng.normal(0.0, 6.0, smooth.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def encode(image: np.ndarray, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def records_count(resolution: int) -> int:
    """Distinct images per dataset: 512 at 32/64 px, fewer at larger sizes (the pipeline
    repeats them; reading is from the page cache either way)."""
    return int(min(512, max(64, (1 << 22) // (resolution * resolution))))


def box_downscaled(image: np.ndarray, resolution: int) -> np.ndarray:
    """uint8 [R, R, 3] -> uint8 [resolution, resolution, 3], each pixel the rounded mean of its
    block (R / resolution a power of two: the repeated 2x2 averaging ProGAN's dataset tool
    writes every level with, rounded once)."""
    factor = image.shape[0] // resolution
    blocks = image.reshape(resolution, factor, resolution, factor, image.shape[2]).astype(np.float32)
    return np.round(blocks.mean(axis=(1, 3))).astype(np.uint8)


def write_dataset(out_dir: str, resolution: int, mode: str, count: int, seed: int = 0, shards: int = 4,
                  downscale_from: Optional[int] = None) -> str:
    """A dataset folder (shards + dataset.json) like convert_to_tfrecords.py writes: `count` PNG
    records of photo-like [resolution, resolution, 3] images (pairs in paired mode, B the
    inverted A; per domain in unpaired), through the tests' dataset writer. With
    `downscale_from` R: the images of write_dataset(..., R, ...) with the same seed, in the
    same order, box_downscaled to `resolution` (a ProGAN level written at its own size)."""
    from tests.datasets import make_dataset

    if downscale_from:
        image_fn = lambda rng, size: box_downscaled(photo_like(rng, downscale_from, downscale_from), size)
    else:
        image_fn = lambda rng, size: photo_like(rng, size, size)
    return make_dataset(out_dir, resolution, count, mode, seed, shards=shards, image_fn=image_fn)


def dataset_in(workdir: str, resolution: int, mode: str, downscale_from: Optional[int] = None) -> str:
    """`workdir`/data-<mode>-<resolution>[-from<R>]: a write_dataset folder of
    records_count(R or resolution) records, written on the first call and reused by later ones
    (every ProGAN stage of a config, and dcgan_32, read the same 32-px records)."""
    from trainer.data import schema

    out = os.path.join(workdir, f"data-{mode}-{resolution}" + (f"-from{downscale_from}" if downscale_from else ""))
    if not os.path.exists(schema.manifest_path(out)):
        write_dataset(out, resolution, mode, records_count(downscale_from or resolution),
                      downscale_from=downscale_from)
    return out


def _write_jpegs(args: Tuple[str, int, int]) -> int:
    folder, start, stop = args
    total = 0
    for i in range(start, stop):
        rng = np.random.default_rng(1000 + i)
        width, height = int(rng.integers(400, 641)), int(rng.integers(300, 481))
        data = encode(photo_like(rng, height, width), "JPEG", quality=90)
        with open(os.path.join(folder, f"img{i:05d}.jpg"), "wb") as f:
            f.write(data)
        total += len(data)
    return total


def write_jpeg_folder(folder: str, count: int, workers: int = 0) -> int:
    """`count` photo-like JPEGs of 400-640 x 300-480 px (quality 90) in `folder`; returns the
    total bytes. Generated in parallel (not part of any measurement)."""
    import multiprocessing
    os.makedirs(folder, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    step = -(-count // (workers * 4))
    jobs = [(folder, i, min(i + step, count)) for i in range(0, count, step)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return sum(pool.map(_write_jpegs, jobs))
