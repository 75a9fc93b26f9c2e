"""Sample quality over training: dcgan_32 (or progan_32) on Fashion-MNIST for a fixed CPU time
budget, measured at every checkpoint against 1000 real test images.

  python -m benchmarks.quality                       # the demo's setting: 6 min of training
  python -m benchmarks.quality --quick               # smoke run, under ~2 minutes
  python -m benchmarks.quality --model progan_32     # the Progressive GAN, same data and budget
  python -m benchmarks.quality --set gf_dim=32 --tag gf32   # a config override, measured
  python -m benchmarks.quality --eval_only --tag gf32       # measure an existing run again

1. Data, made the way the demo makes it (trainer.demo): the first `--per_class` (600) training
   images of each Fashion-MNIST class as a PNG folder, converted to 32-px TFRecords.
2. A small CNN classifier of Fashion-MNIST (benchmarks/fashion_classifier.py), trained once and
   cached under ~/.cache/ (its test accuracy is reported).
3. Training through the project's CLI: `python -m trainer.task --config configs/dcgan_32.yaml
   --config configs/demo.yaml --set train_data=... --set max_train_minutes=B` (+ `--set`), every
   checkpoint kept; `--model progan_32`: configs/progan_32.yaml instead (MODELS says what of
   demo.yaml it takes).
4. Per checkpoint, 1000 samples (the quality tools' seeded noise: trainer.quality.generator) vs
   1000 real test images: FD and KID in the classifier's 128-d penultimate features, its mean
   max-probability, the classes holding >= 2% of the samples; SWD (x1e3), MS-SSIM diversity and
   FD in EfficientNet-Lite0 features (trainer.quality; `--no_efficientnet` skips the slowest).
   Two reference rows: real training images vs the real test images (the floor), and the
   untrained generator (step 0, the ceiling). A progan checkpoint is restored into the networks of
   its own growth stage (trainer/trained_generator.py), whose generator upsamples to 32 px.

Writes a table on stdout, benchmarks/results/quality-<tag>-<date>-<time>.json (git-ignored) and
a PNG of each metric over the steps beside sample grids, in the run's folder
(runs/quality/<tag>/quality.png, git-ignored) unless `--plot` says where.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time
from typing import Dict, List

import numpy as np

from benchmarks import charts
from benchmarks.results_file import ROOT, machine, write_json

DEMO = "configs/demo.yaml"
CONFIGS = ("configs/dcgan_32.yaml", DEMO)
QUICK_SETS = ("train_steps=40", "save_checkpoints_steps=20", "summary_every_steps=20",
              "image_summary_every_steps=20")
# What --model trains: its config files, the demo.yaml keys it takes as --set items, and the extra
# --set items of a --quick run. dcgan_32 is the demo itself. progan_32 trains on the same records
# for the same budget (--minutes; train() sets max_train_minutes and keeps every checkpoint), with
# the demo's checkpoint and summary cadences (a checkpoint every 400 steps, and one at each stage
# change); progan_32.yaml has the demo's batch (32) already; demo.yaml's learning rate
# (4e-4) was measured for dcgan and does not apply (progan keeps the paper's 1e-3), and its
# train_steps (2400) lie past what 6 minutes reach. --quick shrinks progan's stages to 5 and 10
# steps, so that its one minute (most of it each stage's graph building) crosses stage changes.
DEMO_CADENCE = ("save_checkpoints_steps", "summary_every_steps", "image_summary_every_steps")
MODELS = {
    "dcgan_32": {"configs": CONFIGS, "from_demo": (), "quick": ()},
    "progan_32": {"configs": ("configs/progan_32.yaml",), "from_demo": DEMO_CADENCE,
                  "quick": ("progan_stage_kimg=0.16", "progan_transition_kimg=0.16")},
}
DEFAULT_MODEL = "dcgan_32"
FLOOR, CEILING = "real train (floor)", "step 0 (ceiling)"

# (key, column title, format) of the table; the JSON holds every measure.
COLUMNS = (("cls_fd", "cls FD", "{:.1f}"), ("cls_kid", "cls KID", "{:.3f}"), ("cls_kid_std", "±std", "{:.3f}"),
           ("confidence", "conf", "{:.2f}"), ("coverage", "classes≥2%", "{:d}"), ("skew", "largest class", "{}"),
           ("swd_32", "swd_32", "{:.0f}"), ("swd_16", "swd_16", "{:.0f}"), ("swd_avg", "swd_avg", "{:.0f}"),
           ("fid_effnet", "FD EffNet", "{:.1f}"), ("msssim_fake", "MS-SSIM", "{:.3f}"))
# What the plot draws, (key, title, log scale).
PLOTTED = (("cls_fd", "classifier FD (log)", True), ("confidence", "mean max-probability", False),
           ("coverage", "classes with >= 2%", False), ("cls_kid", "classifier KID", False),
           ("swd_avg", "SWD avg (x1e3)", False), ("fid_effnet", "FD EfficientNet", False),
           ("msssim_fake", "MS-SSIM of samples", False))


def log(message: str) -> None:
    print(message, flush=True)


# --- data and training (the project's own demo data path and CLI) -----------------------------

def make_data(work_dir: str, per_class: int) -> str:
    """The demo's image folder and 32-px records under work_dir; made once, reused."""
    from trainer import demo
    images_dir = os.path.join(work_dir, f"images{per_class}")
    data_dir = os.path.join(work_dir, f"tfrecords32-{per_class}")
    if not os.path.isdir(images_dir):
        log(f"data: {demo.make_image_folder(images_dir + '.tmp', per_class)} -> {images_dir}")
        os.replace(images_dir + ".tmp", images_dir)
    if not os.path.exists(os.path.join(data_dir, "dataset.json")):
        demo.run([sys.executable, "convert_to_tfrecords.py", "--input_dir", images_dir,
                  "--output_dir", data_dir, "--size", "32"])
    return data_dir


def train(configs, sets: List[str], data_dir: str, model_dir: str, minutes: float) -> Dict:
    """Trains a fresh model_dir with `python -m trainer.task`; every checkpoint is kept."""
    if os.path.exists(model_dir):
        shutil.rmtree(model_dir)
    cmd = [sys.executable, "-m", "trainer.task"] + [x for c in configs for x in ("--config", c)]
    all_sets = [f"train_data={data_dir}", f"max_train_minutes={minutes}", "keep_checkpoint_max=1000", *sets]
    cmd += [x for s in all_sets for x in ("--set", s)] + ["--model_dir", model_dir, "--mode", "train"]
    log("$ " + " ".join(cmd))
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start, load = time.time(), os.getloadavg()
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)
    return {"wall_s": round(time.time() - start, 1), "load_average_before": load,
            "load_average_after": os.getloadavg(), "sets": all_sets, "configs": list(configs)}


def checkpoints(model_dir: str) -> List:
    """[(step, checkpoint path)] of every checkpoint kept, in step order."""
    import tensorflow as tf
    state = tf.train.get_checkpoint_state(model_dir)
    paths = list(state.all_model_checkpoint_paths) if state else []
    paths = [os.path.join(model_dir, os.path.basename(p)) for p in paths]  # relative to model_dir
    return sorted((int(tf.train.load_variable(p, "global_step")), p) for p in paths)


def model_config(model_dir: str):
    from trainer import config
    stored = config.load_from_model_dir(model_dir)
    return config.build([], [], base=stored, base_source=os.path.join(model_dir, config.CONFIG_FILENAME))


def run_settings(model: str, quick: bool):
    """(config files, --set items) of --model's training run (MODELS); a --quick run's items
    replace the demo's."""
    from trainer import config
    settings = MODELS[model]
    quick_sets = list(QUICK_SETS) + list(settings["quick"]) if quick else []
    replaced = {config.parse_set(item)[0] for item in quick_sets}
    demo = config.read_yaml(os.path.join(ROOT, DEMO)) if settings["from_demo"] else {}
    return list(settings["configs"]), [f"{k}={demo[k]}" for k in settings["from_demo"] if k not in replaced] + quick_sets


def model_name(cfg) -> str:
    """'dcgan_32', 'progan_32': what a run trained, named as its config file."""
    return f"{cfg['model']}_{cfg['resolution']}"


# --- measuring ----------------------------------------------------------------------------------

class Reference:
    """The real test images and their features, computed once."""

    def __init__(self, classifier, count: int, per_class: int, efficientnet: int, swd_projections: int,
                 seed: int = 0):
        """efficientnet: how many images of each set go through EfficientNet-Lite0 (0: none)."""
        from benchmarks import fashion_classifier as fc
        from trainer.quality import msssim
        rng = np.random.default_rng(seed)
        test_images, _ = fc.read_split("test")
        self.images = fc.as_converted(test_images[rng.permutation(len(test_images))[:count]])
        train_images, train_labels = fc.read_split("train")
        used = np.concatenate([np.flatnonzero(train_labels == c)[:per_class] for c in range(fc.NUM_CLASSES)])
        self.train_images = fc.as_converted(train_images[rng.permutation(used)[:count]])
        self.classifier, self.seed, self.swd_projections = classifier, seed, swd_projections
        self.logits, self.features = classifier(self.images)
        self.effnet = self.effnet_features = None
        if efficientnet:
            from trainer.quality import features
            self.effnet = features.load("efficientnet_lite0", None)
            self.effnet_count = efficientnet
            self.effnet_features = self.effnet(self.images[:efficientnet])["pool"]
        self.msssim_real = msssim.diversity(self.images, pairs=min(1000, 4 * count), seed=seed)

    def measure(self, images: np.ndarray) -> Dict:
        from benchmarks import fashion_classifier as fc
        from trainer.quality import frechet, msssim, swd
        logits, features = self.classifier(images)
        out = fc.measures(logits, features, self.features, seed=self.seed)
        largest = max(out["classes"], key=out["classes"].get)
        out["skew"] = f"{largest} {out['classes'][largest]:.0%}"
        out.update(swd.swd(self.images, images, projections=self.swd_projections, seed=self.seed))
        out["msssim_fake"] = msssim.diversity(images, pairs=min(1000, 4 * len(images)), seed=self.seed)
        if self.effnet is not None:
            fake = self.effnet(images[:self.effnet_count])["pool"]
            out["fid_effnet"] = frechet.frechet_distance(self.effnet_features, fake)
        return out


def generate(model_dir: str, path: str, count: int) -> np.ndarray:
    """`count` samples [count, resolution, resolution, 3] of one checkpoint, from the quality
    tools' seeded noise: the generator of the checkpoint's own networks (a progan stage's; its
    generator average when the run kept one)."""
    from trainer import trained_generator
    from trainer.quality import generator
    cfg = model_config(model_dir)
    net, _ = trained_generator.load(cfg, model_dir, checkpoint_path=path)
    return generator.generate(net, generator.noise(cfg, count))


# --- output ---------------------------------------------------------------------------------------

def _grid(images: np.ndarray, side: int = 6, scale: int = 1):
    from PIL import Image
    tiles = np.clip(np.round((images[:side * side] + 1.0) * 127.5), 0, 255).astype(np.uint8)
    n, h, w, c = tiles.shape
    tiles = np.concatenate([tiles, np.zeros([side * side - n, h, w, c], np.uint8)])
    grid = tiles.reshape(side, side, h, w, c).transpose(0, 2, 1, 3, 4).reshape(side * h, side * w, c)
    image = Image.fromarray(grid)
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST) if scale > 1 else image


def plot(path: str, rows: List[Dict], grids: Dict[str, np.ndarray], title: str) -> str:
    """Each PLOTTED metric over the training steps (dashed green: the real-data floor), and below,
    the sample grids of the checkpoints (benchmarks/charts.py)."""
    grid_images = {name: _grid(images, side=8) for name, images in grids.items()}
    return charts.plot(path, rows, PLOTTED, {FLOOR: charts.GREEN}, grid_images, [title], panels_per_line=4)


# --- main -------------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1000 training images, 40 steps, 200 samples (100 through EfficientNet)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="training budget (max_train_minutes; default 6, the demo's; --quick 1)")
    parser.add_argument("--model", choices=sorted(MODELS), default=DEFAULT_MODEL,
                        help=f"what to train (default {DEFAULT_MODEL}: {' + '.join(CONFIGS)}; progan_32: "
                             "configs/progan_32.yaml with the demo's cadences)")
    parser.add_argument("--config", action="append", default=None, help="config files (default: --model's)")
    parser.add_argument("--set", action="append", default=[], dest="overrides", help="config override key=value")
    parser.add_argument("--tag", default=None,
                        help="run name (folder runs/quality/<tag>, JSON name; default the model, or 'quick' "
                             "for dcgan_32 --quick, '<model>-quick' for the others)")
    parser.add_argument("--work_dir", default=os.path.join(ROOT, "runs", "quality"))
    parser.add_argument("--per_class", type=int, default=None, help="training images per class (default 600, the demo's)")
    parser.add_argument("--samples", type=int, default=None, help="generated and real test images (default 1000)")
    parser.add_argument("--no_efficientnet", action="store_true", help="skip FD in EfficientNet-Lite0 features")
    parser.add_argument("--efficientnet_samples", type=int, default=None,
                        help="images per set through EfficientNet-Lite0 (default all; --quick 100)")
    parser.add_argument("--last_only", action="store_true", help="measure only step 0 and the last checkpoint")
    parser.add_argument("--eval_only", action="store_true", help="measure runs/quality/<tag> again, no training")
    parser.add_argument("--out", help="JSON path (default benchmarks/results/quality-<tag>-<time>.json)")
    parser.add_argument("--plot", help="PNG path (default runs/quality/<tag>/quality.png)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.time()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")  # generate()'s per-checkpoint tf.function retracing warnings
    from benchmarks import fashion_classifier as fc
    quick = args.quick
    minutes = args.minutes if args.minutes is not None else (1.0 if quick else 6.0)
    per_class = args.per_class or (100 if quick else 600)
    samples = args.samples or (200 if quick else 1000)
    configs, sets = run_settings(args.model, quick)
    configs = args.config or configs
    sets += args.overrides
    tag = args.tag or (args.model if not quick else "quick" if args.model == DEFAULT_MODEL else f"{args.model}-quick")
    run_dir = os.path.join(args.work_dir, tag)
    model_dir = os.path.join(run_dir, "model")
    load_start = os.getloadavg()

    data_dir = make_data(args.work_dir, per_class)
    t = time.time()
    full_cached = os.path.exists(os.path.join(fc.CACHE_ROOT, fc.cache_key(fc.EPOCHS, None), "meta.json"))
    classifier = fc.load_or_train(log=log) if (full_cached or not quick) else fc.load_or_train(1, 6000, log=log)
    classifier_s = time.time() - t

    training = None
    if not args.eval_only:
        training = train(configs, sets, data_dir, model_dir, minutes)
    found = checkpoints(model_dir)
    if not found:
        raise SystemExit(f"{model_dir}: no checkpoints")
    if args.last_only and len(found) > 2:
        found = [found[0], found[-1]]
    cfg = model_config(model_dir)
    name = model_name(cfg)

    t = time.time()
    effnet = 0 if args.no_efficientnet else min(samples, args.efficientnet_samples or (100 if quick else samples))
    reference = Reference(classifier, samples, per_class, effnet,
                          128 if quick else cfg["swd_projections"], seed=0)
    rows = [{"name": FLOOR, "step": None, **reference.measure(reference.train_images)}]
    grids = {"real": reference.train_images}
    for step, path in found:
        images = generate(model_dir, path, samples)
        row = reference.measure(images)
        rows.append({"name": CEILING if step == 0 else f"step {step}", "step": step, **row})
        grids[f"step {step}"] = images
        log(f"measured step {step}: cls FD {row['cls_fd']:.1f}, confidence {row['confidence']:.2f}, "
            f"{row['coverage']} classes >= 2%")
    measure_s = time.time() - t

    last = found[-1][0]
    budget = f"{minutes:g} min of training ({last} steps)"
    title = (f"{name} on Fashion-MNIST ({per_class}/class), {budget}; {samples} samples vs {samples} real test "
             f"images; classifier test accuracy {classifier.accuracy:.1%}; sets: {' '.join(sets) or '-'}")
    wall = time.time() - start
    log("")
    log(title)
    log(charts.table(rows, COLUMNS, "samples"))
    log(f"msssim_real {reference.msssim_real:.3f}; wall time {wall:.0f} s (classifier {classifier_s:.0f} s, "
        f"training {training['wall_s'] if training else 0:.0f} s, measuring {measure_s:.0f} s)")
    png = args.plot or os.path.join(run_dir, "quality.png")
    plot(png, rows, grids, title)
    result = {"benchmark": "quality", "model": name, "tag": tag, "quick": quick, "machine": machine(tf),
              "configs": configs, "sets": sets, "budget_minutes": minutes, "per_class": per_class, "samples": samples,
              "efficientnet_samples": effnet,
              "classifier": classifier.meta, "training": training, "last_step": last,
              "msssim_real": reference.msssim_real, "rows": rows, "plot": png,
              "seconds": {"wall": round(wall, 1), "classifier": round(classifier_s, 1),
                          "measuring": round(measure_s, 1)},
              "load_average": {"start": load_start, "end": os.getloadavg()}}
    out = write_json(result, args.out, name=f"quality-{tag}")
    log(f"wrote {out}\nwrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
