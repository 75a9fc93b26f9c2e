"""Fixed-input samples outside the training session: the sample grid PNG written to model_dir
at every checkpoint (so progress can be watched on disk or GCS, TPU or not).

The grid is computed on the host CPU in a separate graph that restores the just-saved
checkpoint (trainer/trained_generator: the generator average when the run keeps one), so it
needs nothing from the TPU computation.
"""
import os
from typing import Dict, List

import numpy as np
import tensorflow as tf

from trainer import event_files, images, models, trained_generator
from trainer.gan_model_fn import make_input_fn

SAMPLES_DIR = "samples"
LATEST = "latest.png"


def fixed_features(cfg, count: int) -> tf.data.Dataset:
    """The same `count` generator inputs in every run: seeded noise, or the first eval examples."""
    model = models.get(cfg["model"])
    if model.predict_dataset is not None:
        return model.predict_dataset(cfg, count)
    eval_cfg = cfg
    ds = make_input_fn(eval_cfg, "eval")({"batch_size": 1}).unbatch()
    return ds.map(lambda features, labels=None: _merge(features, labels)).take(count)


def _merge(features, labels):
    if labels is None:
        return features
    return {**features, "target": labels} if not isinstance(labels, dict) else {**features, **labels}


class SampleGridListener(tf.estimator.CheckpointSaverListener):
    """After each checkpoint save: samples/step_XXXXXXX.png, samples/latest.png, and the grid as
    a TensorBoard image (run `samples`, tag `sample_grid`, or `sample_grid_average` when the run
    keeps a generator average: the training run's own images show the raw generator)."""

    def __init__(self, cfg, model_dir: str):
        self._cfg = cfg
        self._model_dir = model_dir
        self._count = cfg["sample_grid_size"] ** 2
        self._graph = None
        self._writer = None

    def _build(self):
        self._graph = tf.Graph()
        with self._graph.as_default():
            model = models.get(self._cfg["model"])
            cpu_cfg = trained_generator.host_config(self._cfg)
            self._session = tf.compat.v1.Session(graph=self._graph)
            batch = tf.compat.v1.data.make_one_shot_iterator(
                fixed_features(cpu_cfg, self._count).batch(self._count)).get_next()
            fixed = self._session.run(batch)  # read once: every grid shows the same inputs
            self._nets = trained_generator.build(cpu_cfg)
            self._outputs = model.predict(self._nets, {k: tf.constant(v) for k, v in fixed.items()}, cpu_cfg)
            self._columns = model.grid_columns

    def after_save(self, session, global_step_value):
        path = tf.train.latest_checkpoint(self._model_dir)
        if path is None:
            return
        if self._graph is None:
            self._build()
            with self._graph.as_default():  # one Saver: a run's checkpoints all hold the same names
                self._saver = trained_generator.saver(self._nets, path)
        self._saver.restore(self._session, path)
        outputs = images.prediction_images(self._session.run(self._outputs), self._columns)
        grid = images.grid_of_predictions(_split(outputs), self._columns)
        out = os.path.join(self._model_dir, SAMPLES_DIR)
        images.write_png(os.path.join(out, f"step_{global_step_value:07d}.png"), grid)
        images.write_png(os.path.join(out, LATEST), grid)
        self._write_summary(out, grid, global_step_value)

    def _write_summary(self, logdir: str, grid: np.ndarray, step: int) -> None:
        if self._writer is None:
            with tf.Graph().as_default():  # FileWriter refuses to be made in eager mode
                self._writer = event_files.GraphlessFileWriter(logdir)
        tag = "sample_grid_average" if self._cfg["g_ema_decay"] is not None else "sample_grid"
        image = tf.compat.v1.Summary.Image(height=grid.shape[0], width=grid.shape[1], colorspace=grid.shape[2],
                                           encoded_image_string=images.encode_png(grid))
        self._writer.add_summary(tf.compat.v1.Summary(value=[tf.compat.v1.Summary.Value(tag=tag, image=image)]), step)
        self._writer.flush()

    def end(self, session, global_step_value):
        if self._graph is not None:
            self._session.close()
        if self._writer is not None:
            self._writer.close()


def _split(batch: Dict[str, np.ndarray]) -> List[Dict[str, np.ndarray]]:
    """{key: [n, ...]} -> [{key: [...]}] * n."""
    n = len(next(iter(batch.values())))
    return [{k: v[i] for k, v in batch.items()} for i in range(n)]
