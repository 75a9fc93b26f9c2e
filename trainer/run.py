"""The verbs behind the CLI: train, evaluate, train_and_evaluate, predict, export.

Each takes a validated Config and a model_dir (local or gs://); the CLI (trainer/task.py) is the
only place that reads flags.
"""
import json
import os
from typing import Dict, List, Optional

import tensorflow as tf

from trainer import (checkpoints, config, event_files, graph_errors, images, models, progan_growth, progress,
                     sampling, tpu, trained_generator)
from trainer.gan_model_fn import make_input_fn, model_fn

METRICS_NAME = "metrics.json"


def estimator(cfg, model_dir: str, for_export: bool = False, reporter=None):
    return tpu.make_estimator(cfg, model_dir, model_fn, for_export=for_export, reporter=reporter)


@graph_errors.typed
def train(cfg, model_dir: str, max_steps: Optional[int] = None, hooks=()) -> int:
    """Trains to `max_steps` (default train_steps), resuming from the last checkpoint; stops
    earlier, with a checkpoint, after `max_train_minutes` if set. `hooks`: extra
    SessionRunHooks (e.g. benchmarks.startup's timeline). A model that grows (ProGAN) trains
    stage by stage (trainer/progan_growth.py), each stage through `_train_graph`."""
    config.save(cfg, model_dir)
    checkpoints.ensure_restorable(model_dir)
    if models.get(cfg["model"]).grows:
        return progan_growth.train(cfg, model_dir, _train_graph, max_steps, hooks)
    return _train_graph(cfg, model_dir, max_steps, hooks)


def _train_graph(cfg, model_dir: str, max_steps: Optional[int], hooks) -> int:
    """One TPUEstimator training graph, to max_steps (default train_steps)."""
    budget = cfg["max_train_minutes"]
    reporter = progress.Reporter(cfg["train_steps"], cfg["train_batch_size"],
                                 os.path.join(model_dir, sampling.SAMPLES_DIR, sampling.LATEST), budget_minutes=budget)
    est = estimator(cfg, model_dir, reporter=reporter)
    event_files.prepare(est.model_dir, write_graph=cfg["tensorboard_graph"])
    est.train(make_input_fn(cfg, "train"), max_steps=max_steps or cfg["train_steps"],
              hooks=[*hooks, *([checkpoints.TimeBudgetHook(budget)] if budget is not None else [])],
              saving_listeners=[sampling.SampleGridListener(cfg, model_dir), progress.CheckpointReport(reporter)])
    return est.get_variable_value("global_step")


@graph_errors.typed
def evaluate(cfg, model_dir: str) -> Dict[str, float]:
    """Runs eval_steps batches of eval_data, then the sample-quality metrics (trainer/quality);
    appends the result to model_dir/metrics.json."""
    cfg = trained_generator.current_config(cfg, model_dir)
    est = estimator(cfg, model_dir)
    event_files.prepare(est.eval_dir(), write_graph=cfg["tensorboard_graph"])
    batches = progress.TaskProgress("evaluate: batch", cfg["eval_steps"])
    batches.update(0)
    results = est.evaluate(make_input_fn(cfg, "eval"), steps=cfg["eval_steps"],
                           hooks=[progress.TaskProgressHook(batches)])
    results = {k: (int(v) if k == "global_step" else float(v)) for k, v in results.items()}
    from trainer.quality import evaluation  # SWD, MS-SSIM, FID/KID of generated samples (DCGAN)
    results.update(evaluation.evaluate(cfg, model_dir))
    record_metrics(model_dir, results)
    return results


def record_metrics(model_dir: str, results: Dict[str, float]) -> str:
    """metrics.json: {'latest': {...}, 'history': [{...}, ...]} (one entry per evaluation)."""
    path = os.path.join(model_dir, METRICS_NAME)
    history: List[Dict] = []
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            history = json.load(f).get("history", [])
    history = [h for h in history if h.get("global_step") != results.get("global_step")] + [results]
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump({"latest": results, "history": history}, f, indent=2, sort_keys=True)
    return path


def train_and_evaluate(cfg, model_dir: str) -> Dict[str, float]:
    step, results = checkpoints.latest_step(model_dir), {}
    while step < cfg["train_steps"]:
        target = min(step + cfg["eval_every_steps"], cfg["train_steps"])
        step = train(cfg, model_dir, max_steps=target)
        results = evaluate(cfg, model_dir)
        if step < target:  # max_train_minutes ran out (it applies to each training phase)
            break
    return results


@graph_errors.typed
def predict(cfg, model_dir: str, output_dir: Optional[str] = None, count: Optional[int] = None,
            input_dir: Optional[str] = None) -> Dict[str, str]:
    """Writes grid.png, single PNGs and index.html of `num_samples` predictions: from seeded
    noise (DCGAN), the eval records, or, with `input_dir`, every image of a plain folder."""
    cfg = trained_generator.current_config(cfg, model_dir)
    model = models.get(cfg["model"])
    count = count or cfg["num_samples"]
    step = checkpoints.latest_step(model_dir)
    if step == 0:
        raise config.ConfigError(f"{model_dir}: no checkpoint to predict from; train first")
    output_dir = output_dir or os.path.join(model_dir, f"predict-{step:07d}")
    batch = cfg["predict_batch_size"]
    padded = -(-count // batch) * batch  # static batches (TPU): pad, then drop the extra

    if input_dir is not None:
        files = images.folder_images(input_dir)
        count = len(files)
        padded = -(-count // batch) * batch

    def input_fn(params):
        if input_dir is not None:
            ds = images.images_from_files(files + files[:1] * (padded - count), cfg["resolution"])
            ds = ds.map(lambda image: model.features_from_image(image, cfg))
        elif model.predict_dataset is not None:
            ds = model.predict_dataset(cfg, padded)
        else:
            ds = sampling.fixed_features(cfg, padded)
        return ds.batch(params["batch_size"], drop_remainder=True)

    outputs, task = [], progress.TaskProgress("predict", count)
    task.update(0)
    for prediction in estimator(cfg, model_dir).predict(input_fn, yield_single_examples=True):
        outputs.append(images.prediction_images(prediction, model.grid_columns))
        if len(outputs) % batch == 0 or len(outputs) == count:
            task.update(len(outputs))
        if len(outputs) == count:
            break
    written = images.write_predictions(outputs, output_dir, model.grid_columns,
                                       title=f"{cfg['model']} {cfg['resolution']}px, step {step}")
    return {**written, "output_dir": output_dir}


@graph_errors.typed
def export(cfg, model_dir: str, export_dir: Optional[str] = None) -> str:
    """A generator-only SavedModel for serving; returns its path."""
    cfg = trained_generator.current_config(cfg, model_dir)
    model = models.get(cfg["model"])
    if checkpoints.latest_step(model_dir) == 0:
        raise config.ConfigError(f"{model_dir}: no checkpoint to export; train first")

    def serving_input_receiver_fn():
        receivers, features = model.serving_inputs(cfg)
        return tf.estimator.export.ServingInputReceiver(features, receivers)

    task = progress.TaskProgress("export: SavedModel", 1)  # one long graph build and save
    task.update(0)
    path = estimator(cfg, model_dir, for_export=True).export_saved_model(
        export_dir or os.path.join(model_dir, "export"), serving_input_receiver_fn)
    task.update(1)
    return path.decode() if isinstance(path, bytes) else path

