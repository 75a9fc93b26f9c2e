"""The Progressive GAN stage runner: trains `model: progan` stage by stage, each stage its own
TPUEstimator graph at its own resolution (trainer/models/progan.py), all in one model_dir.

trainer.run.train hands a progan config here (GanModel.grows); `train` then calls back the
one-graph training that trainer.run passes in, once per stage, with that stage's config (`progan_stage_resolution`, and its batch size as
train_batch_size) and max_steps = the stage's last step, so checkpoints, sample grids,
TensorBoard, the time budget and resuming are the ordinary ones. The global step carries across
stages: the schedule (trainer/models/progan_schedule.py) counts in global steps.

Stage change (`hand_over`): the new stage's graph (the real model_fn, built on the host) is
initialised, every variable the previous stage's last checkpoint holds by the same name and shape
is restored into it (earlier blocks, their moving averages, the global step), except the
optimizer state, which starts afresh as the official code resets Adam at every resolution
change, and the generator's fade-in alpha (starts at the new stage's 0); new blocks keep their
initial values. That is saved as the checkpoint of the same global step, so the estimator of the
new stage simply resumes from it. Which stage a checkpoint belongs to is read from its variables
(progan.checkpoint_resolution: the largest generator/to_rgb_<r>), so a run killed anywhere, mid-
transition included, resumes in the stage its step is in, with the alpha of that step.
Predict, export, evaluate and the quality tools build the stage of the checkpoint they restore
(progan.checkpoint_config, through trainer/trained_generator.py).
"""
import os
import re
import time
from typing import Callable, Optional

import tensorflow as tf

from trainer import checkpoints, gan_model_fn, tpu, trained_generator
from trainer.fields import ConfigError
from trainer.models import progan
from trainer.models import progan_schedule as ps

def _batch_sizes(sched: ps.Schedule) -> str:
    return ",".join(f"{r}:{ps.batch_size(sched, i)}" for i, r in enumerate(sched.resolutions))


def stage_config(cfg, stage: int):
    """The config trainer.run.train gets for stage `stage` (0-based): progan_stage_resolution
    set, train_batch_size the stage's batch, and progan_batch_sizes naming every resolution, so
    that the schedule computed from it is the user's whatever train_batch_size says."""
    sched = progan.schedule(cfg)
    return cfg.replace(progan_stage_resolution=sched.resolutions[stage], progan_batch_sizes=_batch_sizes(sched),
                       train_batch_size=ps.batch_size(sched, stage))


# Variables a stage change does not carry: the optimizers' state (Adam's slots and beta powers;
# the official code resets Adam at every resolution change) and G's fade-in alpha.
_NOT_CARRIED = re.compile(r"(^|/)(generator_adam|discriminator_adam)(_\d+)?(/|$)|beta[12]_power|/"
                          + progan.ALPHA_VARIABLE + "$")


def carried(name: str) -> bool:
    return not _NOT_CARRIED.search(name)


def hand_over(stage_cfg, model_dir: str, previous_checkpoint: str) -> str:
    """Writes the first checkpoint of `stage_cfg`'s stage into model_dir at the previous
    checkpoint's global step; returns its path."""
    cfg = trained_generator.host_config(stage_cfg)  # built on the host: float32, no TPU
    batch, res = cfg["train_batch_size"], cfg["progan_stage_resolution"]
    stored = tf.train.load_checkpoint(previous_checkpoint).get_variable_to_shape_map()
    graph = tf.Graph()
    with graph.as_default():
        step = tf.compat.v1.train.get_or_create_global_step()
        features = {"noise": tf.zeros([batch, cfg["noise_dim"]])}
        labels = tf.zeros([batch, res, res, 3])
        gan_model_fn.model_fn(features, labels, tf.estimator.ModeKeys.TRAIN, {"config": cfg, "batch_size": batch},
                              tpu.run_config(cfg, model_dir))
        restore = {v.op.name: v for v in tf.compat.v1.global_variables()
                   if carried(v.op.name) and stored.get(v.op.name) == v.shape.as_list()}
        if step.op.name not in restore:
            raise ConfigError(f"{previous_checkpoint}: no global_step to carry into stage {res}")
        saver = tf.compat.v1.train.Saver(max_to_keep=cfg["keep_checkpoint_max"], sharded=True,
                                         save_relative_paths=True)  # as trainer/gan_model_fn._saver
        state = tf.train.get_checkpoint_state(model_dir)
        if state is not None:
            saver.recover_last_checkpoints(list(state.all_model_checkpoint_paths))
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver(var_list=restore).restore(session, previous_checkpoint)
            at = int(session.run(step))
            return saver.save(session, os.path.join(model_dir, "model.ckpt"), global_step=at,
                              write_meta_graph=False)


def train(cfg, model_dir: str, train_stage: Callable, max_steps: Optional[int] = None, hooks=()) -> int:
    """Trains stage after stage up to `max_steps` (default train_steps), from wherever
    model_dir's latest checkpoint is; returns the global step reached. `train_stage(stage_cfg,
    model_dir, max_steps, hooks)` trains one graph (trainer.run hands its own). `max_train_minutes`
    counts over all stages of this call."""
    sched = progan.schedule(cfg)
    target = max_steps or cfg["train_steps"]  # as run.train: max_steps may go past train_steps
    budget, started = cfg["max_train_minutes"], time.monotonic()
    step = checkpoints.latest_step(model_dir)
    while step < target:
        stage = ps.stage_at(step, sched)
        stage_cfg = stage_config(cfg, stage)
        if budget is not None:
            left = budget - (time.monotonic() - started) / 60.0
            if left <= 0:
                break
            stage_cfg = stage_cfg.replace(max_train_minutes=left)
        latest = checkpoints.ensure_restorable(model_dir)
        if latest:
            have, want = progan.checkpoint_resolution(latest), sched.resolutions[stage]
            if have is None or have > want:
                raise ConfigError(f"{latest}: step {step} is in the {want}x{want} stage of this schedule, but the "
                                  f"checkpoint holds the {have}x{have} networks (were the progan_* schedule keys "
                                  "changed?)")
            if have < want:
                hand_over(stage_cfg, model_dir, latest)
        end = ps.stage_end(sched, stage, target)  # the last stage trains on to target
        reached = train_stage(stage_cfg, model_dir, end, hooks)
        if reached < end:  # the time budget ran out
            return reached
        step = reached
    return step
