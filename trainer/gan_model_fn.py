"""The one TPUEstimator model_fn that every GAN in trainer/models plugs into.

Per training step: the discriminator update, then (ordered by control dependencies, with a fresh
forward pass that sees the updated D) the generator update, each with the batch-norm update ops
of its own networks; the global step is incremented once. Variables come from the Keras models
built here under the `generator/...` and `discriminator/...` variable scopes.
"""
import dataclasses
from typing import Dict, Optional

import tensorflow as tf

from trainer import checkpoints, models, nan_policy, tpu, trained_generator
from trainer.data import input_pipeline
from trainer.models import GanModel
from trainer.networks import DISCRIMINATOR, GENERATOR, Network, build_networks, reuse_inference_outputs

ModeKeys = tf.estimator.ModeKeys


def make_input_fn(cfg, split: str):
    """The input_fn of the config's model: split 'train' or 'eval' (trainer/data/input_pipeline)."""
    model = models.get(cfg["model"])
    return input_pipeline.make_input_fn(cfg, split, model.data_mode, model.make_inputs)


def learning_rate(step, cfg, role: str = GENERATOR):
    """Constant, then linear decay to 0 from `lr_decay_start_step` to `train_steps`; a function
    of the global step, so a resumed run continues the schedule. D's base is d_learning_rate
    when set (TTUR), G's (and D's otherwise) learning_rate."""
    own = cfg["d_learning_rate"] if role == DISCRIMINATOR else None
    base = tf.constant(cfg["learning_rate"] if own is None else own, tf.float32)
    start = cfg["lr_decay_start_step"]
    if start is None:
        return base
    span = max(cfg["train_steps"] - start, 1)
    progress = tf.cast(tf.maximum(step - start, 0), tf.float32) / float(span)
    return base * tf.maximum(1.0 - progress, 0.0)


def _variables(nets: Dict[str, Network], role: str):
    return [v for net in nets.values() if net.role == role for v in net.trainable_variables]


def _updates(nets: Dict[str, Network], role: str):
    return [op for net in nets.values() if net.role == role for op in net.update_sink]


def _start_phase(nets: Dict[str, Network]):
    for net in nets.values():
        net.update_sink = []


def _generator_average(nets, decay: float, step_value, after):
    """The moving average of G's trainable weights, updated after the G step. Its variables are
    `<weight>/ExponentialMovingAverage` (trainer/trained_generator.ema_name), checkpointed with
    the rest; the decay ramps up with the step as TensorFlow's num_updates, so a short run's
    average is not dominated by the initial weights."""
    ema = tf.compat.v1.train.ExponentialMovingAverage(decay, num_updates=step_value)
    with tf.control_dependencies([after]):
        return ema.apply(_variables(nets, GENERATOR))


@dataclasses.dataclass(frozen=True)
class TrainStep:
    """What one training step hands to the TPUEstimatorSpec and the host call."""
    train_op: tf.Operation
    scalars: Dict[str, tf.Tensor]              # name -> scalar, for TensorBoard
    images: Dict[str, tf.Tensor]               # name -> [n, H, W, 3] in [-1, 1]
    stop_check: Optional[Dict[str, tf.Tensor]]  # nan_policy 'stop': what the host call checks
    reported_loss: tf.Tensor                   # the spec's loss (Estimator's NaN hook, logging)


def _train_step(model: GanModel, nets, features, labels, cfg, step, step_value, replicas: int) -> TrainStep:
    """D step, then G step (then the generator average, the non-finite count and the step).

    `step_value` is the global step read before this step's update (the step the summaries
    are recorded at); `replicas` the TPU cores the step runs on (1 off TPU)."""
    rates = {role: learning_rate(step_value, cfg, role) for role in (DISCRIMINATOR, GENERATOR)}
    skip_nonfinite = nan_policy.policy(cfg) == nan_policy.NanPolicy.SKIP

    def apply(role, out):
        # A non-finite loss gets learning rate 0 and zeroed gradients (trainer/nan_policy.py).
        # All replicas decide together, or one would skip while the others update.
        finite = tpu.all_replicas_true(nan_policy.finite(out.loss), cfg, replicas)
        opt = tpu.optimizer(tf.where(finite, rates[role], 0.0), cfg, name=f"{role}_adam", replicas=replicas)
        variables = _variables(nets, role)
        grads, variables = zip(*[(g, v) for g, v in opt.compute_gradients(out.loss, var_list=variables)
                                 if g is not None])
        grads = nan_policy.zeroed_unless(finite, grads)
        return finite, tf.group(opt.apply_gradients(list(zip(grads, variables))), *_updates(nets, role))

    _start_phase(nets)
    with tf.name_scope("d_step"):
        d_out = model.discriminator_loss(nets, features, labels, cfg, training=True)
        d_finite, d_train = apply(DISCRIMINATOR, d_out)
    with tf.control_dependencies([d_train]):
        _start_phase(nets)
        with tf.name_scope("g_step"):
            g_out = model.generator_loss(nets, features, labels, cfg, training=True)
            g_finite, g_train = apply(GENERATOR, g_out)
    scalars = {**d_out.scalars, **g_out.scalars, "d_loss": d_out.loss, "g_loss": g_out.loss,
               "learning_rate": rates[GENERATOR]}
    if cfg["d_learning_rate"] is not None:
        scalars["d_learning_rate"] = rates[DISCRIMINATOR]
    bad = tf.cast(tf.logical_not(tf.logical_and(d_finite, g_finite)), tf.int64)
    if cfg["g_ema_decay"] is not None:
        g_train = _generator_average(nets, cfg["g_ema_decay"], step_value, after=g_train)
    with tf.control_dependencies([g_train]):
        nonfinite = nan_policy.counter(cfg).assign_add(bad)
    with tf.control_dependencies([nonfinite, step_value]):
        train_op = tf.group(step.assign_add(1))
    if skip_nonfinite:
        scalars["nonfinite_steps"] = nonfinite
        stop_check = None
    else:
        stop_check = {"nonfinite_steps": nonfinite, "d_loss": d_out.loss, "g_loss": g_out.loss}
    reported = tf.where(g_finite, g_out.loss, 0.0) if skip_nonfinite else g_out.loss  # Estimator's NaN hook
    return TrainStep(train_op, scalars, {**d_out.images, **g_out.images}, stop_check, reported)


def _metric_fn(**per_example):
    return {name: tf.compat.v1.metrics.mean(value) for name, value in per_example.items()}


def _saver(cfg):
    # Relative paths in the `checkpoint` file: the model_dir can be moved or copied.
    return tf.compat.v1.train.Saver(max_to_keep=cfg["keep_checkpoint_max"], sharded=True, save_relative_paths=True)


def _scaffold_fn(cfg, saver=None):
    return lambda: tf.compat.v1.train.Scaffold(saver=saver or _saver(cfg))


def _predict_scaffold_fn(nets, model_dir: str):
    """PREDICT and export restore the generators as trainer/trained_generator decides (its
    moving average when the run kept one) from model_dir's latest checkpoint."""
    def scaffold():
        path = trained_generator.latest_checkpoint(model_dir, "predict from")
        step = tf.compat.v1.train.get_or_create_global_step()
        return tf.compat.v1.train.Scaffold(saver=trained_generator.saver(nets, path, extra=[step]))
    return scaffold


def _training_spec(cfg, model_dir: str, **spec):
    """The TRAIN spec; off TPU with its own checkpoint hook (trainer.checkpoints.SaverHook),
    which skips the meta-graph the Estimator's default hook builds at session start."""
    if cfg["use_tpu"] or cfg["tensorboard_graph"]:
        return tpu.tpu_estimator.TPUEstimatorSpec(ModeKeys.TRAIN, scaffold_fn=_scaffold_fn(cfg), **spec)
    saver = _saver(cfg)
    hook = checkpoints.SaverHook(model_dir, save_steps=cfg["save_checkpoints_steps"], saver=saver,
                                 save_graph_def=False)
    return tpu.tpu_estimator.TPUEstimatorSpec(ModeKeys.TRAIN, scaffold_fn=_scaffold_fn(cfg, saver),
                                              training_hooks=[hook], **spec)


def model_fn(features, labels, mode, params, config):
    cfg = params["config"]
    model = models.get(cfg["model"])
    spec = tpu.tpu_estimator.TPUEstimatorSpec

    if mode == ModeKeys.PREDICT:
        nets = trained_generator.build(cfg)  # generators only, restored the trained-generator way
        restore = _predict_scaffold_fn(nets, config.model_dir)
        if params.get("for_export"):
            signatures = model.serving_outputs(nets, features, cfg)
            export_outputs = {name: tf.estimator.export.PredictOutput(outputs) for name, outputs in signatures.items()}
            first = next(iter(signatures))
            export_outputs.setdefault(tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY, export_outputs[first])
            return spec(mode, predictions=signatures[first], export_outputs=export_outputs, scaffold_fn=restore)
        return spec(mode, predictions=model.predict(nets, features, cfg), scaffold_fn=restore)

    nets = build_networks(model, cfg)
    step = tf.compat.v1.train.get_or_create_global_step()
    if mode == ModeKeys.EVAL:
        reuse_inference_outputs(nets)
        d_out = model.discriminator_loss(nets, features, labels, cfg, training=False)
        g_out = model.generator_loss(nets, features, labels, cfg, training=False)
        batch = params["batch_size"]
        per_example = {"d_loss": tf.fill([batch], d_out.loss), "g_loss": tf.fill([batch], g_out.loss)}
        per_example.update(model.eval_metrics(nets, features, labels, cfg))
        return spec(mode, loss=g_out.loss, eval_metrics=(_metric_fn, per_example), scaffold_fn=_scaffold_fn(cfg))

    step_value = step.read_value()
    train = _train_step(model, nets, features, labels, cfg, step, step_value, tpu.num_replicas(params))
    host_call = tpu.host_call(config.model_dir, cfg, step_value, train.scalars, train.images, train.stop_check,
                              reporter=params.get("progress"))
    return _training_spec(cfg, config.model_dir, loss=train.reported_loss, train_op=train.train_op,
                          host_call=host_call)

