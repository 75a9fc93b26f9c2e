"""What a TPU does that XLA on CPU cannot compile or run: the several-replica train graph
(CrossShardOptimizer; replicas agreeing on a non-finite loss) checked in the graph, and the
host-call cadence between TPU loops (trainer/tpu.py)."""
import glob
import os

import pytest
import tensorflow as tf
from tensorflow.python.tpu import tpu_function

from trainer import config, gan_model_fn, tpu
from trainer.gan_model_fn import make_input_fn

from datasets import make_dataset
from runs import CONFIGS, TINY, event_tags

TPU_OVERLAY = os.path.join(CONFIGS, "tpu.yaml")
MODEL_CONFIGS = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(CONFIGS, "*.yaml"))
                       if "model:" in open(p).read())


class ReplicaContext:
    """What model_fn reads of TPUEstimator's TPUContext (which needs a TPU to be made)."""

    def __init__(self, num_replicas: int):
        self.num_replicas = num_replicas


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(str(tmp_path_factory.mktemp("graph") / "d"), 32, count=8)


def replicated_train_graph(cfg, replicas: int) -> tf.Graph:
    """model_fn's TRAIN graph as TPUEstimator builds it for `replicas` cores (not compiled)."""
    graph = tf.Graph()
    with graph.as_default(), tpu_function.tpu_shard_context(replicas):
        tf.compat.v1.train.get_or_create_global_step()
        batch = cfg["train_batch_size"]
        features, labels = tf.compat.v1.data.make_one_shot_iterator(
            make_input_fn(cfg, "train")({"batch_size": batch})).get_next()
        params = {"config": cfg, "batch_size": batch, "context": ReplicaContext(replicas)}
        gan_model_fn.model_fn(features, labels, tf.estimator.ModeKeys.TRAIN, params,
                              tpu.run_config(cfg.replace(use_tpu=False), "/tmp/unused"))
    return graph


def ancestors(tensor):
    """Every op `tensor` depends on, through data and control edges."""
    seen, pending = {}, [tensor.op]
    while pending:
        op = pending.pop()
        if op.name not in seen:
            seen[op.name] = op
            pending.extend(t.op for t in op.inputs)
            pending.extend(op.control_inputs)
    return list(seen.values())


def tpu_cfg(data, *overrides):
    return config.build([os.path.join(CONFIGS, "dcgan_32.yaml"), TPU_OVERLAY, TINY],
                        [f"train_data={data}", "iterations_per_loop=2", "save_checkpoints_steps=2", *overrides])


@pytest.mark.parametrize("replicas", [8, 1])
def test_gradients_and_finite_flags_are_summed_across_replicas_only_when_there_are_several(data, replicas):
    cfg = tpu_cfg(data, "nan_policy=skip")
    graph = replicated_train_graph(cfg, replicas)
    sums = [op for op in graph.get_operations() if op.type == "CrossReplicaSum"]
    trainable = graph.get_collection(tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES)
    # One per gradient (CrossShardOptimizer) and one per phase's finite flag (D, G).
    assert len(sums) == (len(trainable) + 2 if replicas > 1 else 0)


def test_replicas_agree_on_a_non_finite_loss(data):
    cfg = tpu_cfg(data, "nan_policy=skip")
    graph = replicated_train_graph(cfg, 8)
    conds = [op for op in graph.get_operations()
             if op.type in ("If", "StatelessIf") and op.name.startswith(("d_step/", "g_step/"))]
    assert {op.name.split("/")[0] for op in conds} == {"d_step", "g_step"}
    for cond in conds:  # gradients zeroed or passed: the predicate comes from all replicas' losses
        upstream = ancestors(cond.inputs[0])
        reductions = [op for op in upstream if op.type == "CrossReplicaSum"]
        assert reductions, f"{cond.name}: its predicate does not depend on a cross-replica reduction"
        assert any(op.type == "IsFinite" for r in reductions for op in ancestors(r.inputs[0]))
    counter = [op for op in graph.get_operations() if op.type == "AssignAddVariableOp"
               and any(t.op.name == "nonfinite_steps" for t in op.inputs)]
    assert len(counter) == 1
    assert any(op.type == "CrossReplicaSum" for op in ancestors(counter[0].inputs[1]))


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_tpu_host_calls_reach_every_step_a_summary_is_due_at_and_no_other(name):
    cfg = config.build([os.path.join(CONFIGS, f"{name}.yaml"), TPU_OVERLAY], [])
    loop, every_n = cfg["iterations_per_loop"], tpu.host_call_every_n_steps(cfg)
    assert tpu.tpu_config(cfg).experimental_host_call_every_n_steps == every_n
    total = 4 * loop
    # TPUEstimator outfeeds at steps 0, n, 2n, ... of every loop; loops start at multiples of
    # iterations_per_loop (config refuses checkpoints or train_steps elsewhere on TPU).
    seen = [start + i for start in range(0, total, loop) for i in range(loop) if i % every_n == 0]
    for every in (cfg["summary_every_steps"], cfg["image_summary_every_steps"]):
        due = [s for s in seen if bool(tpu.is_due(tf.constant(s, tf.int64), every, every_n))]
        assert due == list(range(0, total, every))
    assert len(seen) == total // every_n and every_n > 1  # not every step goes through the outfeed


def test_a_loop_starting_off_its_boundary_still_records_once_per_period():
    every, window, start = 100, 50, 37  # e.g. resumed on TPU from a CPU checkpoint at step 37
    seen = range(start, start + 1000, window)
    due = [s for s in seen if bool(tpu.is_due(tf.constant(s, tf.int64), every, window))]
    assert len(due) == 10 and all(b - a == every for a, b in zip(due, due[1:]))


def test_off_tpu_the_host_call_runs_every_step_and_records_on_multiples(data):
    cfg = config.build([os.path.join(CONFIGS, "dcgan_32.yaml"), TINY], [f"train_data={data}"])
    assert tpu.host_call_every_n_steps(cfg) == 1
    assert [s for s in range(10) if bool(tpu.is_due(tf.constant(s, tf.int64), 3, 1))] == [0, 3, 6, 9]


def _run_host_call(cfg, model_dir, steps, nonfinite=0.0):
    graph = tf.Graph()
    with graph.as_default():
        step = tf.compat.v1.placeholder(tf.int64, [])
        images = {"samples": tf.zeros([2, 4, 4, 3])}
        check = {"nonfinite_steps": tf.constant(nonfinite), "d_loss": tf.constant(1.0), "g_loss": tf.constant(2.0)}
        fn, tensors = tpu.host_call(model_dir, cfg, step, {"g_loss": tf.constant(0.5)}, images, check)
        from tensorflow.python.ops import summary_ops_v2
        with tf.compat.v1.Session() as session:
            op = fn(**tensors)
            session.run(summary_ops_v2.summary_writer_initializer_op())
            for value in steps:
                session.run(op, {step: value})


def test_host_call_records_at_the_configured_steps_when_it_sees_only_every_nth(data, tmp_path):
    cfg = config.build([os.path.join(CONFIGS, "dcgan_32.yaml"), TPU_OVERLAY],
                       [f"train_data={data}", "summary_every_steps=100", "image_summary_every_steps=500"])
    every_n = tpu.host_call_every_n_steps(cfg)
    seen = [start + i for start in range(0, 1000, 500) for i in range(500) if i % every_n == 0]
    _run_host_call(cfg, str(tmp_path), seen)
    tags = event_tags(str(tmp_path))
    assert tags["g_loss"] == set(range(0, 1000, 100)) and tags["samples"] == {0, 500}


def test_host_call_stops_on_non_finite_steps_seen_since_its_last_call(data, tmp_path):
    cfg = tpu_cfg(data)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"NonFiniteLoss: non-finite loss by step.*300"):
        _run_host_call(cfg, str(tmp_path), [300], nonfinite=2.0)
