"""Sample-quality metrics of a checkpoint, run by `--mode evaluate` (trainer/run.py) after the
estimator's own evaluation, so also at every `eval_every_steps` of train_and_evaluate. Written
as TensorBoard scalars `quality/<name>` into model_dir/eval_quality and returned for
metrics.json. Real images are the first ones of eval_data (train_data without it) in file
order, resized to the model's resolution; fewer if the set is smaller. Lower is better for all
but msssim_real, the reference msssim_fake should approach.

Noise-driven models (dcgan, progan): `quality_num_samples` generated images (seeded noise: the
same latents every run) against as many real images: SWD per pyramid level and average (x1e3),
MS-SSIM diversity of generated and of real pairs, and FID / KID on `fid_feature_net` features.
~40 s on 2 CPU cores at the default 1024 samples (mostly the features: ~70 images/s through
EfficientNet-Lite0 at 224 px).

Translation models, per output domain (their GanModel.translations): the first
`quality_num_samples` eval images of the source domain through the trained generator
(test-time, as predict), against as many real images of the output domain: SWD and FID / KID,
keyed `<direction>_`: pix2pix a2b_* (which_direction AtoB: the outputs against the targets of
the same examples) or b2a_* (BtoA), cyclegan a2b_* (G(a) vs real b) and b2a_* (F(b) vs real a).
They compare the distributions, not the pairs (pix2pix's l1/psnr/ssim do that). Per direction
at the default 256 samples on 2 shared CPU cores: the translations (eager float32, measured:
pix2pix 256 px ~4 images/s, 128 px ~20; cyclegan resnet 256 px ~1, 128 px ~6; discogan 64 px
~120) plus ~8 s of features.
"""
import os
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from trainer import models, progress, trained_generator
from trainer.data.schema import DataMode
from trainer.quality import features, frechet, generator, msssim, swd

SUMMARY_DIR = "eval_quality"
TRANSLATE_BATCH = 16  # images per generator call (outputs do not depend on it)


def translations(cfg) -> Tuple[models.Translation, ...]:
    """The output domains of the config's translation model (its GanModel.translations); () for
    the other models."""
    output_domains = models.get(cfg["model"]).translations
    return tuple(output_domains(cfg)) if output_domains else ()


def supported(cfg) -> bool:
    """Quality metrics apply to noise-driven generators (dcgan, progan) and to translation
    models (pix2pix, cyclegan)."""
    return models.get(cfg["model"]).takes_noise or bool(translations(cfg))


def example_batches(cfg, data_dir: str, limit: int, keys=("image",), batch_size: int = 256,
                    **load_args) -> Iterator[Dict]:
    """The first `limit` examples of a dataset folder in file order
    (input_pipeline.load_examples(data_dir, **load_args)), their image `keys` resized to the
    config's resolution: batches {key: float32 [b, res, res, 3] in [-1, 1], 'filename': [str]}."""
    from trainer.data.input_pipeline import load_examples
    res = cfg["resolution"]

    def prepare(ex):
        out = {"filename": ex["filename"]}
        for key in keys:
            image = ex[key]
            if image.shape[0] != res or image.shape[1] != res:
                image = tf.image.resize(image, [res, res], method="area", antialias=True)
            out[key] = tf.ensure_shape(image, [res, res, 3])
        return out

    for batch in load_examples(data_dir, **load_args).take(limit).map(prepare).batch(batch_size):
        yield {"filename": [n.decode("utf-8", "replace") for n in batch["filename"].numpy()],
               **{key: batch[key].numpy() for key in keys}}


def image_batches(cfg, data_dir: str, limit: int, batch_size: int = 256) -> Iterator[Tuple[np.ndarray, List[str]]]:
    """The first `limit` images of a dataset folder (a paired set's A images) in file order:
    batches of (float32 [b, res, res, 3] in [-1, 1], file names)."""
    for batch in example_batches(cfg, data_dir, limit, batch_size=batch_size, paired=False):
        yield batch["image"], batch["filename"]


def _stacked(batches: List[np.ndarray], cfg) -> np.ndarray:
    return np.concatenate(batches) if batches else np.zeros([0, cfg["resolution"], cfg["resolution"], 3], np.float32)


def real_images(cfg, count: int) -> np.ndarray:
    data_dir = cfg["eval_data"] or cfg["train_data"]
    return _stacked([images for images, _ in image_batches(cfg, data_dir, count)], cfg)


def domain_images(cfg, data_dir: str, domain: str, count: int) -> np.ndarray:
    """The first `count` images of domain 'a' or 'b' of a paired or unpaired dataset folder, in
    file order (of a paired set: the A or B images of the same first examples)."""
    from trainer.data import schema
    manifest = schema.read_manifest(data_dir)
    if manifest["mode"] == DataMode.UNPAIRED:
        batches = example_batches(cfg, data_dir, count, domain=domain, manifest=manifest)
        return _stacked([b["image"] for b in batches], cfg)
    batches = example_batches(cfg, data_dir, count, keys=(domain,), paired=True, manifest=manifest)
    return _stacked([b[domain] for b in batches], cfg)


def translate(translation: models.Translation, keras_generator: tf.keras.Model, images: np.ndarray, seed: int
              ) -> np.ndarray:
    """images [n, R, R, 3] in [-1, 1] -> their translations, batch by batch. The global seed is
    set first, so pix2pix's test-time dropout draws the same masks in every run."""
    tf.random.set_seed(seed)
    fn = tf.function(lambda x: translation.translate(keras_generator, x), reduce_retracing=True)
    return np.concatenate([fn(tf.constant(images[s:s + TRANSLATE_BATCH])).numpy()
                           for s in range(0, len(images), TRANSLATE_BATCH)])


def distribution_metrics(real: np.ndarray, fake: np.ndarray, cfg, advance=lambda: None) -> Dict[str, float]:
    """SWD (swd_<res>..., swd_avg) and FID / KID (fid, kid, kid_std) between two equal-sized
    image sets [n, H, W, 3] in [-1, 1]; `advance` is called after each of the two."""
    seed = cfg["seed"]
    out = dict(swd.swd(real, fake, projections=cfg["swd_projections"], seed=seed))
    advance()
    net = features.load(cfg["fid_feature_net"], cfg["fid_weights"])
    out.update(frechet.fid_kid(net(real)["pool"], net(fake)["pool"], seed=seed))
    advance()
    return out


def metrics(real: np.ndarray, fake: np.ndarray, cfg, task: Optional[progress.TaskProgress] = None
            ) -> Dict[str, float]:
    """All quality metrics of generated samples: distribution_metrics plus MS-SSIM diversity;
    `task` advances once per metric family (SWD, FID/KID, MS-SSIM)."""
    advance = task.advance if task is not None else (lambda: None)
    out = distribution_metrics(real, fake, cfg, advance)
    out.update(msssim.msssim_metrics(real, fake, pairs=min(1000, len(fake) * 4), seed=cfg["seed"]))
    advance()
    return out


def _sample_metrics(cfg, model_dir: str) -> Tuple[Dict[str, float], int]:
    task = progress.TaskProgress("quality metrics", 5)  # real images, samples, SWD, FID/KID, MS-SSIM
    real = real_images(cfg, cfg["quality_num_samples"])
    task.advance()
    if len(real) < 2:
        return {}, 0
    net, step = generator.load(cfg, model_dir)
    fake = generator.generate(net, generator.noise(cfg, len(real)))
    task.advance()
    return metrics(real, fake, cfg, task), step


def _translation_metrics(cfg, model_dir: str) -> Tuple[Dict[str, float], int]:
    data_dir = cfg["eval_data"] or cfg["train_data"]
    path = trained_generator.latest_checkpoint(model_dir, "evaluate")  # one checkpoint for all directions
    todo = translations(cfg)
    task = progress.TaskProgress("quality metrics", 4 * len(todo))  # per direction: images, translations, SWD, FID/KID
    results, step, limit = {}, 0, cfg["quality_num_samples"]
    for t in todo:
        source = domain_images(cfg, data_dir, t.source, limit)
        real = domain_images(cfg, data_dir, t.target, limit)
        count = min(len(source), len(real))
        task.advance()
        if count < 2:
            task.advance(3)
            continue
        keras_generator, step = trained_generator.load(cfg, model_dir, t.network, checkpoint_path=path)
        fake = translate(t, keras_generator, source[:count], cfg["seed"])
        task.advance()
        results.update({f"{t.name}_{k}": v for k, v in distribution_metrics(real[:count], fake, cfg, task.advance).items()})
    return results, step


def evaluate(cfg, model_dir: str) -> Dict[str, float]:
    """Quality metrics of model_dir's latest checkpoint ({} for models they do not apply to)."""
    if not supported(cfg) or not cfg["quality_metrics"]:  # the keys exist for these models only
        return {}
    results, step = (_translation_metrics if translations(cfg) else _sample_metrics)(cfg, model_dir)
    if results:
        writer = tf.summary.create_file_writer(os.path.join(model_dir, SUMMARY_DIR))
        with writer.as_default():
            for name, value in sorted(results.items()):
                tf.summary.scalar(f"quality/{name}", value, step=step)
        writer.close()
    return results
