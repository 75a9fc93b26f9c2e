"""Training throughput of one model, measured two ways on the same networks, losses and data.

project: `trainer.run.estimator(cfg, model_dir)` (TPUEstimator, use_tpu=False) trained on
  `make_input_fn(cfg, 'train')`, as `trainer.task --mode train` runs it (minus the sample-grid
  listener, which only acts at checkpoints). A SessionRunHook stamps the wall time after every
  step, so the estimator's hooks, host_call summaries and session overhead all count.
bare: the model module's own `networks(cfg)` constructors and `discriminator_loss` /
  `generator_loss`, in one `tf.function` step with no Estimator: D update with Adam, then (after
  it, by a control dependency, as the skeleton) a fresh forward pass and the G update; fed by
  the same input_fn's dataset through an iterator read inside the function. With `jit` the step
  (not the iterator read) is compiled with XLA. The same optimizer class as the project
  (tf.compat.v1.train.AdamOptimizer), a constant learning rate, no summaries, no NaN checks.
  Like the project step it updates the generator average after the G step when the config has
  g_ema_decay (tf.compat.v1.train.ExponentialMovingAverage, num_updates the global step), and
  owns a global step (`fresh_global_step`) that the losses read through
  tf.compat.v1.train.get_or_create_global_step() (ProGAN's fade-in alpha and gradient-penalty
  seed) and that the step increments last: both paths start at step 0 and advance by one per
  step, so they compute the same alpha at every step.
"""
import contextlib
import shutil
import tempfile
import time
from typing import Dict

import tensorflow as tf

from benchmarks import flops as flops_lib
from benchmarks.timing import Schedule, WindowPlan
from trainer import models, run as trainer_run, tpu
from trainer.gan_model_fn import make_input_fn
from trainer.networks import DISCRIMINATOR, GENERATOR, build_networks


class _StepClock(tf.compat.v1.train.SessionRunHook):
    """Stamps the wall time after each training step; stops training when the plan is done."""

    def __init__(self, plan: WindowPlan):
        self.plan = plan
        self.graph = None
        self.fetches = None

    def begin(self):
        self.graph = tf.compat.v1.get_default_graph()

    def before_run(self, run_context):
        if self.fetches is None:
            self.fetches = run_context.original_args.fetches
        return None

    def after_run(self, run_context, run_values):
        if self.plan.add(time.perf_counter()):
            run_context.request_stop()


def project_throughput(cfg, schedule: Schedule, workdir: str, hooks=()) -> Dict:
    """images/s of the project's estimator path, and FLOPs per step counted from its graph."""
    model_dir = tempfile.mkdtemp(prefix="est-", dir=workdir)
    clock = _StepClock(WindowPlan(schedule))
    start = time.perf_counter()
    try:
        trainer_run.estimator(cfg, model_dir).train(
            make_input_fn(cfg, "train"), max_steps=10 ** 9, hooks=[clock, *hooks])
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)
    result = clock.plan.summary(cfg["train_batch_size"])
    result["total_seconds"] = time.perf_counter() - start
    counted = flops_lib.step_flops(clock.graph, clock.fetches)
    result["flops_per_step"] = counted["flops"]
    result["flops_by_type"] = counted["by_type"]
    result["profiler_float_ops"] = flops_lib.profiler_flops(clock.graph)
    return result


@contextlib.contextmanager
def fresh_global_step(start: int = 0):
    """A new int64 global step variable at `start`: what tf.compat.v1.train.get_or_create_global_step()
    returns, eagerly and inside tf.function, until the block ends. Eager TensorFlow keeps that
    variable in a process-wide collection, which this empties before and after, so a later
    measurement neither finds this one's advanced step nor fails to create its own."""
    graph = tf.compat.v1.get_default_graph()
    graph.clear_collection(tf.compat.v1.GraphKeys.GLOBAL_STEP)
    step = tf.compat.v1.train.create_global_step()
    step.assign(start)
    try:
        yield step
    finally:
        graph.clear_collection(tf.compat.v1.GraphKeys.GLOBAL_STEP)


def build_bare_step(model, cfg, nets, jit: bool, ordered: bool = True, global_step=None):
    """-> tf.function step(features, labels) returning (d_loss, g_loss). `global_step`: the
    variable the losses read (default: get_or_create_global_step(); build inside
    `fresh_global_step`), incremented once at the end of every step."""
    def variables(role):
        return [v for net in nets.values() if net.role == role for v in net.trainable_variables]

    d_vars, g_vars = variables(DISCRIMINATOR), variables(GENERATOR)
    d_rate = cfg["learning_rate"] if cfg["d_learning_rate"] is None else cfg["d_learning_rate"]  # as the project's TTUR
    d_opt = tpu.optimizer(d_rate, cfg, name="d_adam")
    g_opt = tpu.optimizer(cfg["learning_rate"], cfg, name="g_adam")
    global_step = global_step if global_step is not None else tf.compat.v1.train.get_or_create_global_step()
    average = (None if cfg["g_ema_decay"] is None else
               tf.compat.v1.train.ExponentialMovingAverage(cfg["g_ema_decay"], num_updates=global_step))

    @tf.function(jit_compile=jit)
    def step(features, labels):
        with tf.GradientTape() as tape:
            d_out = model.discriminator_loss(nets, features, labels, cfg, True)
        d_train = d_opt.apply_gradients(zip(tape.gradient(d_out.loss, d_vars), d_vars))
        with tf.control_dependencies([d_train] if ordered else []):
            with tf.GradientTape() as tape:
                g_out = model.generator_loss(nets, features, labels, cfg, True)
            grads = tape.gradient(g_out.loss, g_vars)
            g_train = g_opt.apply_gradients(zip(grads, g_vars))
        with tf.control_dependencies([g_train]):
            done = [average.apply(g_vars)] if average is not None else [g_train]
        with tf.control_dependencies(done):
            global_step.assign_add(1)
        return d_out.loss, g_out.loss

    return step


def bare_step_for(cfg, jit: bool, ordered: bool = True, global_step=None):
    """cfg's networks (built eagerly), its bare step and the train input_fn's dataset ->
    (step, nets, dataset); inside `fresh_global_step` for a model whose losses read the step."""
    model = models.get(cfg["model"])
    nets = build_networks(model, cfg, record_updates=False)  # as the project builds them, seeded
    dataset = make_input_fn(cfg, "train")({"batch_size": cfg["train_batch_size"]})
    return build_bare_step(model, cfg, nets, jit, ordered, global_step), nets, dataset


def bare_throughput(cfg, schedule: Schedule, jit: bool, ordered: bool = True) -> Dict:
    """images/s of the bare tf.function step (with or without XLA)."""
    tf.keras.backend.clear_session()
    with fresh_global_step() as global_step:
        step, _, dataset = bare_step_for(cfg, jit, ordered, global_step)
        iterator = iter(dataset)

        @tf.function
        def next_step():
            return step(*next(iterator))

        plan = WindowPlan(schedule)
        start = time.perf_counter()
        while True:
            d_loss, _ = next_step()
            d_loss.numpy()
            if plan.add(time.perf_counter()):
                break
        result = plan.summary(cfg["train_batch_size"])
        result["total_seconds"] = time.perf_counter() - start
        result["global_step"] = int(global_step.numpy())
        graph = step.get_concrete_function(*dataset.element_spec).graph
        result["flops_per_step"] = flops_lib.step_flops(graph, graph.outputs + list(graph.control_outputs))["flops"]
        del iterator, next_step, step
    return result
