"""Converter throughput (images/s) on a generated folder of JPEGs.

- converter: `trainer.data.convert.convert` (what convert_to_tfrecords.py runs) with 1 worker
  (decoding in-process) and with all cores (`--num_workers`, spawned processes), each into a
  fresh output folder; the whole call is timed (listing, worker start-up, writing, manifest).
- pil_loop: the same images through a plain single-process PIL loop (open, convert RGB,
  centre-crop, LANCZOS resize, PNG-encode), the floor any converter has to beat per core.
- gcs (optional): the converter writing to gs:// on the local emulator (tests/gcs_emulator), with
  the CPU seconds the emulator and its proxy spent per run (taken from the same cores).
The converter keeps its order and checks (EXIF, modes, rejects, manifest); the loop does not.
"""
import io
import os
import resource
import shutil
import tempfile
import time
from typing import Dict, Optional

from PIL import Image


def pil_loop(folder: str, size: int) -> Dict:
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
    start = time.perf_counter()
    total = 0
    for path in files:
        with Image.open(path) as image:
            image = image.convert("RGB")
            width, height = image.size
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            total += len(buffer.getvalue())
    seconds = time.perf_counter() - start
    return {"images": len(files), "seconds": seconds, "images_per_s": len(files) / seconds}


def run_converter(folder: str, output_dir: str, size: int, workers: int) -> Dict:
    from trainer.data.convert import convert
    from trainer.data.convert_options import ConvertOptions

    options = ConvertOptions(input_dir=folder, output_dir=output_dir, size=size, num_workers=workers,
                             overwrite=True)
    self_before, children_before = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    summary = convert(options)
    seconds = time.perf_counter() - start
    count = summary.manifest["num_examples"]
    parent = _cpu(resource.RUSAGE_SELF) - self_before
    children = _cpu(resource.RUSAGE_CHILDREN) - children_before  # workers, once joined
    return {"workers": workers, "images": count, "seconds": seconds, "images_per_s": count / seconds,
            "output": "gs" if output_dir.startswith("gs://") else "local",
            # CPU-ms per image in this process (listing, writing, and decoding with 1 worker)
            # and in the worker processes: what the rate would be on idle cores, load aside.
            "parent_cpu_ms_per_image": 1000 * parent / count, "workers_cpu_ms_per_image": 1000 * children / count}


def _cpu(who) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def converter_benchmark(folder: str, workdir: str, size: int, gcs=None, repeats: int = 1) -> Dict:
    """-> {'pil_loop': ..., 'converter_1': ..., 'converter_N': ..., ['gcs_1', 'gcs_N']}; with
    repeats > 1 the converter runs are interleaved and each entry is its median run."""
    cores = os.cpu_count() or 1
    results = {"pil_loop": pil_loop(folder, size)}
    targets = [(f"converter_{workers}", None, workers) for workers in sorted({1, cores})]
    if gcs is not None:
        bucket = gcs.bucket("bench")
        targets += [(f"gcs_{workers}", f"{bucket}/w{workers}", workers) for workers in sorted({1, cores})]
    runs = {name: [] for name, _, _ in targets}
    for _ in range(repeats):
        for name, output_dir, workers in targets:
            runs[name].append(_converter_run(folder, workdir, output_dir, size, workers, gcs))
    for name, measured in runs.items():
        median = sorted(measured, key=lambda r: r["seconds"])[len(measured) // 2]
        results[name] = {**median, "runs_images_per_s": [r["images_per_s"] for r in measured]}
    one = results["converter_1"]["images_per_s"]
    results["speedup_all_cores"] = results[f"converter_{cores}"]["images_per_s"] / one
    results["cores"] = cores
    results["repeats"] = repeats
    return results


def _converter_run(folder: str, workdir: str, output_dir: Optional[str], size: int, workers: int,
                   gcs=None) -> Dict:
    if output_dir is not None:  # gs:// on the emulator
        before = gcs.cpu_seconds()
        result = run_converter(folder, output_dir, size, workers)
        after = gcs.cpu_seconds()
        if before is not None and after is not None:
            # fake-gcs-server + proxy: on a real bucket this is not spent on these cores.
            result["emulator_cpu_s"] = after - before
        return result
    out = tempfile.mkdtemp(prefix="convert-", dir=workdir)
    try:
        return run_converter(folder, out, size, workers)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def start_gcs() -> Optional[object]:
    from tests.gcs_emulator import start_emulator
    return start_emulator(set_env=True)
