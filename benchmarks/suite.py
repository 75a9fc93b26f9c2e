"""Runs the selected measurements in order and derives the comparisons (ratios, fraction of
peak). Called by run.py with parsed flags; returns one JSON-able dict."""
import os
import statistics
import time
from typing import Dict

from benchmarks import data, timing
from benchmarks.results_file import ROOT

MODELS = {  # name -> config file (batch, widths and resolution come from it)
    "dcgan_32": "configs/dcgan_32.yaml",
    "dcgan_64": "configs/dcgan_64.yaml",
    "dcgan_128": "configs/dcgan_128.yaml",
    "pix2pix_256": "configs/pix2pix_256.yaml",
    "discogan_64": "configs/discogan_64.yaml",
    # <config>@<r>: the growing model's stage r, as trainer/progan_growth.stage_config builds it
    # (its graph, its batch), reading the final-resolution records as a real run does.
    **{f"progan_32@{r}": "configs/progan_32.yaml" for r in (4, 8, 16, 32)},
    **{f"progan_128@{r}": "configs/progan_128.yaml" for r in (4, 8, 16, 32, 64, 128)},
}
# Measured only when --only names them: the paper-width stages take minutes per step on a CPU.
OPTIONAL = frozenset(name for name in MODELS if name.startswith("progan_128@"))


def chosen_models(args):
    """The model sections to measure: those --only names, else every MODELS entry but OPTIONAL."""
    return [s for s in args.sections if s in MODELS and (args.only or s not in OPTIONAL)]


def run_all(args, workdir: str) -> Dict:
    schedule = timing.QUICK if args.quick else timing.FULL
    results = {"load": {"start": timing.load()}, "schedule": schedule.__dict__, "models": {}}
    chosen = chosen_models(args)
    peak = None
    if chosen:
        from benchmarks import flops
        print("matmul peak ...", flush=True)
        peak = results["peak"] = flops.matmul_peak(schedule)
    for name in chosen:
        print(f"{name} ...", flush=True)
        results["models"][name] = run_model(name, args, schedule, workdir, peak)
    if "converter" in args.sections:
        print("converter ...", flush=True)
        results["converter"] = run_converter(args, workdir)
    results["load"]["end"] = timing.load()
    return results


def model_config(name: str, args, data_dir_for):
    """The model's real config with train_data pointed at a generated dataset at the config's
    resolution (None and why if the config or the model is not there yet). For `<config>@<r>`
    the config of stage r (progan_stage_resolution r, train_batch_size the stage's batch)."""
    from trainer import config, models
    path = os.path.join(ROOT, MODELS[name])
    if not os.path.exists(path):
        return None, f"{MODELS[name]} not found"
    raw = config.read_yaml(path)
    if not models.available(raw.get("model", "")):
        return None, f"model {raw.get('model')!r} not available"
    model = models.get(raw["model"])
    resolution = raw.get("resolution", config.COMMON_FIELDS["resolution"].default)
    cfg = config.build([path], [f"train_data={data_dir_for(resolution, model.data_mode)}"])
    if "@" in name:
        cfg = _stage_config(cfg, int(name.partition("@")[2]), MODELS[name])
    batch = args.batch or (min(cfg["train_batch_size"], 16) if args.quick else None)
    if batch:
        cfg = config.build(base=cfg.to_dict(), overrides=[f"train_batch_size={batch}"], base_source=MODELS[name])
    return cfg, None


def _stage_config(cfg, resolution: int, source: str):
    from trainer import progan_growth
    from trainer.models import progan
    stages = progan.schedule(cfg).resolutions
    if resolution not in stages:
        raise ValueError(f"{source}: {resolution} is not a stage of this growth; stages: {stages}")
    return progan_growth.stage_config(cfg, stages.index(resolution))


def run_model(name: str, args, schedule: timing.Schedule, workdir: str, peak: Dict) -> Dict:
    from benchmarks import pipeline, training
    cfg, skipped = model_config(name, args, lambda resolution, mode: data.dataset_in(workdir, resolution, mode))
    if cfg is None:
        print(f"  skipped: {skipped}", flush=True)
        return {"skipped": skipped}
    out = {"batch": cfg["train_batch_size"], "resolution": cfg["resolution"], "model": cfg["model"],
           "stage_resolution": cfg.get("progan_stage_resolution"),
           "load_start": timing.load(), "project_runs": [], "bare_runs": []}
    for _ in range(max(1, args.repeats)):
        out["project_runs"].append(_timed("project", lambda: training.project_throughput(cfg, schedule, workdir)))
        out["bare_runs"].append(_timed("bare", lambda: training.bare_throughput(cfg, schedule, jit=False)))
    if not args.no_jit:
        out["bare_jit"] = _timed("bare jit", lambda: training.bare_throughput(cfg, schedule, jit=True))
    out["input"] = _timed("input", lambda: pipeline.input_throughput(cfg, schedule))
    out["load_end"] = timing.load()
    return derive(out, peak)


def _timed(label: str, fn):
    start = time.perf_counter()
    result = fn()
    print(f"  {label}: {result['per_s']:.1f} img/s ({time.perf_counter() - start:.0f} s)", flush=True)
    return result


def derive(out: Dict, peak: Dict) -> Dict:
    """images/s medians, the ceiling and the ratios (see README for each)."""
    project = statistics.median(r["per_s"] for r in out["project_runs"])
    bare = statistics.median(r["per_s"] for r in out["bare_runs"])
    jit = out.get("bare_jit", {}).get("per_s", float("nan"))
    ceiling = max(bare, jit) if jit == jit else bare
    flops = out["project_runs"][0]["flops_per_step"]
    batch = out["batch"]
    out.update({
        "project_img_s": project, "bare_img_s": bare, "bare_jit_img_s": jit, "ceiling_img_s": ceiling,
        "ceiling": "jit_compile" if ceiling == jit else "tf.function",
        "step_time_ratio": ceiling / project,            # project step time / ceiling step time
        "flops_per_step": flops,
        "achieved_flops_per_s": flops * project / batch,
        "fraction_of_peak": flops * project / batch / peak["flops_per_s"],
        "ceiling_fraction_of_peak": flops * ceiling / batch / peak["flops_per_s"],
        "input_img_s": out["input"]["per_s"],
        "input_ratio": out["input"]["per_s"] / project,  # target >= 5
    })
    return out


def run_converter(args, workdir: str) -> Dict:
    from benchmarks import converter
    count = args.images or (300 if args.quick else 2500)
    folder = os.path.join(workdir, "jpegs")
    start = time.perf_counter()
    total_bytes = data.write_jpeg_folder(folder, count)
    print(f"  generated {count} JPEGs ({total_bytes / count / 1024:.0f} KiB each) in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    gcs = converter.start_gcs() if args.gcs else None
    try:
        # Short runs on a shared machine: at least 3, interleaved, medians reported.
        repeats = 1 if args.quick else max(3, args.repeats)
        result = converter.converter_benchmark(folder, workdir, args.convert_size, gcs, repeats)
    finally:
        if gcs is not None:
            gcs.stop()
    result.update({"jpegs": count, "jpeg_kib": total_bytes / count / 1024, "size": args.convert_size,
                   "load_end": timing.load()})
    for key, value in result.items():
        if isinstance(value, dict) and "images_per_s" in value:
            print(f"  {key}: {value['images_per_s']:.0f} img/s", flush=True)
    return result
