"""Everything that differs between Cloud TPU and CPU/GPU lives here, behind `cfg.use_tpu`.

- the cluster resolver and RunConfig (iterations_per_loop, num_shards, per-host input),
- CrossShardOptimizer and cross-replica flags (only on TPU with several cores),
- the network compute dtype (`precision: bfloat16` -> Keras 'mixed_bfloat16': variables stay
  float32, convolutions run in bfloat16; the model_fn casts network outputs back to float32
  so losses and summaries are float32),
- summaries through `host_call`, which TPUEstimator runs on the host on TPU (every
  `host_call_every_n_steps` steps of a loop) and as a hook on CPU (every step); no tf.summary,
  no uint8 or string tensors inside TPU code.
"""
import contextlib
import math
from typing import Dict, Mapping, Optional

import tensorflow as tf

from trainer import nan_policy, progress
from trainer.images import to_uint8_tensor

tpu_estimator = tf.compat.v1.estimator.tpu


def cluster_resolver(cfg: Mapping):
    """TPUClusterResolver for `tpu: NAME` (a TPU Node, via cloud-tpu-client) or `tpu: local`
    (on a TPU VM); None when use_tpu is false."""
    if not cfg["use_tpu"]:
        return None
    return tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=cfg["tpu"] or "local", zone=cfg["zone"], project=cfg["project"])


def tpu_config(cfg: Mapping):
    # No return annotation: naming tpu_estimator.TPUConfig at import time prints a deprecation
    # warning before the CLI has quietened TensorFlow's logger.
    return tpu_estimator.TPUConfig(
        iterations_per_loop=cfg["iterations_per_loop"],
        num_shards=cfg["num_shards"],
        per_host_input_for_training=tpu_estimator.InputPipelineConfig.PER_HOST_V2,
        experimental_host_call_every_n_steps=host_call_every_n_steps(cfg))


def run_config(cfg: Mapping, model_dir: str) -> tpu_estimator.RunConfig:
    return tpu_estimator.RunConfig(
        cluster=cluster_resolver(cfg),
        model_dir=model_dir,
        save_checkpoints_steps=cfg["save_checkpoints_steps"],
        keep_checkpoint_max=cfg["keep_checkpoint_max"],
        save_summary_steps=cfg["summary_every_steps"],
        log_step_count_steps=cfg["summary_every_steps"],
        tf_random_seed=cfg["seed"],
        # No graph.pbtxt / .meta per checkpoint: restores rebuild the graph from code, and
        # serialising it (pure-Python protobuf 3.20 here) cost seconds per save, more on GCS.
        checkpoint_save_graph_def=False,
        tpu_config=tpu_config(cfg))


def make_estimator(cfg: Mapping, model_dir: str, model_fn, for_export: bool = False, reporter=None):
    """The one TPUEstimator constructor. `for_export` marks the PREDICT calls that build the
    serving graph (TPUEstimator gives no batch_size then); `reporter` (trainer.progress) gets
    the training progress from the host call."""
    return tpu_estimator.TPUEstimator(
        model_fn=model_fn,
        config=run_config(cfg, model_dir),
        use_tpu=cfg["use_tpu"],
        train_batch_size=cfg["train_batch_size"],
        eval_batch_size=cfg["eval_batch_size"],
        predict_batch_size=cfg["predict_batch_size"],
        eval_on_tpu=cfg["use_tpu"],
        export_to_tpu=False,  # one CPU serving graph; load with tf.saved_model.load(dir)
        params={"config": cfg, "for_export": for_export, "progress": reporter})


@contextlib.contextmanager
def network_precision(cfg: Mapping):
    """Keras layers built inside take the config's compute dtype."""
    policy = "mixed_bfloat16" if cfg["precision"] == "bfloat16" else "float32"
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)


def host_call_every_n_steps(cfg: Mapping) -> int:
    """Steps of a TPU loop between two host calls (TPUEstimator outfeeds at loop steps 0, n,
    2n, ...): the largest n that divides iterations_per_loop and both summary cadences, so that
    with loops starting at multiples of iterations_per_loop every step a summary is due at
    reaches the host, and no other step's tensors are shipped. 1 off TPU (a hook, every step)."""
    if not cfg["use_tpu"]:
        return 1
    return math.gcd(cfg["iterations_per_loop"], cfg["summary_every_steps"], cfg["image_summary_every_steps"])


def is_due(step, every: int, window: int):
    """True for the one host-call step of each `every` steps: with host calls every `window`
    steps, the step in [k * every, k * every + window). Equals `step % every == 0` when the
    host sees every step (window 1) or loops start at multiples of `window`."""
    return tf.less(step % every, window)


def num_replicas(params: Mapping) -> int:
    """TPU cores one step is replicated on: TPUEstimator gives model_fn a TPUContext on TPU
    (params['context']); 1 on CPU/GPU."""
    context = params.get("context")
    return context.num_replicas if context is not None else 1


def all_replicas_true(flag, cfg: Mapping, replicas: int):
    """A boolean scalar that is True only if it is True on every replica (a cross-replica sum),
    so that replicas take the same branch; the flag itself on one replica."""
    if not cfg["use_tpu"] or replicas == 1:
        return flag
    false_count = tf.compat.v1.tpu.cross_replica_sum(tf.cast(tf.logical_not(flag), tf.float32))
    return tf.equal(false_count, 0.0)


def optimizer(learning_rate, cfg: Mapping, name: str, replicas: int = 1):
    """Adam; on several TPU cores wrapped in CrossShardOptimizer, which sums the gradients
    across replicas (the loss is scaled by 1/replicas), so every core applies the same update.
    On one core that sum is the identity and is left out."""
    opt = tf.compat.v1.train.AdamOptimizer(learning_rate, beta1=cfg["beta1"], beta2=cfg["beta2"], name=name)
    if cfg["use_tpu"] and replicas > 1:
        opt = tf.compat.v1.tpu.CrossShardOptimizer(opt)
    return opt


def image_grid(images, columns: Optional[int] = None):
    """[n, H, W, C] -> [1, rows*H, cols*W, C] with static shapes (pads with zeros)."""
    n, h, w, c = images.shape.as_list()
    cols = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    pad = rows * cols - n
    if pad:
        images = tf.concat([images, tf.zeros([pad, h, w, c], images.dtype)], axis=0)
    grid = tf.reshape(images, [rows, cols, h, w, c])
    grid = tf.transpose(grid, [0, 2, 1, 3, 4])
    return tf.reshape(grid, [1, rows * h, cols * w, c])


SUMMARY_IMAGES = 8  # per core, per image row


def host_call(model_dir: str, cfg: Mapping, step, scalars: Dict[str, tf.Tensor],
              images: Dict[str, tf.Tensor], stop_check: Optional[Dict[str, tf.Tensor]] = None,
              reporter: Optional[progress.Reporter] = None):
    """Builds TPUEstimator's `host_call`: scalar summaries every `summary_every_steps`, image
    grids every `image_summary_every_steps`; with `stop_check` (nan_policy 'stop': the count of
    non-finite steps so far and the losses) fails with trainer/nan_policy's error naming the step,
    the count and the losses (summaries run on the host on TPU too); with `reporter`, hands it
    the step and the losses whenever scalars are recorded.

    `step` is the global step this step's summaries belong to (read before its update).
    Host-call tensors need a leading axis (they are concatenated across cores) and a TPU-legal
    dtype: images go out as bfloat16 in [-1, 1] (half of float32's outfeed bytes; +-0.5 grey
    level) and become uint8 on the host."""
    tensors = {"step": tf.reshape(step, [1])}
    for name, value in scalars.items():
        tensors["scalar/" + name] = tf.reshape(tf.cast(value, tf.float32), [1])
    for name, value in images.items():
        tensors["image/" + name] = tf.cast(value[:SUMMARY_IMAGES], tf.bfloat16)
    for name, value in (stop_check or {}).items():
        tensors["check/" + name] = tf.reshape(tf.cast(value, tf.float32), [1])
    scalar_every, image_every = cfg["summary_every_steps"], cfg["image_summary_every_steps"]
    window = host_call_every_n_steps(cfg)

    def host_call_fn(**t):
        gstep = t["step"][0]
        checks = []
        if "check/nonfinite_steps" in t:
            losses = {name: tf.reduce_mean(t["check/" + name]) for name in ("d_loss", "g_loss")}
            checks.append(nan_policy.stop_assertion(gstep, tf.reduce_max(t["check/nonfinite_steps"]), losses))
        scalars_due = is_due(gstep, scalar_every, window)
        with tf.control_dependencies(checks):
            # Small queue, frequent flush: a preempted or killed run keeps its recent summaries.
            writer = tf.summary.create_file_writer(model_dir, max_queue=10, flush_millis=2000)
            with writer.as_default():
                with tf.summary.record_if(scalars_due):
                    for key in sorted(t):
                        if key.startswith("scalar/"):
                            tf.summary.scalar(key[len("scalar/"):], tf.reduce_mean(t[key]), step=gstep)
                with tf.summary.record_if(is_due(gstep, image_every, window)):
                    for key in sorted(t):
                        if key.startswith("image/"):
                            grid = image_grid(to_uint8_tensor(t[key]))
                            tf.summary.image(key[len("image/"):], grid, step=gstep, max_outputs=1)
                reported = tf.no_op() if reporter is None else tf.cond(scalars_due, lambda: progress.report_op(
                    reporter, gstep, tf.reduce_mean(t["scalar/d_loss"]), tf.reduce_mean(t["scalar/g_loss"])), tf.no_op)
                return tf.group(tf.compat.v1.summary.all_v2_summary_ops(), reported, *checks)

    return host_call_fn, tensors
