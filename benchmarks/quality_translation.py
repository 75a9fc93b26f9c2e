"""Translation quality over training: pix2pix (edges -> garment) and DiscoGAN (bag <-> ankle boot)
on Fashion-MNIST for a fixed CPU budget, measured at every checkpoint on held-out test images.

  python -m benchmarks.quality_translation                      # both models, 6 min of training each
  python -m benchmarks.quality_translation --model pix2pix --quick   # smoke run, under ~2 minutes
  python -m benchmarks.quality_translation --model discogan --set train_batch_size=16 --tag b16

1. Data (trainer.demo's image folder: the first `--per_class` (600) training images of each
   Fashion-MNIST class as PNGs), converted with convert_to_tfrecords.py at 64 px, the smallest
   resolution pix2pix and cyclegan support (RESOLUTIONS in trainer/models/pix2pix.py and
   cyclegan.py; the 28-px images are upsampled by the converter):
   pix2pix: `--mode paired --make_edges` (A = Canny edges, B = the garment), all classes;
   DiscoGAN: `--mode unpaired --input_dir <bag/> --input_dir_b <boot/>` (domain a = bags,
   b = ankle boots; different images, no pairs).
2. Training through the project's CLI (benchmarks.quality.train: `python -m trainer.task`,
   every checkpoint kept): configs/pix2pix_128.yaml with --set resolution=64, and
   configs/discogan_64.yaml, each for `--minutes` (default 6, the demo's budget).
3. Held-out images: Fashion-MNIST's test split made as the converter makes them (the same
   resize and, for pix2pix, the same edge map: trainer.data.image_io). At each checkpoint the
   generators are restored with trainer/trained_generator.py and translate them (the models'
   own predict: pix2pix with its test-time dropout and per-image batch norm).
   pix2pix: L1, PSNR, SSIM against the true garment (pix2pix's eval measures), and the share
   of outputs the Fashion-MNIST classifier (benchmarks/fashion_classifier.py) puts in the class
   of the garment the edges came from. Reference rows: the copy-input baseline (output = the
   edge map) and the real garments' accuracy.
   DiscoGAN: cycle L1 of a -> b -> a and b -> a -> b, the target-domain accuracy (a2b classified
   as boot, b2a as bag) and the classifier-feature Fréchet distance of each translation to the
   real held-out images of its target domain. Reference rows: real training images of the target
   domain (the floor) and the copy-input baseline (a2b = a, b2a = b).
   Step 0 (the untrained generators) is the first checkpoint row.

Writes a table on stdout, benchmarks/results/quality_translation-<model>-<tag>-<time>.json
(git-ignored) and runs/quality_translation/<tag>/<model>/quality.png (each measure over the
steps, with held-out examples per checkpoint).
"""
import argparse
import os
import sys
import time
from typing import Dict

import numpy as np

from benchmarks import charts, quality
from benchmarks import translation_measures as tm
from benchmarks.results_file import RESULTS, ROOT, machine, write_json

SIZE = 64  # the smallest resolution of pix2pix and cyclegan (their RESOLUTIONS)
STRIP = 10  # held-out examples shown per checkpoint (pix2pix: one of each class)

# Per model: configs, the --set overrides of a full run and of --quick, what the plot's example
# strips show. Checkpoint intervals: about 6 checkpoints in 6 minutes at the step rates of the
# quick runs and the speed benchmark on 2 cores (pix2pix at 64 px, batch 4: ~1-2 steps/s;
# DiscoGAN, batch 64: ~4 s/step quiet); the budget's end writes one more.
MODELS = {
    "pix2pix": {"configs": ("configs/pix2pix_128.yaml",),
                "sets": (f"resolution={SIZE}", "save_checkpoints_steps=100", "summary_every_steps=50",
                         "image_summary_every_steps=100"),
                "quick": (f"resolution={SIZE}", "train_steps=20", "save_checkpoints_steps=10",
                          "summary_every_steps=10", "image_summary_every_steps=10"),
                "strips": "examples: edge map / output / true garment, one of each class"},
    "discogan": {"configs": ("configs/discogan_64.yaml",),
                 "sets": ("save_checkpoints_steps=15", "summary_every_steps=5", "image_summary_every_steps=15"),
                 "quick": ("train_batch_size=16", "train_steps=4", "save_checkpoints_steps=2",
                           "summary_every_steps=2", "image_summary_every_steps=2"),
                 "strips": "examples: bag a / a2b / a2b2a, boot b / b2a / b2a2b"},
}


# --- data -----------------------------------------------------------------------------------------

def image_folder(work_dir: str, per_class: int) -> str:
    """trainer.demo's Fashion-MNIST folder (<class>/<i>.png) under work_dir; made once."""
    from trainer import demo
    if not demo.try_install_fashion_mnist():
        raise SystemExit(f"{demo.FASHION_DIR}: not found; this benchmark needs Debian's dataset-fashion-mnist "
                         "(apt-get install dataset-fashion-mnist)")
    images_dir = os.path.join(work_dir, f"images{per_class}")
    if not os.path.isdir(images_dir):
        quality.log(f"data: {demo.make_image_folder(images_dir + '.tmp', per_class)} -> {images_dir}")
        os.replace(images_dir + ".tmp", images_dir)
    return images_dir


def convert(model: str, images_dir: str, data_dir: str) -> str:
    """The model's records, made once with the project's converter CLI."""
    from trainer import demo
    if model == "pix2pix":
        flags = ["--mode", "paired", "--make_edges", "--input_dir", images_dir]
    else:
        flags = ["--mode", "unpaired", "--input_dir", os.path.join(images_dir, "bag"),
                 "--input_dir_b", os.path.join(images_dir, "boot")]
    if not os.path.exists(os.path.join(data_dir, "dataset.json")):
        demo.run([sys.executable, "convert_to_tfrecords.py", *flags, "--output_dir", data_dir, "--size", str(SIZE)])
    return data_dir


def edge_pairs(gray: np.ndarray):
    """uint8 [n, 28, 28] -> (edges, garments), each float32 [n, 64, 64, 3] in [-1, 1], as
    `--mode paired --make_edges --size 64` makes them (decode_worker: square resize, then Canny)."""
    from benchmarks import fashion_classifier as fc
    from trainer import images as image_utils
    from trainer.data import image_io
    garments = fc.as_converted(gray, SIZE)
    edges = np.stack([image_io.edge_map(g) for g in image_utils.to_uint8(garments)])
    return edges.astype(np.float32) / 127.5 - 1.0, garments


def class_images(split: str, label: int, count: int) -> np.ndarray:
    """The first `count` images of one class of a split, float32 [n, 64, 64, 3] as converted."""
    from benchmarks import fashion_classifier as fc
    gray, labels = fc.read_split(split)
    return fc.as_converted(gray[labels == label][:count], SIZE)


# --- translating with a trained model -----------------------------------------------------------

class Translator:
    """The run's generators (built once, trainer/trained_generator.py), restored per checkpoint,
    translating held-out features through the model's own predict in batches."""

    def __init__(self, cfg, batch_size: int = 100):
        import tensorflow as tf
        from trainer import models, trained_generator
        tf.random.set_seed(cfg["seed"])  # pix2pix's test-time dropout: the same masks every run
        self.cfg, self.batch_size = trained_generator.host_config(cfg), batch_size
        self.nets = trained_generator.build(self.cfg, record_updates=False)
        model = models.get(cfg["model"])
        self._fn = tf.function(lambda f: model.predict(self.nets, f, self.cfg), reduce_retracing=True)

    def __call__(self, checkpoint_path: str, features: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        from trainer import trained_generator
        trained_generator.restore_eager(self.nets, checkpoint_path)
        count, b = len(next(iter(features.values()))), self.batch_size
        parts = [self._fn({k: v[s:s + b] for k, v in features.items()}) for s in range(0, count, b)]
        return {key: np.concatenate([p[key].numpy() for p in parts]) for key in parts[0]}


def measure(model: str, found, translate: Translator, samples: int, classifier):
    """(rows, strips) of a model's reference rows and every checkpoint in `found`."""
    from benchmarks import fashion_classifier as fc
    if model == "pix2pix":
        gray, labels = fc.read_split("test")
        per = max(1, samples // fc.NUM_CLASSES)
        index = np.concatenate([np.flatnonzero(labels == c)[:per] for c in range(fc.NUM_CLASSES)])
        edges, garments = edge_pairs(gray[index])
        labels, shown = labels[index], np.arange(0, len(index), per)[:STRIP]  # one per class
        rows = tm.pix2pix_references(edges, garments, labels, classifier)
        strips = {tm.BASELINE: [edges[shown], edges[shown], garments[shown]]}
    else:
        a, b = class_images("test", tm.BAG, samples), class_images("test", tm.BOOT, samples)
        reference = tm.DomainReference(a, b, classifier)
        rows = tm.discogan_references(a, b, class_images("train", tm.BAG, samples),
                                      class_images("train", tm.BOOT, samples), reference)
        strips = {}
    for step, path in found:
        name = f"step {step}" + (" (untrained)" if step == 0 else "")
        if model == "pix2pix":
            out = translate(path, {"input": edges})["output"]
            rows.append(tm.pix2pix_row(name, step, out, garments, labels, classifier))
            strips[name] = [edges[shown], out[shown], garments[shown]]
        else:
            t = translate(path, {"a": a, "b": b})
            rows.append(tm.discogan_row(name, step, t, reference))
            strips[name] = [t[k][:STRIP] for k in ("a", "a2b", "a2b2a", "b", "b2a", "b2a2b")]
        quality.log(f"measured {model} step {step}: " + ", ".join(
            f"{title} {fmt.format(rows[-1][key])}" for key, title, fmt in tm.COLUMNS[model] if key in rows[-1]))
    return rows, strips


# --- main -----------------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=("pix2pix", "discogan", "both"), default="both")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 100 training images per class, 20 (pix2pix) / 4 (DiscoGAN) steps, "
                             "200 held-out images")
    parser.add_argument("--minutes", type=float, default=None,
                        help="training budget per model (max_train_minutes; default 6, the demo's; --quick 1)")
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        help="config override key=value (for every model run)")
    parser.add_argument("--tag", default=None, help="run name (folder <work_dir>/<tag>/<model>, JSON name)")
    parser.add_argument("--work_dir", default=os.path.join(ROOT, "runs", "quality_translation"))
    parser.add_argument("--per_class", type=int, default=None, help="training images per class (default 600)")
    parser.add_argument("--samples", type=int, default=None,
                        help="held-out test images (pix2pix: spread over the 10 classes; DiscoGAN: per "
                             "domain; default 1000, --quick 200)")
    parser.add_argument("--eval_only", action="store_true", help="measure <work_dir>/<tag>/<model> again")
    return parser.parse_args(argv)


def run_model(model: str, args, classifier) -> Dict:
    quick, spec = args.quick, MODELS[model]
    minutes = args.minutes if args.minutes is not None else (1.0 if quick else 6.0)
    per_class, samples = args.per_class or (100 if quick else 600), args.samples or (200 if quick else 1000)
    tag = args.tag or ("quick" if quick else "default")
    run_dir = os.path.join(args.work_dir, tag, model)
    model_dir = os.path.join(run_dir, "model")
    sets = list(spec["quick"] if quick else spec["sets"]) + args.overrides
    start, load_start = time.time(), os.getloadavg()
    data_dir = convert(model, image_folder(args.work_dir, per_class),
                       os.path.join(args.work_dir, f"{model}{SIZE}-{per_class}"))
    training = None if args.eval_only else quality.train(spec["configs"], sets, data_dir, model_dir, minutes)
    found = quality.checkpoints(model_dir)
    if not found:
        raise SystemExit(f"{model_dir}: no checkpoints")
    t = time.time()
    rows, strips = measure(model, found, Translator(quality.model_config(model_dir)), samples, classifier)
    measure_s = time.time() - t
    last = found[-1][0]
    title = [f"{model} on Fashion-MNIST at {SIZE} px ({per_class}/class), {minutes:g} min of training ({last} "
             f"steps); {samples} held-out test images; classifier test accuracy {classifier.accuracy:.1%}",
             f"configs: {' '.join(spec['configs'])}; sets: {' '.join(sets)}", spec["strips"]]
    wall = time.time() - start
    quality.log("\n" + "\n".join(title[:2]) + "\n" + charts.table(rows, tm.COLUMNS[model], "images") +
                f"\nwall time {wall:.0f} s (training {training['wall_s'] if training else 0:.0f} s, "
                f"measuring {measure_s:.0f} s)")
    png = tm.plot(os.path.join(run_dir, "quality.png"), rows, tm.COLUMNS[model], strips, title)
    import tensorflow as tf
    result = {"benchmark": "quality_translation", "model": model, "tag": tag, "quick": quick,
              "machine": machine(tf), "configs": list(spec["configs"]), "sets": sets, "budget_minutes": minutes,
              "per_class": per_class, "samples": samples, "resolution": SIZE, "classifier": classifier.meta,
              "training": training, "last_step": last, "rows": rows, "plot": png,
              "seconds": {"wall": round(wall, 1), "measuring": round(measure_s, 1)},
              "load_average": {"start": load_start, "end": os.getloadavg()}}
    out = save(result)
    quality.log(f"wrote {out}\nwrote {png}")
    return result


def save(result: Dict, results_dir: str = RESULTS) -> str:
    """result as <results_dir>/quality_translation-<model>-<tag>-<date>-<time>.json."""
    return write_json(result, name=f"quality_translation-{result['model']}-{result['tag']}", folder=results_dir)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    from benchmarks import fashion_classifier as fc
    cached = os.path.exists(os.path.join(fc.CACHE_ROOT, fc.cache_key(fc.EPOCHS, None), "meta.json"))
    log = quality.log
    classifier = fc.load_or_train(log=log) if (cached or not args.quick) else fc.load_or_train(1, 6000, log=log)
    for model in (("pix2pix", "discogan") if args.model == "both" else (args.model,)):
        run_model(model, args, classifier)
    return 0


if __name__ == "__main__":
    sys.exit(main())
