"""Progressive GAN networks (trainer/models/progan_networks.py): the paper's layers, one-stage
builders whose variables carry over by name, the fade-in starting where the previous stage
ended, mixed_bfloat16, and an XLA-compiled WGAN-GP training step."""
import math

import numpy as np
import pytest
import tensorflow as tf

from trainer.models import losses
from trainer.models import progan_networks as pn

TINY = {"noise_dim": 8, "fmap_base": 32, "fmap_max": 8}  # widths 8, 8, 4, 2, ... from 4x4 up


def _names(model):
    return {(v.name, tuple(v.shape)) for v in model.variables}


def test_widths_follow_the_paper():
    paper = {"fmap_base": 8192, "fmap_max": 512}
    assert [pn.width(paper, 4 * 2 ** i) for i in range(7)] == [512, 512, 512, 512, 256, 128, 64]
    assert [pn.width(TINY, r) for r in (4, 8, 16, 32)] == [8, 8, 4, 2]


def test_equalized_layers_scale_at_run_time():
    x = tf.random.normal([5, 7, 7, 6], seed=3)
    conv = pn.EqualizedConv2D(4, 3, name="c")
    y = conv(x)
    np.testing.assert_allclose(y.numpy(), tf.nn.conv2d(x, conv.kernel * math.sqrt(2 / 54), 1, "SAME").numpy(),
                               rtol=1e-4, atol=1e-5)
    dense = pn.EqualizedDense(300, gain=1.0, name="d")
    y = dense(tf.reshape(x, [5, -1]))
    assert abs(np.std(dense.kernel.numpy()) - 1.0) < 0.02  # stored N(0, 1)
    np.testing.assert_allclose(y.numpy(), (tf.reshape(x, [5, -1]) @ dense.kernel).numpy() / math.sqrt(294),
                               rtol=1e-4, atol=1e-5)
    plain = pn.EqualizedDense(300, equalized=False, name="p")
    plain(tf.reshape(x, [5, -1]))
    assert plain.scale == 1.0 and abs(np.std(plain.kernel.numpy()) - math.sqrt(2 / 294)) < 0.003


def test_pixel_norm_and_resampling():
    x = tf.random.normal([2, 4, 4, 5], seed=1)
    np.testing.assert_allclose(tf.reduce_mean(tf.square(pn.PixelNorm()(x)), -1).numpy(), 1.0, rtol=1e-4)
    up = pn.Upscale2D()(x).numpy()
    np.testing.assert_array_equal(up, np.repeat(np.repeat(x.numpy(), 2, 1), 2, 2))
    down = pn.Downscale2D()(tf.constant(up)).numpy()
    np.testing.assert_allclose(down, x.numpy(), rtol=1e-6)
    blocky = pn.upscale2d(pn.downscale2d(x))
    np.testing.assert_allclose(pn.fade_in_reals(x, 1.0).numpy(), x.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pn.fade_in_reals(x, tf.zeros([2, 1])).numpy(), blocky.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pn.fade_in_reals(x, tf.constant([0.25, 2.0])).numpy(),  # alpha clipped to 1
                               np.stack([0.75 * blocky[0] + 0.25 * x[0], x[1]]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch,group", [(8, 4), (2, 2), (6, 3), (1, 1)])
def test_minibatch_stddev(batch, group):
    x = np.random.RandomState(batch).normal(size=[batch, 2, 2, 3]).astype(np.float32)
    y = pn.MinibatchStddev(4)(tf.constant(x)).numpy()
    assert y.shape == (batch, 2, 2, 4)
    np.testing.assert_array_equal(y[..., :3], x)
    groups = batch // group
    for n in range(batch):  # example n is in group n mod (batch / group), as the official code
        members = x[n % groups::groups]
        expected = np.mean(np.sqrt(np.var(members, axis=0) + 1e-8))
        np.testing.assert_allclose(y[n, ..., 3], expected, rtol=1e-5)
    dynamic = tf.function(pn.MinibatchStddev(4), input_signature=[tf.TensorSpec([None, 2, 2, 3])])
    np.testing.assert_allclose(dynamic(tf.constant(x)).numpy(), y, rtol=1e-6)


@pytest.mark.parametrize("resolution", [4, 8, 16])
def test_shapes_and_alpha_forms(resolution):
    g = pn.make_generator(TINY, "generator", resolution)
    d = pn.make_discriminator(TINY, "discriminator", resolution)
    z = tf.random.normal([4, 8], seed=5)
    images = [g([z, alpha]) for alpha in (tf.constant(0.3), tf.fill([4], 0.3), tf.fill([4, 1], 0.3))]
    assert images[0].shape == (4, resolution, resolution, 3) and images[0].dtype == tf.float32
    for other in images[1:]:
        np.testing.assert_allclose(other.numpy(), images[0].numpy(), rtol=1e-6)
    assert 0.05 < float(tf.math.reduce_std(images[0])) < 2.0  # linear output near unit scale at init
    logits = d([images[0], tf.constant(0.3)])
    assert logits.shape == (4,) and logits.dtype == tf.float32
    np.testing.assert_allclose(d([images[0], tf.fill([4, 1], 0.3)]).numpy(), logits.numpy(), rtol=1e-5)


def test_options_off():
    cfg = {**TINY, "equalized_lr": False, "pixel_norm": False, "minibatch_stddev": False}
    g, d = pn.make_generator(cfg, "g", 8), pn.make_discriminator(cfg, "d", 8)
    assert not any(isinstance(l, (pn.PixelNorm, pn.MinibatchStddev)) for l in g.layers + d.layers)
    assert d.get_layer("block_4/conv").kernel.shape == (3, 3, 8, 8)  # no stddev channel
    assert np.all(np.isfinite(d([g([tf.ones([2, 8]), tf.constant(1.0)]), tf.constant(1.0)]).numpy()))


def _graph_variables(builder, scope, resolution):
    """(name, shape) of a stage built as the skeleton does: own graph, name scope `scope/`."""
    with tf.Graph().as_default():
        with tf.compat.v1.name_scope(scope + "/"):
            builder(TINY, scope, resolution)
        return {(v.name, tuple(v.shape)) for v in tf.compat.v1.global_variables()}


@pytest.mark.parametrize("builder,scope,rgb", [(pn.make_generator, "generator", "to_rgb"),
                                               (pn.make_discriminator, "discriminator", "from_rgb")])
def test_variables_carry_over_by_name(builder, scope, rgb):
    stages = {r: _graph_variables(builder, scope, r) for r in (4, 8, 16, 32)}
    for r in (8, 16, 32):
        faded_out = {(n, s) for n, s in stages[r // 2] if n.startswith(f"{scope}/{rgb}_{r // 4}/")}
        assert len(faded_out) == (2 if r >= 16 else 0)  # kernel and bias of stage r/2's fade-in source
        assert stages[r // 2] - faded_out <= stages[r]
        new = {n.split("/")[1] for n, _ in stages[r] - stages[r // 2]}
        assert new == {f"block_{r}", f"{rgb}_{r}"}
        assert f"{scope}/{rgb}_{r // 2}/kernel:0" in {n for n, _ in stages[r]}  # the fade-in source stays


def _copy_by_name(source, target):
    """Assigns target's variables from source's of the same name; -> names source has and target not."""
    by_name = {v.name: v for v in target.variables}
    for v in source.variables:
        if v.name in by_name:
            by_name[v.name].assign(v)
    return {v.name for v in source.variables} - set(by_name)


def test_fade_in_starts_where_the_previous_stage_ended():
    z = tf.random.normal([4, 8], seed=9)
    for r in (8, 16):
        g_prev, g = pn.make_generator(TINY, "generator", r // 2), pn.make_generator(TINY, "generator", r)
        d_prev = pn.make_discriminator(TINY, "discriminator", r // 2)
        d = pn.make_discriminator(TINY, "discriminator", r)
        faded_out = {f"{rgb}_{r // 4}/{w}:0" for rgb in ("to_rgb", "from_rgb") for w in ("kernel", "bias")}
        assert _copy_by_name(g_prev, g) | _copy_by_name(d_prev, d) == (faded_out if r > 8 else set())
        before = g_prev([z, tf.constant(1.0)])
        start = g([z, tf.constant(0.0)])
        np.testing.assert_allclose(start.numpy(), pn.Upscale2D()(before).numpy(), rtol=1e-5, atol=1e-6)
        end, half = g([z, tf.constant(1.0)]), g([z, tf.constant(0.5)])
        assert not np.allclose(end.numpy(), start.numpy(), atol=1e-3)
        np.testing.assert_allclose(half.numpy(), 0.5 * (start + end).numpy(), rtol=1e-5, atol=1e-6)
        images = start + tf.random.normal(start.shape, seed=r)
        np.testing.assert_allclose(d([images, tf.constant(0.0)]).numpy(),
                                   d_prev([pn.Downscale2D()(images), tf.constant(1.0)]).numpy(), rtol=1e-5, atol=1e-5)


def test_checkpoint_of_a_stage_restores_into_the_next(tmp_path):
    """Graph mode as TPUEstimator: save stage 8, restore into stage 16 what it shares by name."""
    prefix = str(tmp_path / "stage8")
    with tf.Graph().as_default():
        with tf.compat.v1.name_scope("generator/"):
            pn.make_generator(TINY, "generator", 8)
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saved = {v.op.name: sess.run(v) for v in tf.compat.v1.global_variables()}
            saver.save(sess, prefix)
    with tf.Graph().as_default():
        with tf.compat.v1.name_scope("generator/"):
            pn.make_generator(TINY, "generator", 16)
        stored = dict(tf.train.list_variables(prefix))
        shared = [v for v in tf.compat.v1.global_variables() if v.op.name in stored]
        fresh = [v for v in tf.compat.v1.global_variables() if v.op.name not in stored]
        assert {v.op.name for v in shared} == set(saved) - {"generator/to_rgb_4/kernel", "generator/to_rgb_4/bias"}
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.variables_initializer(fresh))
            tf.compat.v1.train.Saver(shared).restore(sess, prefix)
            for v in shared:
                np.testing.assert_array_equal(sess.run(v), saved[v.op.name])


def test_mixed_bfloat16_forward():
    z = tf.random.normal([4, 8], seed=2)
    g32, d32 = pn.make_generator(TINY, "generator", 8), pn.make_discriminator(TINY, "discriminator", 8)
    tf.keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        g, d = pn.make_generator(TINY, "generator", 8), pn.make_discriminator(TINY, "discriminator", 8)
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    _copy_by_name(g32, g)
    _copy_by_name(d32, d)
    assert all(v.dtype == tf.float32 for v in g.variables + d.variables)
    assert g.get_layer("block_8/conv0").compute_dtype == "bfloat16"
    images = g([z, tf.constant(0.5)])
    logits = d([images, tf.constant(0.5)])
    assert images.dtype == tf.float32 and logits.dtype == tf.float32
    reference = g32([z, tf.constant(0.5)])
    assert np.all(np.isfinite(images.numpy())) and np.all(np.isfinite(logits.numpy()))
    np.testing.assert_allclose(images.numpy(), reference.numpy(), atol=0.1 * float(tf.reduce_max(tf.abs(reference))))


def test_wgan_gp_training_step_compiles_with_xla():
    """One D step (WGAN-GP + drift: second-order gradients) and one G step of the stage-8 nets
    under tf.function(jit_compile=True); the models are built outside it."""
    g, d = pn.make_generator(TINY, "generator", 8), pn.make_discriminator(TINY, "discriminator", 8)
    before = [v.numpy() for v in g.trainable_variables + d.trainable_variables]

    @tf.function(jit_compile=True)
    def train_step(latent, real, alpha, seed):
        with tf.GradientTape() as tape:
            fake = g([latent, alpha], training=True)
            gp = losses.gradient_penalty(lambda x: d([x, alpha], training=True), real, fake, seed=seed)
            d_loss, terms = losses.wgan_gp_discriminator_loss(d([real, alpha], training=True),
                                                              d([fake, alpha], training=True), gp)
        for v, grad in zip(d.trainable_variables, tape.gradient(d_loss, d.trainable_variables)):
            v.assign_sub(1e-3 * grad)
        with tf.GradientTape() as tape:
            g_loss = losses.wgan_generator_loss(d([g([latent, alpha], training=True), alpha], training=True))
        for v, grad in zip(g.trainable_variables, tape.gradient(g_loss, g.trainable_variables)):
            v.assign_sub(1e-3 * grad)
        return d_loss, g_loss, terms["gradient_penalty"]

    latent, real = tf.random.normal([4, 8], seed=1), tf.random.uniform([4, 8, 8, 3], -1, 1, seed=2)
    d_loss, g_loss, gp = train_step(latent, real, tf.constant(0.25), tf.constant([7, 0], tf.int64))
    assert np.isfinite(d_loss.numpy()) and np.isfinite(g_loss.numpy()) and gp.numpy() > 0
    after = [v.numpy() for v in g.trainable_variables + d.trainable_variables]
    assert all(np.all(np.isfinite(a)) for a in after)
    assert all(not np.array_equal(a, b) for a, b in zip(before, after))  # alpha in (0, 1): every weight moves
