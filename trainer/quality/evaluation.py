"""Sample-quality metrics of a DCGAN checkpoint, run by `--mode evaluate` (trainer/run.py) after
the estimator's own evaluation, so also at every `eval_every_steps` of train_and_evaluate.

`quality_num_samples` generated images (seeded noise: the same latents every run) against as
many real images (the first ones of eval_data, in file order; fewer if the set is smaller):
SWD per pyramid level and average (x1e3), MS-SSIM diversity of generated and of real pairs,
and FID / KID on `fid_feature_net` features. Lower is better for all but msssim_real, the
reference msssim_fake should approach. Written as TensorBoard scalars `quality/<name>` into
model_dir/eval_quality and returned for metrics.json.

Cost on 2 CPU cores at the default 1024 samples: ~40 s (mostly the features: ~70 images/s
through EfficientNet-Lite0 at 224 px).
"""
import os
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from trainer import models, progress
from trainer.quality import features, frechet, generator, msssim, swd

SUMMARY_DIR = "eval_quality"


def supported(cfg) -> bool:
    """Quality metrics apply to noise-driven generators (DCGAN)."""
    return models.get(cfg["model"]).takes_noise


def image_batches(cfg, data_dir: str, limit: int, batch_size: int = 256) -> Iterator[Tuple[np.ndarray, List[str]]]:
    """The first `limit` images of a dataset folder in file order, resized to the config's
    resolution: batches of (float32 [b, res, res, 3] in [-1, 1], file names)."""
    from trainer.data.input_pipeline import load_examples
    res = cfg["resolution"]

    def prepare(ex):
        image = ex["image"]
        if image.shape[0] != res or image.shape[1] != res:
            image = tf.image.resize(image, [res, res], method="area", antialias=True)
        return tf.ensure_shape(image, [res, res, 3]), ex["filename"]

    ds = load_examples(data_dir, paired=False).take(limit).map(prepare).batch(batch_size)
    for images, names in ds:
        yield images.numpy(), [n.decode("utf-8", "replace") for n in names.numpy()]


def real_images(cfg, count: int) -> np.ndarray:
    data_dir = cfg["eval_data"] or cfg["train_data"]
    batches = [images for images, _ in image_batches(cfg, data_dir, count)]
    return np.concatenate(batches) if batches else np.zeros([0, cfg["resolution"], cfg["resolution"], 3], np.float32)


def metrics(real: np.ndarray, fake: np.ndarray, cfg, task: Optional[progress.TaskProgress] = None
            ) -> Dict[str, float]:
    """All quality metrics between two equal-sized image sets [n, H, W, 3] in [-1, 1]; `task`
    advances once per metric family (SWD, MS-SSIM, FID/KID)."""
    seed = cfg["seed"]
    advance = task.advance if task is not None else (lambda: None)
    out = dict(swd.swd(real, fake, projections=cfg["swd_projections"], seed=seed))
    advance()
    out.update(msssim.msssim_metrics(real, fake, pairs=min(1000, len(fake) * 4), seed=seed))
    advance()
    net = features.load(cfg["fid_feature_net"], cfg["fid_weights"])
    out.update(frechet.fid_kid(net(real)["pool"], net(fake)["pool"], seed=seed))
    advance()
    return out


def evaluate(cfg, model_dir: str) -> Dict[str, float]:
    """Quality metrics of model_dir's latest checkpoint ({} for models they do not apply to)."""
    if not supported(cfg) or not cfg["quality_metrics"]:  # the keys exist for noise models only
        return {}
    task = progress.TaskProgress("quality metrics", 5)  # real images, samples, SWD, MS-SSIM, FID/KID
    real = real_images(cfg, cfg["quality_num_samples"])
    task.advance()
    if len(real) < 2:
        return {}
    net, step = generator.load(cfg, model_dir)
    fake = generator.generate(net, generator.noise(cfg, len(real)))
    task.advance()
    results = metrics(real, fake, cfg, task)
    writer = tf.summary.create_file_writer(os.path.join(model_dir, SUMMARY_DIR))
    with writer.as_default():
        for name, value in sorted(results.items()):
            tf.summary.scalar(f"quality/{name}", value, step=step)
    writer.close()
    return results
