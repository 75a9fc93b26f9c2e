"""Builds the computation TPUEstimator(use_tpu=True) would hand to a TPU, with the project's
real model_fn, and compiles and runs it with XLA on CPU.

What TPUEstimator does on a TPU, and what this does instead:
- TRAIN: model_fn runs inside `training_loop.while_loop` (iterations_per_loop steps) inside a
  TPU replicate context; inputs come from the infeed. Here: the same while_loop inside
  `xla.compile`; the host-side iterator yields `iterations` batches stacked, and step i of the
  loop takes batch i (the infeed dequeue).
- host_call / eval_metrics / predictions are outfed (host_call every
  `experimental_host_call_every_n_steps` steps of the loop, inside a cond). Here: the same cond
  assigns them to variables, which the host reads after the loop ("the last outfeed") and feeds
  to the host_call / metric function, as TPUEstimator's outfeed thread does.
- The shard context of one replica (`tpu_shard_context(1)`), since `CrossReplicaSum` has no
  XLA_CPU kernel; tests/test_tpu_graph.py checks the several-replica graph without compiling.
The kernel set is XLA_CPU_JIT: it catches what XLA cannot compile at all (placeholders, string
ops, ...), not every XLA_TPU_JIT limit, so the compiled region is also checked for dtypes a TPU
rejects.
"""
import dataclasses
import os
from typing import Any, Dict, List

# Compile speed on CPU only; the whole graph is still compiled by XLA. XLA's CPU backend emits a
# loop body (the TRAIN loop: every fusion, reduce, Adam update of a step) as ONE LLVM function,
# and LLVM's loop passes grow ~quadratically with the loops in a function: cyclegan_128 TRAIN
# spent 76 % of its LLVM time in IndVarSimplify + LoopRotate. XLA reads XLA_FLAGS at its first
# compile, so setting it here (at collection) covers every compile test of the process.
# - LLVM -rotation-max-header-size=0 (no loop rotation) and -replexitval=never (no exit-value
#   rewriting in IndVarSimplify): LLVM optimisation time / 3.7 on that step, run time unchanged.
# - no tree_reduction_rewriter (CPU-only, for the precision of long float sums): it splits every
#   reduce of > 32 elements (instance norm's moments) into reduce-window + reduce, the largest
#   emitted loops (732 reduce-windows in cyclegan_256 TRAIN).
XLA_CPU_COMPILE_FLAGS = ("--xla_backend_extra_options=-rotation-max-header-size=0,-replexitval=never "
                         "--xla_disable_hlo_passes=tree_reduction_rewriter")
os.environ["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), XLA_CPU_COMPILE_FLAGS]))

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.compiler.xla import xla
from tensorflow.python.ops import summary_ops_v2
from tensorflow.python.tpu import tpu_function, training_loop

from trainer import config, gan_model_fn, models, sampling, tpu
from trainer.gan_model_fn import make_input_fn

from datasets import make_dataset
from runs import CONFIGS, TINY, event_tags

ModeKeys = tf.estimator.ModeKeys
TPU_OVERLAY = os.path.join(CONFIGS, "tpu.yaml")
ITERATIONS = 2
# Dtypes a TPU computation cannot hold (images go to uint8 / PNG on the host).
REJECTED_DTYPES = (tf.string, tf.uint8, tf.float64)


def tpu_config(name: str, data_dir: str, precision: str, *overrides: str) -> config.Config:
    """configs/<name>.yaml + tpu.yaml + tiny.yaml, as a TPU run with tiny widths."""
    paths = [os.path.join(CONFIGS, f"{name}.yaml"), TPU_OVERLAY, TINY]
    return config.build(paths, [f"train_data={data_dir}", f"precision={precision}",
                                f"iterations_per_loop={ITERATIONS}", "save_checkpoints_steps=2",
                                "eval_every_steps=2", *overrides])


@dataclasses.dataclass
class Compiled:
    graph: tf.Graph
    session: tf.compat.v1.Session
    outputs: Any            # fetches of the compiled region (loss, ...)
    outfeed: Dict[str, tf.Variable]   # the last outfed tensors, read on the host
    host_fn: Any            # TRAIN: the host_call function; EVAL: the metric function
    global_step: tf.Variable

    def compiled_ops(self) -> List[tf.Operation]:
        """Every op XLA compiles: those of the compile context and, recursively, of the
        functions its loops and conds run (control flow v2 builds them as function graphs)."""
        found, pending = [], [op for op in self.graph.get_operations() if "_xla_compile_id" in op.node_def.attr]
        while pending:
            op = pending.pop()
            found.append(op)
            for attr in ("_body_graph", "_cond_graph", "_true_graph", "_false_graph"):
                inner = getattr(op, attr, None)
                if inner is not None:
                    pending.extend(inner.get_operations())
            pending.extend(op for g in getattr(op, "_branch_graphs", None) or () for op in g.get_operations())
        return found


def _host_batches(cfg, mode, batch: int):
    """A host-side iterator over `ITERATIONS` batches stacked: (features, labels), or features
    alone for PREDICT."""
    model = models.get(cfg["model"])
    if mode == ModeKeys.PREDICT:
        ds = (model.predict_dataset(cfg, batch * ITERATIONS) if model.predict_dataset is not None
              else sampling.fixed_features(cfg, batch * ITERATIONS).repeat())
        ds = ds.batch(batch, drop_remainder=True)
    else:
        ds = make_input_fn(cfg, "train" if mode == ModeKeys.TRAIN else "eval")({"batch_size": batch})
    ds = ds.batch(ITERATIONS, drop_remainder=True)
    return tf.compat.v1.data.make_one_shot_iterator(ds).get_next()


def _outfeed_variables(tensors: Dict[str, tf.Tensor]) -> Dict[str, tf.Variable]:
    with tf.init_scope():
        return {k: tf.Variable(tf.zeros(t.shape, t.dtype), trainable=False, name="outfeed_" + k.replace("/", "_"))
                for k, t in tensors.items()}


def compile_mode(cfg, mode: str, model_dir: str) -> Compiled:
    """Builds model_fn's `mode` computation as TPUEstimator would on one TPU core, inside
    xla.compile, and initialises its session."""
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.set_random_seed(cfg["seed"])
        step = tf.compat.v1.train.get_or_create_global_step()
        batch = cfg[{ModeKeys.TRAIN: "train_batch_size", ModeKeys.EVAL: "eval_batch_size",
                     ModeKeys.PREDICT: "predict_batch_size"}[mode]]
        stacked = _host_batches(cfg, mode, batch)
        flat = [x for x in tf.nest.flatten(stacked) if x is not None]  # labels are None for unpaired models
        run_config = tpu.run_config(cfg.replace(use_tpu=False), model_dir)  # no TPU cluster to resolve
        params = {"config": cfg, "for_export": False, "batch_size": batch, "use_tpu": True}
        outfeed: Dict[str, tf.Variable] = {}
        host_fn = []
        host_every = tpu.host_call_every_n_steps(cfg) if mode == ModeKeys.TRAIN else 1

        def one_step(i, flat_inputs):
            batches = iter([tf.gather(x, i) for x in flat_inputs])
            inputs = tf.nest.pack_sequence_as(stacked, [None if x is None else next(batches)
                                                        for x in tf.nest.flatten(stacked)])
            features, labels = (inputs, None) if mode == ModeKeys.PREDICT else inputs
            spec = gan_model_fn.model_fn(features, labels, mode, params, run_config)
            if mode == ModeKeys.TRAIN:
                tensors, deps = spec.host_call[1], [spec.train_op]
                host_fn.append(spec.host_call[0])
            elif mode == ModeKeys.EVAL:
                tensors, deps = spec.eval_metrics[1], []
                host_fn.append(spec.eval_metrics[0])
            else:
                tensors, deps = spec.predictions, []
            variables = _outfeed_variables(tensors)
            outfeed.update(variables)
            with tf.control_dependencies(deps):
                enqueue = tf.cond(tf.equal(tf.math.floormod(i, host_every), 0),
                                  lambda: tf.group([variables[k].assign(t) for k, t in tensors.items()]),
                                  tf.no_op)
                with tf.control_dependencies([enqueue]):
                    loss = spec.loss if spec.loss is not None else tf.constant(0.0)
                    return tf.identity(loss)

        def computation(*flat_inputs):
            with tpu_function.tpu_shard_context(1):
                _, loss = training_loop.while_loop(
                    lambda i, loss: i < ITERATIONS, lambda i, loss: [i + 1, one_step(i, flat_inputs)],
                    inputs=[0, 1e7])
            return loss

        outputs = xla.compile(computation, inputs=flat)
        session = tf.compat.v1.Session(graph=graph)
        session.run([tf.compat.v1.global_variables_initializer(), tf.compat.v1.local_variables_initializer()])
    return Compiled(graph, session, outputs, outfeed, host_fn[0] if host_fn else None, step)


def host_call_outputs(compiled: Compiled, mode: str):
    """Runs the host side on the last outfed values: the host_call (TRAIN), the metric
    function's update ops (EVAL); returns the numpy values of the outfed tensors."""
    with compiled.graph.as_default():
        values = compiled.session.run(compiled.outfeed)
        if mode == ModeKeys.TRAIN:
            host_op = compiled.host_fn(**{k: tf.constant(v) for k, v in values.items()})
            compiled.session.run(summary_ops_v2.summary_writer_initializer_op())  # as TPUEstimator
            compiled.session.run(host_op)
        elif mode == ModeKeys.EVAL:
            metrics = compiled.host_fn(**{k: tf.constant(v) for k, v in values.items()})
            compiled.session.run(tf.compat.v1.local_variables_initializer())
            compiled.session.run([update for _, update in metrics.values()])
            values.update({"metric/" + k: compiled.session.run(value) for k, (value, _) in metrics.items()})
    return values


def rejected_tensors(compiled: Compiled) -> List[str]:
    """'op (type): dtype' for every Placeholder and every tensor of a dtype a TPU rejects
    inside the compiled region."""
    found = []
    for op in compiled.compiled_ops():
        arguments = {id(t) for t in getattr(op.graph, "inputs", ())}  # a function graph's arguments
        if op.type in ("Placeholder", "PlaceholderV2", "PlaceholderWithDefault") and id(op.outputs[0]) not in arguments:
            found.append(f"{op.name} ({op.type})")
        for t in op.outputs:
            if t.dtype.base_dtype in REJECTED_DTYPES:
                found.append(f"{op.name} ({op.type}): {t.dtype.name}")
    return found


def graph_variables(cfg) -> Dict[str, List]:
    """name -> [shape, dtype] of every variable a TRAIN step of `cfg` creates (what its
    checkpoints hold), built by model_fn in a plain graph (no session)."""
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.train.get_or_create_global_step()
        features, labels = tf.compat.v1.data.make_one_shot_iterator(
            make_input_fn(cfg, "train")({"batch_size": cfg["train_batch_size"]})).get_next()
        gan_model_fn.model_fn(features, labels, ModeKeys.TRAIN, {"config": cfg, "batch_size": cfg["train_batch_size"]},
                              tpu.run_config(cfg, "/tmp/unused"))
        return {v.op.name: [v.shape.as_list(), v.dtype.base_dtype.name]
                for v in tf.compat.v1.global_variables()}


DATA_MODES = {"dcgan": "images", "pix2pix": "paired", "cyclegan": "unpaired", "discogan": "unpaired"}
# Eval metrics that are NaN by design on unpaired eval data (no true counterpart).
NAN_ON_UNPAIRED = ("metric/l1_a2b_vs_b", "metric/l1_b2a_vs_a")


def check_mode(name: str, data_dir: str, precision: str, mode: str, model_dir: str, *overrides: str) -> None:
    """The whole check of one computation: it compiles for XLA with nothing a TPU rejects,
    runs ITERATIONS loop steps, advances the global step by exactly that (TRAIN only), and its
    outfed tensors make sense on the host (summaries written, metrics and predictions finite)."""
    cfg = tpu_config(name, data_dir, precision, *overrides)
    compiled = compile_mode(cfg, mode, model_dir)
    assert rejected_tensors(compiled) == []
    convolutions = [op for op in compiled.compiled_ops() if op.type.startswith("Conv2D")]
    assert convolutions, "the networks are not inside the compiled region"
    before = compiled.session.run(compiled.global_step)
    loss = compiled.session.run(compiled.outputs)
    after = compiled.session.run(compiled.global_step)
    assert after - before == (ITERATIONS if mode == ModeKeys.TRAIN else 0)
    assert np.all(np.isfinite(loss))
    values = host_call_outputs(compiled, mode)
    compiled.session.close()  # flushes the summary writer
    model = models.get(cfg["model"])
    res, batch = cfg["resolution"], cfg[f"{'predict' if mode == ModeKeys.PREDICT else 'eval'}_batch_size"]
    if mode == ModeKeys.TRAIN:
        assert values["step"].tolist() == [ITERATIONS - 1]  # the last outfeed: loop step 1, read before its update
        assert values["check/nonfinite_steps"].tolist() == [0.0]
        tags = event_tags(model_dir)
        assert {"d_loss", "g_loss", "learning_rate"} <= set(tags) and tags["g_loss"] == {ITERATIONS - 1}
        image_tags = [k[len("image/"):] for k in values if k.startswith("image/")]
        assert image_tags and all(tags.get(tag) == {ITERATIONS - 1} for tag in image_tags), (image_tags, tags)
        assert all(values["image/" + tag].dtype == tf.bfloat16.as_numpy_dtype for tag in image_tags)
    elif mode == ModeKeys.EVAL:
        metrics = {k: v for k, v in values.items() if k.startswith("metric/") and k not in NAN_ON_UNPAIRED}
        assert {"metric/d_loss", "metric/g_loss"} <= set(metrics)
        assert all(np.isfinite(v) for v in metrics.values()), metrics
    else:
        for column in model.grid_columns:
            image = values[column]
            assert image.shape == (batch, res, res, 3) and image.dtype == np.float32, (column, image.shape)
            assert np.isfinite(image).all() and np.abs(image).max() <= 1.0


def datasets_fixture(names):
    """A module fixture: config name -> a tiny dataset of its model's kind and resolution."""
    @pytest.fixture(scope="module")
    def data(tmp_path_factory):
        root = tmp_path_factory.mktemp("compile")
        return {name: make_dataset(str(root / name), int(name.split("_")[1]), count=8,
                                   mode=DATA_MODES[name.split("_")[0]]) for name in names}
    return data


def every_case(names):
    """Parametrises a test over config x precision x mode."""
    def decorate(test):
        test = pytest.mark.parametrize("mode", [ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT])(test)
        test = pytest.mark.parametrize("precision", ["float32", "bfloat16"])(test)
        return pytest.mark.parametrize("name", names)(test)
    return decorate
