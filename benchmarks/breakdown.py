"""Where the estimator path's step time goes: one model's training step run several ways, each
measured like run.py does (warm-up, median of windows), interleaved so load drifts hit all.

  python -m benchmarks.breakdown --model dcgan_32 [--batch 64] [--quick] [--variants a,b]

Variants (all on the same generated dataset and real config):
  graph       the skeleton's train_op alone in a plain tf.compat.v1.Session (the estimator's
              session config), one session.run per step
  graph+host  the same plus the loss and the host_call summary ops, as the estimator fetches them
  monitored   MonitoredSession with every hook the estimator would add (checkpoint, summary,
              step counter, NaN, logging, host_call): the estimator's loop without its wrapper
  project     TPUEstimator.train, as run.py measures it
  project_no_checkpoints   the same with no checkpoint saved during the windows (what the
              config's save_checkpoints_steps costs; a fast stage saves every few seconds)
  bare        the bare tf.function step (run.py's ceiling on CPU)
  bare_unordered  the bare step without the explicit D-before-G control dependency
  graph_gate_op / graph_gate_none   `graph` with compute_gradients' gate_gradients forced to
              GATE_OP (tf.compat.v1's default: every op's gradients wait for each other, so the
              G step also computes D's unused weight gradients) or GATE_NONE (as GradientTape)
  graph_guard_each / graph_guard_none   `graph` with the NaN guard as one cond per gradient
              (no wait for all gradients before the first update) or with no guard at all
  graph_grappler2   `graph` with Grappler's default two optimizer passes (the Estimator's
              session config asks for one; tf.function, the bare step, runs two)
Each line also gives images per CPU-second of this process, which other load disturbs less.
"""
import argparse
import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
import time

import trainer  # noqa: F401  (before TensorFlow: its CPU kernel choice)

VARIANTS = ("graph", "graph+host", "monitored", "project", "project_no_checkpoints", "bare", "bare_unordered",
            "graph_gate_op", "graph_gate_none", "graph_guard_each", "graph_guard_none", "graph_grappler2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.breakdown")
    parser.add_argument("--model", default="dcgan_32", help="a name from benchmarks/suite.py MODELS")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int,
                        help="intra- and inter-op threads of eager and graph variants (default: TF's); "
                             "with 1 and `taskset -c K`, img/cpu-s compares the work per image even "
                             "on a busy machine (not for 'project', whose session config is the run's)")
    parser.add_argument("--windows", type=int, help="windows per measurement (default 5; quick 3)")
    parser.add_argument("--window_seconds", type=float, help="seconds per window (default 8; quick 2)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    from benchmarks import suite, timing, training
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    schedule = timing.QUICK if args.quick else timing.FULL
    schedule = dataclasses.replace(schedule, windows=args.windows or schedule.windows,
                                   window_seconds=args.window_seconds or schedule.window_seconds)
    workdir = tempfile.mkdtemp(prefix="gan-breakdown-")
    try:
        def data_dir_for(resolution, mode):
            from benchmarks import data
            return data.write_dataset(os.path.join(workdir, "data"), resolution, mode, data.records_count(resolution))

        cfg, skipped = suite.model_config(args.model, argparse.Namespace(batch=args.batch, quick=False), data_dir_for)
        if cfg is None:
            print(f"skipped: {skipped}")
            return 1
        runners = {
            "graph": lambda: graph_throughput(cfg, schedule, workdir, host=False, hooks=False),
            "graph+host": lambda: graph_throughput(cfg, schedule, workdir, host=True, hooks=False),
            "monitored": lambda: graph_throughput(cfg, schedule, workdir, host=True, hooks=True),
            "project": lambda: training.project_throughput(cfg, schedule, workdir),
            "project_no_checkpoints": lambda: training.project_throughput(
                cfg.replace(save_checkpoints_steps=10 ** 9), schedule, workdir),
            "bare": lambda: training.bare_throughput(cfg, schedule, jit=False),
            "bare_unordered": lambda: training.bare_throughput(cfg, schedule, jit=False, ordered=False),
            "graph_gate_op": lambda: graph_throughput(cfg, schedule, workdir, False, False, gate="GATE_OP"),
            "graph_gate_none": lambda: graph_throughput(cfg, schedule, workdir, False, False, gate="GATE_NONE"),
            "graph_guard_each": lambda: graph_throughput(cfg, schedule, workdir, False, False, guard="each"),
            "graph_guard_none": lambda: graph_throughput(cfg, schedule, workdir, False, False, guard="none"),
            "graph_grappler2": lambda: graph_throughput(cfg, schedule, workdir, False, False, grappler_passes=2),
        }
        chosen = [v for v in args.variants.split(",") if v]
        rates = {v: [] for v in chosen}
        best = {v: [] for v in chosen}
        print(f"{args.model} batch {cfg['train_batch_size']}, load {timing.load()}", flush=True)
        for _ in range(args.repeats):
            for variant in chosen:
                result = runners[variant]()
                rates[variant].append(result["per_s"])
                best[variant].append(result["max_per_s"])
                print(f"  {variant:15s} {result['per_s']:8.3g} img/s  {result['per_cpu_s']:6.3g} img/cpu-s  (windows {result['min_per_s']:.3g}-"
                      f"{result['max_per_s']:.3g}, load {timing.load()[0]}, "
                      f"{result.get('flops_per_step', 0) / 1e9:.2f} GFLOP/step)", flush=True)
        import statistics
        print("medians: " + ", ".join(f"{v} {statistics.median(r):.3g}" for v, r in rates.items()))
        print("best windows: " + ", ".join(f"{v} {max(r):.3g}" for v, r in best.items()))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


@contextlib.contextmanager
def forced_gate(gate):
    """Every tf.compat.v1 optimizer's compute_gradients uses `gate` ('GATE_OP', 'GATE_NONE')."""
    import tensorflow as tf
    optimizer = tf.compat.v1.train.Optimizer
    original = optimizer.compute_gradients
    if gate is None:
        yield
        return

    def compute_gradients(self, *args, **kwargs):
        kwargs["gate_gradients"] = getattr(optimizer, gate)
        return original(self, *args, **kwargs)

    optimizer.compute_gradients = compute_gradients
    try:
        yield
    finally:
        optimizer.compute_gradients = original


def forced_guard(guard):
    """The skeleton's NaN guard as one cond per gradient ('each') or none at all ('none')."""
    from trainer import nan_policy
    return nan_policy.gradient_guard({"each": "cond_per_gradient", "none": "none"}.get(guard, "one_cond"))


def graph_throughput(cfg, schedule, workdir, host: bool, hooks: bool, gate=None, guard=None, grappler_passes=None):
    """The skeleton's TRAIN graph built by hand from the model_fn and input_fn."""
    import tensorflow as tf
    from benchmarks import flops
    from benchmarks.timing import WindowPlan
    from trainer import tpu
    from trainer.gan_model_fn import make_input_fn
    from trainer.gan_model_fn import model_fn

    model_dir = tempfile.mkdtemp(prefix="graph-", dir=workdir)
    run_config = tpu.run_config(cfg, model_dir)
    session_config = tf.compat.v1.ConfigProto()
    session_config.CopyFrom(tpu.make_estimator(cfg, model_dir, model_fn).config.session_config)
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    if threads:
        session_config.intra_op_parallelism_threads = threads
        session_config.inter_op_parallelism_threads = threads
    if grappler_passes == 2:
        rewrite = session_config.graph_options.rewrite_options
        rewrite.meta_optimizer_iterations = rewrite.TWO
    plan = WindowPlan(schedule)
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(cfg["seed"])
        dataset = make_input_fn(cfg, "train")({"batch_size": cfg["train_batch_size"]})
        features, labels = tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()
        with forced_gate(gate), forced_guard(guard):
            spec = model_fn(features, labels, tf.estimator.ModeKeys.TRAIN,
                            {"config": cfg, "batch_size": cfg["train_batch_size"]}, run_config)
        estimator_spec = spec.as_estimator_spec()
        fetches = [spec.train_op]
        if host:
            fetches.append(spec.loss)
        all_hooks = list(estimator_spec.training_hooks) if host else []
        if hooks:
            step = tf.compat.v1.train.get_global_step()
            all_hooks += [
                tf.compat.v1.train.NanTensorHook(spec.loss),
                tf.compat.v1.train.LoggingTensorHook({"loss": spec.loss, "step": step},
                                                     every_n_iter=cfg["summary_every_steps"]),
                tf.compat.v1.train.StepCounterHook(cfg["summary_every_steps"], output_dir=model_dir),
                tf.compat.v1.train.SummarySaverHook(save_steps=cfg["summary_every_steps"], output_dir=model_dir,
                                                    scaffold=estimator_spec.scaffold),
                tf.compat.v1.train.CheckpointSaverHook(model_dir, save_steps=cfg["save_checkpoints_steps"],
                                                       scaffold=estimator_spec.scaffold),
            ]
        counted = flops.step_flops(tf.compat.v1.get_default_graph(), fetches)["flops"]
        creator = tf.compat.v1.train.ChiefSessionCreator(scaffold=estimator_spec.scaffold, config=session_config)
        if all_hooks:
            session = tf.compat.v1.train.MonitoredSession(session_creator=creator, hooks=all_hooks)
        else:
            session = creator.create_session()  # a plain, initialised tf.compat.v1.Session
        with session:
            while True:
                session.run(fetches)
                if plan.add(time.perf_counter()):
                    break
    shutil.rmtree(model_dir, ignore_errors=True)
    return {**plan.summary(cfg["train_batch_size"]), "flops_per_step": counted}


if __name__ == "__main__":
    sys.exit(main())
