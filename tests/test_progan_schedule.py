"""Progressive GAN schedule (trainer/models/progan_schedule.py): stage boundaries in images
shown with per-resolution batch sizes, alpha over the fade-in, Python and TF versions agree."""
import numpy as np
import pytest
import tensorflow as tf

from trainer.models import progan_schedule as ps

# The paper's 1-GPU preset batch sizes, tiny kimg so numbers stay small.
PAPER_BATCHES = {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8}


def test_resolutions():
    assert ps.resolutions(4) == (4,)
    assert ps.resolutions(256) == (4, 8, 16, 32, 64, 128, 256)
    assert ps.resolutions(1024)[-1] == 1024
    assert ps.resolutions(32, initial_resolution=8) == (8, 16, 32)
    for bad in [(48, 4), (4, 8), (8, 2)]:
        with pytest.raises(ValueError):
            ps.resolutions(*bad)


def test_stage_boundaries_with_per_resolution_batch_sizes():
    sched = ps.Schedule(final_resolution=128, stage_kimg=1.0, transition_kimg=0.5, batch_size=999,
                        batch_sizes=PAPER_BATCHES)
    # stage 0: 1000/128 -> 8 steps; stage i>0: ceil(500/b) + ceil(1000/b).
    expected_steps = [8, 4 + 8, 4 + 8, 8 + 16, 16 + 32, 32 + 63]
    assert [ps.stage_steps(sched, i) for i in range(6)] == expected_steps
    assert [ps.transition_steps(sched, i) for i in range(6)] == [0, 4, 4, 8, 16, 32]
    assert ps.stage_starts(sched) == (0, 8, 20, 32, 56, 104)
    assert ps.growth_steps(sched) == 104 + 95
    assert [ps.batch_size(sched, i) for i in range(6)] == [128, 128, 128, 64, 32, 16]
    # Images shown by the start of each stage cover the kimg asked (rounded up, never short).
    shown = np.cumsum([ps.stage_steps(sched, i) * ps.batch_size(sched, i) for i in range(6)])
    assert all(shown[i] >= 1000 + 1500 * i for i in range(6))
    for step, stage in [(0, 0), (7, 0), (8, 1), (19, 1), (20, 2), (103, 4), (104, 5), (10 ** 6, 5)]:
        assert ps.stage_at(step, sched) == stage
        assert ps.resolution_at(step, sched) == 4 * 2 ** stage
    assert ps.images_shown(8, sched) == 8 * 128 and ps.images_shown(33, sched) == 32 * 128 + 64
    assert ps.images_shown(105, sched) == 32 * 128 + 24 * 64 + 48 * 32 + 16
    assert ps.stage_end(sched, 0) == 8 and ps.stage_end(sched, 5) == 199
    assert ps.stage_end(sched, 5, train_steps=500) == 500 and ps.stage_end(sched, 1, train_steps=10) == 10


def test_default_batch_size_and_iterations_per_loop_rounding():
    sched = ps.Schedule(final_resolution=16, stage_kimg=0.1, transition_kimg=0.1, batch_size=16,
                        batch_sizes={16: 8}, iterations_per_loop=10)
    # 100/16 -> 7 steps (stage 0) -> 10; 7 + 7 = 14 -> 20; 13 + 13 = 26 -> 30.
    assert ps.stage_starts(sched) == (0, 10, 30)
    assert ps.growth_steps(sched) == 60
    assert all(start % 10 == 0 for start in ps.stage_starts(sched))
    assert ps.transition_steps(sched, 2) == 13  # the fade-in itself is not rounded


def test_schedule_from_config():
    cfg = {"resolution": 32, "progan_stage_kimg": 2, "progan_transition_kimg": 1, "batch_size": 8,
           "progan_batch_sizes": {"4": 16}, "iterations_per_loop": 100, "use_tpu": True}
    sched = ps.Schedule.from_config(cfg)
    assert sched.batch_sizes == {4: 16} and sched.iterations_per_loop == 100
    assert ps.Schedule.from_config({**cfg, "use_tpu": False, "progan_batch_sizes": None}).iterations_per_loop == 1
    assert ps.Schedule.from_config({**cfg, "progan_batch_sizes": "4:128, 8:64,"}).batch_sizes == {4: 128, 8: 64}
    with pytest.raises(ValueError):
        ps.parse_batch_sizes("4=128")
    with pytest.raises(ValueError):
        ps.Schedule(final_resolution=32, stage_kimg=1, transition_kimg=1, batch_size=8, batch_sizes={48: 4})


def test_alpha_rises_over_the_transition_and_is_one_when_stable():
    sched = ps.Schedule(final_resolution=16, stage_kimg=0.4, transition_kimg=0.8, batch_size=8)
    starts = ps.stage_starts(sched)
    assert starts == (0, 50, 200)  # 400 / 8; 800 / 8 + 400 / 8
    assert all(ps.alpha_at(s, sched) == 1.0 for s in range(0, 50))  # stage 0: no fade-in
    for start in starts[1:]:
        ramp = [ps.alpha_at(start + i, sched) for i in range(100)]
        assert ramp[0] == 0.0 and ramp[50] == pytest.approx(0.5)
        assert np.all(np.diff(ramp) > 0) and max(ramp) < 1.0
        assert all(ps.alpha_at(start + i, sched) == 1.0 for i in range(100, 150))
    assert ps.alpha_at(10 ** 7, sched) == 1.0  # the last stage stays stable
    no_fade = ps.Schedule(final_resolution=8, stage_kimg=0.1, transition_kimg=0, batch_size=8)
    assert ps.alpha_at(ps.stage_starts(no_fade)[1], no_fade) == 1.0


def test_alpha_is_a_function_of_the_step_only():
    """A run resumed mid-transition sees the alpha of an uninterrupted run: recomputing from a
    fresh Schedule (a new process) and a fresh graph gives the same values."""
    cfg = dict(final_resolution=32, stage_kimg=0.3, transition_kimg=0.7, batch_size=4, batch_sizes={32: 2})
    steps = list(range(0, 1500, 7))
    first = [ps.alpha_at(s, ps.Schedule(**cfg)) for s in steps]
    resumed = [ps.alpha_at(s, ps.Schedule(**cfg)) for s in steps]
    assert first == resumed
    with tf.Graph().as_default():  # a resumed run's graph: the step is read from a variable
        step = tf.compat.v1.placeholder(tf.int64, [])
        alpha = ps.alpha_tensor(step, ps.Schedule(**cfg))
        with tf.compat.v1.Session() as sess:
            in_graph = [sess.run(alpha, {step: s}) for s in steps]
    np.testing.assert_allclose(in_graph, first, atol=1e-6)


@pytest.mark.parametrize("ipl", [1, 8])
def test_python_and_tf_agree(ipl):
    sched = ps.Schedule(final_resolution=64, stage_kimg=0.25, transition_kimg=0.33, batch_size=6,
                        batch_sizes={4: 16, 64: 3}, iterations_per_loop=ipl)
    steps = np.arange(0, ps.growth_steps(sched) + 50, dtype=np.int64)

    @tf.function(jit_compile=True)
    def three(step):
        return ps.alpha_tensor(step, sched), ps.stage_tensor(step, sched), ps.images_shown_tensor(step, sched)

    alphas, stages, shown = zip(*[(float(a), int(st), int(n)) for a, st, n in (three(tf.constant(s))
                                                                               for s in steps[::3])])
    np.testing.assert_allclose(alphas, [ps.alpha_at(s, sched) for s in steps[::3]], atol=1e-6)
    assert list(stages) == [ps.stage_at(s, sched) for s in steps[::3]]
    assert list(shown) == [ps.images_shown(s, sched) for s in steps[::3]]
    # The static-stage form (what one stage's graph uses) agrees within its stage.
    for stage, start in enumerate(ps.stage_starts(sched)):
        local = [float(ps.alpha_tensor(tf.constant(s, tf.int64), sched, stage=stage))
                 for s in range(start, ps.stage_end(sched, stage), 5)]
        np.testing.assert_allclose(local, [ps.alpha_at(s, sched) for s in range(start, ps.stage_end(sched, stage), 5)],
                                   atol=1e-6)
