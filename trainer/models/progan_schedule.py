"""Progressive GAN growth schedule (Karras et al. 2017): which resolution a global step trains
and the fade-in alpha, as pure functions of (global step, Schedule).

Resolutions are 4 * 2^k from `initial_resolution` up to `final_resolution`; stage i trains
resolution 4 * 2^i. Counted in images shown, as the paper does: stage 0 is a stable phase of
`stage_kimg` thousand images; every later stage starts with a fade-in of `transition_kimg`
(alpha 0 -> 1, linear) followed by a stable phase of `stage_kimg` (alpha 1). The last stage has
no end: it trains until the run's train_steps. A stage's steps are its images divided by its
batch size (`batch_sizes[resolution]`, else `batch_size`), rounded up, then the whole stage
rounded up to a multiple of `iterations_per_loop` so stage boundaries fall on TPU loop
boundaries. Alpha at step s of stage i > 0 starting at step t_i with T_i transition steps:
min((s - t_i) / T_i, 1), in [0, 1]; 1 in stage 0 and whenever T_i is 0.

The Python functions tell the runner which stage graph to build and how long it trains;
`alpha_tensor` / `stage_tensor` compute the same inside a train step from an int64 step tensor
(int64 and float32 ops only, XLA-compilable).
"""
import bisect
import dataclasses
import math
from typing import Dict, Mapping, Optional, Tuple

import tensorflow as tf

from trainer.models.layers import log2_int


def resolutions(final_resolution: int, initial_resolution: int = 4) -> Tuple[int, ...]:
    """(initial, 2 * initial, ..., final); both powers of two, initial >= 4, final >= initial."""
    first, last = log2_int(initial_resolution), log2_int(final_resolution)
    if first < 2 or last < first:
        raise ValueError(f"need 4 <= initial_resolution ({initial_resolution}) <= final_resolution "
                         f"({final_resolution})")
    return tuple(2 ** k for k in range(first, last + 1))


def _ceil_to(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def parse_batch_sizes(value) -> Dict[int, int]:
    """None | {resolution: batch} | "4:128,8:128" -> {int resolution: int batch}."""
    if not value:
        return {}
    if isinstance(value, str):
        try:
            value = dict(item.split(":") for item in value.replace(" ", "").split(",") if item)
        except ValueError:
            raise ValueError(f"batch sizes {value!r}: expected 'resolution:batch,...'") from None
    return {int(k): int(v) for k, v in dict(value).items()}


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The growth schedule. `batch_sizes` maps resolution -> global batch size (others use
    `batch_size`; entries past final_resolution are ignored, so the paper's dict fits); kimg
    values are thousands of images shown, >= 0 (transition may be 0)."""
    final_resolution: int
    stage_kimg: float
    transition_kimg: float
    batch_size: int
    batch_sizes: Mapping[int, int] = dataclasses.field(default_factory=dict)
    iterations_per_loop: int = 1
    initial_resolution: int = 4

    def __post_init__(self):
        resolutions(self.final_resolution, self.initial_resolution)
        if self.stage_kimg < 0 or self.transition_kimg < 0:
            raise ValueError("stage_kimg and transition_kimg must be >= 0")
        if self.iterations_per_loop < 1 or self.batch_size < 1:
            raise ValueError("batch_size and iterations_per_loop must be >= 1")
        for r, b in dict(self.batch_sizes).items():  # entries past the final resolution are unused
            if int(r) < 4 or 2 ** log2_int(int(r)) != int(r) or int(b) < 1:
                raise ValueError(f"batch_sizes: {r}: {b} needs a power-of-two resolution >= 4 and a batch >= 1")

    @classmethod
    def from_config(cls, cfg: Mapping) -> "Schedule":
        """From config keys resolution, progan_stage_kimg, progan_transition_kimg, batch_size,
        progan_batch_sizes (None, a dict, or a string "4:128,8:128,..." as a command-line
        override gives it), iterations_per_loop (used only when use_tpu)."""
        return cls(final_resolution=cfg["resolution"], stage_kimg=cfg["progan_stage_kimg"],
                   transition_kimg=cfg["progan_transition_kimg"], batch_size=cfg["batch_size"],
                   batch_sizes=parse_batch_sizes(cfg.get("progan_batch_sizes")),
                   iterations_per_loop=cfg["iterations_per_loop"] if cfg.get("use_tpu") else 1)

    @property
    def resolutions(self) -> Tuple[int, ...]:
        return resolutions(self.final_resolution, self.initial_resolution)

    @property
    def num_stages(self) -> int:
        return len(self.resolutions)


def batch_size(sched: Schedule, stage: int) -> int:
    """Global batch size of stage `stage` (0-based)."""
    return int(dict(sched.batch_sizes).get(sched.resolutions[stage], sched.batch_size))


def _kimg_steps(kimg: float, batch: int) -> int:
    return int(math.ceil(round(kimg * 1000.0, 6) / batch))


def transition_steps(sched: Schedule, stage: int) -> int:
    """Fade-in steps at the start of stage `stage`: 0 for stage 0."""
    return 0 if stage == 0 else _kimg_steps(sched.transition_kimg, batch_size(sched, stage))


def stage_steps(sched: Schedule, stage: int) -> int:
    """Steps of stage `stage` (fade-in + stable phase, rounded up to iterations_per_loop); for
    the last stage the minimum it trains before the growth is complete."""
    steps = transition_steps(sched, stage) + _kimg_steps(sched.stage_kimg, batch_size(sched, stage))
    return _ceil_to(steps, sched.iterations_per_loop)


def stage_starts(sched: Schedule) -> Tuple[int, ...]:
    """First global step of every stage: (0, stage_steps(0), ...), non-decreasing."""
    starts = [0]
    for stage in range(sched.num_stages - 1):
        starts.append(starts[-1] + stage_steps(sched, stage))
    return tuple(starts)


def growth_steps(sched: Schedule) -> int:
    """The step at which the last stage's fade-in and stable phase are done (the least
    train_steps that trains every stage in full)."""
    return stage_starts(sched)[-1] + stage_steps(sched, sched.num_stages - 1)


def stage_at(step: int, sched: Schedule) -> int:
    """0-based stage that trains global step `step` (>= 0); the last stage never ends."""
    return bisect.bisect_right(stage_starts(sched), int(step)) - 1


def resolution_at(step: int, sched: Schedule) -> int:
    return sched.resolutions[stage_at(step, sched)]


def stage_end(sched: Schedule, stage: int, train_steps: Optional[int] = None) -> int:
    """One past the last global step of `stage`: the next stage's start, or for the last stage
    train_steps (growth_steps when None)."""
    if stage < sched.num_stages - 1:
        end = stage_starts(sched)[stage + 1]
        return end if train_steps is None else min(end, train_steps)
    return growth_steps(sched) if train_steps is None else train_steps


def images_shown(step: int, sched: Schedule) -> int:
    """Real images the discriminator has seen before global step `step` (batch sizes per stage)."""
    stage, starts = stage_at(step, sched), stage_starts(sched)
    before = sum((starts[i + 1] - starts[i]) * batch_size(sched, i) for i in range(stage))
    return before + (int(step) - starts[stage]) * batch_size(sched, stage)


def alpha_at(step: int, sched: Schedule) -> float:
    """Fade-in weight of the newest block at `step`, in [0, 1]."""
    stage = stage_at(step, sched)
    span = transition_steps(sched, stage)
    if span == 0:
        return 1.0
    return min((int(step) - stage_starts(sched)[stage]) / span, 1.0)


def stage_tensor(step, sched: Schedule):
    """int64 scalar tensor: stage_at(step) for an integer step tensor."""
    step = tf.cast(step, tf.int64)
    starts = tf.constant(stage_starts(sched), tf.int64)
    return tf.reduce_sum(tf.cast(step >= starts, tf.int64)) - 1


def alpha_tensor(step, sched: Schedule, stage: Optional[int] = None):
    """float32 scalar tensor: alpha_at(step) for an integer step tensor. With `stage` (the
    static stage this graph trains) the formula is that stage's only (0 before its start);
    otherwise the stage is looked up from the step."""
    step = tf.cast(step, tf.int64)
    if stage is not None:
        start = tf.constant(stage_starts(sched)[stage], tf.int64)
        span = transition_steps(sched, stage)
        if span == 0:
            return tf.constant(1.0, tf.float32)
        span = tf.constant(span, tf.int64)
    else:
        index = stage_tensor(step, sched)
        start = tf.gather(tf.constant(stage_starts(sched), tf.int64), index)
        span = tf.gather(tf.constant([transition_steps(sched, i) for i in range(sched.num_stages)], tf.int64),
                         index)
    done = tf.cast(tf.maximum(step - start, 0), tf.float32)
    alpha = tf.where(span > 0, done / tf.cast(tf.maximum(span, 1), tf.float32), 1.0)
    return tf.minimum(alpha, 1.0)


def images_shown_tensor(step, sched: Schedule):
    """int64 scalar tensor: images_shown(step) for an integer step tensor (e.g. a kimg summary)."""
    step = tf.cast(step, tf.int64)
    index = stage_tensor(step, sched)
    starts = stage_starts(sched)
    start_images = tf.constant([images_shown(s, sched) for s in starts], tf.int64)
    batches = tf.constant([batch_size(sched, i) for i in range(sched.num_stages)], tf.int64)
    start = tf.gather(tf.constant(starts, tf.int64), index)
    return tf.gather(start_images, index) + (step - start) * tf.gather(batches, index)
