"""Everything that differs between Cloud TPU and CPU/GPU lives here, behind `cfg.use_tpu`.

- the cluster resolver and RunConfig (iterations_per_loop, num_shards, per-host input),
- CrossShardOptimizer (only on TPU: it averages gradients across cores),
- the network compute dtype (`precision: bfloat16` -> Keras 'mixed_bfloat16': variables stay
  float32, convolutions run in bfloat16; the model_fn casts network outputs back to float32
  so losses and summaries are float32),
- summaries through `host_call`, which TPUEstimator runs on the host on TPU and as a hook on CPU
  (no tf.summary inside TPU code).
"""
import contextlib
import math
from typing import Dict, Mapping, Optional

import tensorflow as tf

from trainer.models.layers import to_uint8

tpu_estimator = tf.compat.v1.estimator.tpu


def cluster_resolver(cfg: Mapping):
    """TPUClusterResolver for `tpu: NAME` (a TPU Node, via cloud-tpu-client) or `tpu: local`
    (on a TPU VM); None when use_tpu is false."""
    if not cfg["use_tpu"]:
        return None
    return tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=cfg["tpu"] or "local", zone=cfg["zone"], project=cfg["project"])


def run_config(cfg: Mapping, model_dir: str) -> tpu_estimator.RunConfig:
    tpu_config = tpu_estimator.TPUConfig(
        iterations_per_loop=cfg["iterations_per_loop"],
        num_shards=cfg["num_shards"],
        per_host_input_for_training=tpu_estimator.InputPipelineConfig.PER_HOST_V2)
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
        tpu_config=tpu_config)


def make_estimator(cfg: Mapping, model_dir: str, model_fn, for_export: bool = False):
    """The one TPUEstimator constructor. `for_export` marks the PREDICT calls that build the
    serving graph (TPUEstimator gives no batch_size then)."""
    return tpu_estimator.TPUEstimator(
        model_fn=model_fn,
        config=run_config(cfg, model_dir),
        use_tpu=cfg["use_tpu"],
        train_batch_size=cfg["train_batch_size"],
        eval_batch_size=cfg["eval_batch_size"],
        predict_batch_size=cfg["predict_batch_size"],
        eval_on_tpu=cfg["use_tpu"],
        export_to_tpu=False,  # one CPU serving graph; load with tf.saved_model.load(dir)
        params={"config": cfg, "for_export": for_export})


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


def optimizer(learning_rate, cfg: Mapping, name: str):
    opt = tf.compat.v1.train.AdamOptimizer(learning_rate, beta1=cfg["beta1"], beta2=cfg["beta2"], name=name)
    if cfg["use_tpu"]:
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
              images: Dict[str, tf.Tensor], finite_check: Optional[Dict[str, tf.Tensor]] = None):
    """Builds TPUEstimator's `host_call`: scalar summaries every `summary_every_steps`, image
    grids every `image_summary_every_steps`; with nan_policy 'stop', fails the step with a
    'NonFiniteLoss' error naming the step and the losses (summaries run on the host on TPU too).

    Host-call tensors need a leading axis (they are concatenated across cores)."""
    tensors = {"step": tf.reshape(step, [1])}
    for name, value in scalars.items():
        tensors["scalar/" + name] = tf.reshape(tf.cast(value, tf.float32), [1])
    for name, value in images.items():
        tensors["image/" + name] = to_uint8(value[:SUMMARY_IMAGES])
    for name, value in (finite_check or {}).items():
        tensors["check/" + name] = tf.reshape(tf.cast(value, tf.float32), [1])
    scalar_every, image_every = cfg["summary_every_steps"], cfg["image_summary_every_steps"]

    def host_call_fn(**t):
        gstep = t["step"][0]
        checks = []
        names = sorted(k for k in t if k.startswith("check/"))
        if names:
            values = [tf.reduce_mean(t[k]) for k in names]
            finite = tf.reduce_all(tf.math.is_finite(tf.stack(values)))
            message = ["NonFiniteLoss: non-finite loss at step", gstep]
            for k, v in zip(names, values):
                message += [k[len("check/"):] + " =", v]
            checks.append(tf.debugging.Assert(finite, message, summarize=8))
        with tf.control_dependencies(checks):
            # Small queue, frequent flush: a preempted or killed run keeps its recent summaries.
            writer = tf.summary.create_file_writer(model_dir, max_queue=10, flush_millis=2000)
            with writer.as_default():
                with tf.summary.record_if(tf.equal(gstep % scalar_every, 0)):
                    for key in sorted(t):
                        if key.startswith("scalar/"):
                            tf.summary.scalar(key[len("scalar/"):], tf.reduce_mean(t[key]), step=gstep)
                with tf.summary.record_if(tf.equal(gstep % image_every, 0)):
                    for key in sorted(t):
                        if key.startswith("image/"):
                            tf.summary.image(key[len("image/"):], image_grid(t[key]), step=gstep, max_outputs=1)
                return tf.group(tf.compat.v1.summary.all_v2_summary_ops(), *checks)

    return host_call_fn, tensors
