"""The README's first command: a DCGAN trained end to end on CPU from data made offline.

1. makes an image folder: Fashion-MNIST from Debian's `dataset-fashion-mnist` package
   (installed with apt-get when possible), else scikit-learn's bundled 8x8 digits;
2. converts it with convert_to_tfrecords.py (32 px, subfolders -> labels);
3. trains configs/dcgan_32.yaml + configs/demo.yaml with use_tpu: false;
4. writes a sample grid with --mode predict and prints where to look.
"""
import argparse
import gzip
import os
import shutil
import subprocess
import sys
import time

import numpy as np

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_CLASSES = ("tshirt", "trouser", "pullover", "dress", "coat",
                   "sandal", "shirt", "sneaker", "bag", "boot")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_idx_images(path: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    count, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, np.uint8, offset=16).reshape(count, rows, cols)


def read_idx_labels(path: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=8)


def try_install_fashion_mnist() -> bool:
    if os.path.isdir(FASHION_DIR):
        return True
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        print("installing Debian's dataset-fashion-mnist (30 MB, MIT) ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "dataset-fashion-mnist"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return os.path.isdir(FASHION_DIR)


def make_image_folder(out_dir: str, per_class: int) -> str:
    """Writes <out_dir>/<class>/<i>.png; returns a description of the source."""
    from PIL import Image
    if try_install_fashion_mnist():
        images = read_idx_images(os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz"))
        labels = read_idx_labels(os.path.join(FASHION_DIR, "train-labels-idx1-ubyte.gz"))
        names, source = FASHION_CLASSES, "Fashion-MNIST (Debian dataset-fashion-mnist)"
    else:
        from sklearn.datasets import load_digits
        digits = load_digits()
        images = (digits.images * (255.0 / 16.0)).astype(np.uint8)
        labels = digits.target
        names, source = tuple(str(i) for i in range(10)), "scikit-learn digits (bundled, 8x8)"
    for label, name in enumerate(names):
        folder = os.path.join(out_dir, name)
        os.makedirs(folder, exist_ok=True)
        for i, index in enumerate(np.flatnonzero(labels == label)[:per_class]):
            Image.fromarray(images[index]).save(os.path.join(folder, f"{i:05d}.png"))
    return source


def run(cmd):
    print("$ " + " ".join(cmd), flush=True)
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work_dir", default=os.path.join(ROOT, "runs", "demo"))
    parser.add_argument("--per_class", type=int, default=600, help="images per class")
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        help="extra config overrides, e.g. --set train_steps=100")
    args = parser.parse_args(argv)
    start = time.time()
    images_dir = os.path.join(args.work_dir, "images")
    data_dir = os.path.join(args.work_dir, "tfrecords32")
    model_dir = os.path.join(args.work_dir, "model")
    if not os.path.isdir(images_dir):
        print(f"demo data: {make_image_folder(images_dir, args.per_class)} -> {images_dir}", flush=True)
    if not os.path.exists(os.path.join(data_dir, "dataset.json")):
        run([sys.executable, "convert_to_tfrecords.py", "--input_dir", images_dir,
             "--output_dir", data_dir, "--size", "32"])
    configs = ["--config", "configs/dcgan_32.yaml", "--config", "configs/demo.yaml"]
    sets = ["--set", f"train_data={data_dir}"] + [x for s in args.overrides for x in ("--set", s)]
    run([sys.executable, "-m", "trainer.task", *configs, *sets, "--model_dir", model_dir, "--mode", "train"])
    run([sys.executable, "-m", "trainer.task", "--model_dir", model_dir, "--mode", "predict",
         "--output_dir", os.path.join(args.work_dir, "samples")])
    print(f"\ndone in {time.time() - start:.0f} s. Look at:\n"
          f"  sample grid:          {os.path.join(args.work_dir, 'samples', 'grid.png')}\n"
          f"  grids per checkpoint: {os.path.join(model_dir, 'samples')}/step_*.png\n"
          f"  TensorBoard:          tensorboard --logdir {model_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
