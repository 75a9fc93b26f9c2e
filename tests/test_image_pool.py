"""The image pool (trainer/image_pool.py): the vectorised batch update against the sequential
rule, filling then swapping about half the time, seeded randomness, static shapes, a checkpoint
round trip that continues exactly, and pool_size 0 as the identity."""
import numpy as np
import pytest
import tensorflow as tf

from trainer import image_pool


def sequential_rule(pool, num_seen, images, swap_u, slot_u):
    """pytorch-CycleGAN-and-pix2pix's ImagePool.query, one image at a time, with given draws."""
    pool, returned = pool.copy(), []
    size, stored = len(pool), min(num_seen, len(pool))
    for image, su, u in zip(images, swap_u, slot_u):
        if stored < size:
            pool[stored] = image
            stored += 1
            returned.append(image)
        elif su < 0.5:
            slot = min(int(u * size), size - 1)
            returned.append(pool[slot].copy())
            pool[slot] = image
        else:
            returned.append(image)
    return np.stack(returned), pool


@pytest.mark.parametrize("size,batch,num_seen", [(1, 5, 0), (3, 7, 1), (4, 6, 2), (5, 8, 9), (2, 9, 40)])
def test_batch_update_equals_the_sequential_rule(size, batch, num_seen):
    rng = np.random.default_rng(size * 100 + batch)
    for _ in range(20):
        pool = rng.normal(size=(size, 2, 2, 3)).astype(np.float32)
        images = rng.normal(size=(batch, 2, 2, 3)).astype(np.float32)
        swap_u = rng.uniform(size=batch).astype(np.float32)
        slot_u = rng.choice([0.0, 0.3, 0.6, 0.99], size=batch).astype(np.float32)  # many collisions
        want_out, want_pool = sequential_rule(pool, num_seen, images, swap_u, slot_u)
        out, new_pool = image_pool.update(tf.constant(pool), tf.constant(num_seen), tf.constant(images),
                                          tf.constant(swap_u), tf.constant(slot_u))
        np.testing.assert_array_equal(out.numpy(), want_out)
        np.testing.assert_array_equal(new_pool.numpy(), want_pool)


def _stream(pool_size=50, steps=450, batch=1, seed=0):
    """Queries `steps` batches of constant images whose value is their index; returns the
    returned values [steps, batch] and the final pool values."""
    with tf.Graph().as_default():
        fed = tf.compat.v1.placeholder(tf.float32, [batch, 2, 2, 3])
        out = image_pool.query(fed, pool_size, "image_pool/x", seed=seed)
        pool = tf.compat.v1.global_variables()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            got = []
            for step in range(steps):
                values = step * batch + np.arange(batch, dtype=np.float32)
                result = sess.run(out, {fed: np.broadcast_to(values[:, None, None, None], (batch, 2, 2, 3))})
                assert (result == result[:, :1, :1, :1]).all()  # whole images move, never mixed
                got.append(result[:, 0, 0, 0])
            return np.array(got), sess.run(pool[0])[:, 0, 0, 0]


def test_fills_first_then_swaps_about_half_the_time():
    got, pool = _stream()
    fed = np.arange(450, dtype=np.float32)
    np.testing.assert_array_equal(got[:50, 0], fed[:50])  # filling: returned as is
    later = got[50:, 0]
    swapped = later != fed[50:]
    assert 160 < swapped.sum() < 240, swapped.sum()  # binomial(400, 0.5): mean 200, sd 10
    assert (later[swapped] < fed[50:][swapped]).all()  # a swap returns an older image
    assert len(set(later[swapped])) == swapped.sum()  # each stored image comes back at most once
    assert len(set(pool)) == 50 and pool.max() <= 449


def test_same_seed_same_swaps_other_seed_different():
    first, _ = _stream(pool_size=5, steps=60, seed=3)
    again, _ = _stream(pool_size=5, steps=60, seed=3)
    other, _ = _stream(pool_size=5, steps=60, seed=4)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_static_shapes_and_non_trainable_variables():
    with tf.Graph().as_default():
        images = tf.zeros([8, 16, 16, 3])
        out = image_pool.query(images, 50, "image_pool/a")
        assert out.shape.as_list() == [8, 16, 16, 3]
        variables = {v.op.name: v for v in tf.compat.v1.global_variables()}
        assert variables["image_pool/a/images"].shape.as_list() == [50, 16, 16, 3]
        assert variables["image_pool/a/num_seen"].shape.as_list() == []
        assert not tf.compat.v1.trainable_variables()
        with pytest.raises(ValueError, match="static batch"):
            image_pool.query(tf.compat.v1.placeholder(tf.float32, [None, 16, 16, 3]), 50, "image_pool/b")


def test_pool_size_zero_is_the_identity_and_creates_nothing():
    with tf.Graph().as_default():
        images = tf.random.normal([4, 8, 8, 3])
        out = image_pool.query(images, 0, "image_pool/a")
        assert not tf.compat.v1.global_variables()
        with tf.compat.v1.Session() as sess:
            given, returned = sess.run([images, out])
    np.testing.assert_array_equal(given, returned)


def _build(batch):
    fed = tf.compat.v1.placeholder(tf.float32, [batch, 2, 2, 3])
    return fed, image_pool.query(fed, 4, "image_pool/a", seed=1)


def _feed(fed, step, batch):
    values = step * batch + np.arange(batch, dtype=np.float32)
    return {fed: np.broadcast_to(values[:, None, None, None], (batch, 2, 2, 3))}


def test_checkpoint_round_trip_continues_exactly(tmp_path):
    batch, prefix = 3, str(tmp_path / "pool.ckpt")
    with tf.Graph().as_default():
        fed, out = _build(batch)
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for step in range(5):
                sess.run(out, _feed(fed, step, batch))
            saver.save(sess, prefix)
            uninterrupted = [sess.run(out, _feed(fed, step, batch)) for step in range(5, 15)]
    with tf.Graph().as_default():
        fed, out = _build(batch)
        with tf.compat.v1.Session() as sess:
            tf.compat.v1.train.Saver().restore(sess, prefix)
            resumed = [sess.run(out, _feed(fed, step, batch)) for step in range(5, 15)]
    reader = tf.train.load_checkpoint(prefix)
    assert reader.get_tensor("image_pool/a/num_seen") == 15
    assert reader.get_tensor("image_pool/a/images").shape == (4, 2, 2, 3)
    np.testing.assert_array_equal(np.array(uninterrupted), np.array(resumed))
    older = [(r[:, 0, 0, 0] < step * batch).sum() for step, r in zip(range(5, 15), resumed)]
    assert sum(older) > 0  # the restored pool hands back images stored before the save


def test_update_and_draws_compile_with_xla():
    """TPU programs are XLA-compiled: the batch update and the stateless draws must compile
    (static shapes, no host-side state) and give the same result as without XLA."""
    def step(pool, num_seen, images):
        swap_u, slot_u = image_pool.draws(7, num_seen, images.shape[0])
        return image_pool.update(pool, num_seen, images, swap_u, slot_u)

    rng = np.random.default_rng(0)
    args = (tf.constant(rng.normal(size=(5, 4, 4, 3)), tf.float32), tf.constant(3),
            tf.constant(rng.normal(size=(6, 4, 4, 3)), tf.float32))
    compiled = tf.function(step, jit_compile=True)
    for got, want in zip(compiled(*args), step(*args)):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
