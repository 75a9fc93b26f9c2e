"""A history of generated images for the discriminator (Shrivastava et al. 2017; CycleGAN).

D is trained on a mix of the newest fakes and older ones, which damps oscillation. For every
image of a batch, in order (the rule of pytorch-CycleGAN-and-pix2pix's ImagePool):
- while the pool holds fewer than `pool_size` images, the image is stored and returned as is;
- once full, with probability 0.5 the image is swapped in at a uniformly random slot and the
  image it replaces is returned to D; otherwise the image itself is returned.

TPU-safe: the state is two non-trainable variables made with tf.compat.v1.get_variable under
the given variable scope (e.g. 'image_pool/a'): `images` float32 [pool_size, H, W, C] and
`num_seen` int32 [] (images queried so far). No queues, no Python-side state, static shapes;
the pool is saved in and restored from checkpoints with the other variables. A batch is
processed in one step, without a loop: each example sees the writes of the earlier examples of
its batch, exactly as the sequential rule. The random draws are stateless, seeded with
(seed, num_seen): a given seed gives the same swaps in every run, also across a resume.
On TPU each core keeps and updates its own pool (like batch-norm moving statistics).
"""
from typing import Tuple

import tensorflow as tf

SWAP_PROBABILITY = 0.5


def draws(seed: int, num_seen, batch: int) -> Tuple[tf.Tensor, tf.Tensor]:
    """The random numbers of one query: (swap_u, slot_u), each float32 [batch] in [0, 1)."""
    u = tf.random.stateless_uniform([batch, 2], seed=tf.stack([tf.constant(seed, tf.int32), num_seen]))
    return u[:, 0], u[:, 1]


def _where(condition, x, y):
    """tf.where with a [batch] condition over [batch, ...] values."""
    condition = tf.reshape(condition, [-1] + [1] * (x.shape.rank - 1))
    return tf.where(condition, x, y)


def _last_index(matches):
    """[n, batch] bool -> [n] int32: the largest column index that is True in each row, or -1."""
    columns = tf.range(tf.shape(matches)[1], dtype=tf.int32)
    return tf.reduce_max(tf.where(matches, columns[None, :], -1), axis=1)


def update(pool, num_seen, images, swap_u, slot_u):
    """The pure pool rule. pool [P, H, W, C], num_seen int32 [], images [B, H, W, C], swap_u and
    slot_u float32 [B] in [0, 1) -> (returned images [B, H, W, C], new pool [P, H, W, C])."""
    size, batch = pool.shape[0], images.shape[0]
    i = tf.range(batch, dtype=tf.int32)
    fill_slot = tf.minimum(num_seen, size) + i
    filling = fill_slot < size
    swap = tf.logical_and(tf.logical_not(filling), swap_u < SWAP_PROBABILITY)
    random_slot = tf.minimum(tf.cast(slot_u * size, tf.int32), size - 1)
    slot = tf.where(filling, fill_slot, random_slot)                       # [B]
    writes = tf.logical_or(filling, swap)                                   # example i stores itself
    # What slot[i] holds just before example i: the image of the last earlier example of this
    # batch that wrote there, else the pool's old content.
    earlier = tf.logical_and(tf.equal(slot[:, None], slot[None, :]), writes[None, :])
    earlier = tf.logical_and(earlier, i[None, :] < i[:, None])             # [B (i), B (j)]
    last = _last_index(earlier)
    previous = _where(last >= 0, tf.gather(images, tf.maximum(last, 0)), tf.gather(pool, slot))
    returned = _where(swap, previous, images)
    # Each slot ends with the image of the last example that wrote it.
    writer = _last_index(tf.logical_and(tf.equal(tf.range(size)[:, None], slot[None, :]), writes[None, :]))
    new_pool = _where(writer >= 0, tf.gather(images, tf.maximum(writer, 0)), pool)
    return returned, new_pool


def query(images, pool_size: int, scope: str, seed: int = 0):
    """images float32 [B, H, W, C] (static shape) -> [B, H, W, C] for D, and the pool updated.
    Creates (or reuses) the pool's variables under variable scope `scope`. pool_size 0 returns
    `images` unchanged and creates nothing. Gradients do not flow into the pool."""
    images = tf.stop_gradient(tf.cast(images, tf.float32))
    if pool_size == 0:
        return images
    if not images.shape.is_fully_defined():
        raise ValueError(f"image pool {scope}: needs a static batch shape, got {images.shape}")
    shape = images.shape.as_list()
    with tf.compat.v1.variable_scope(scope, reuse=tf.compat.v1.AUTO_REUSE):
        pool = tf.compat.v1.get_variable(
            "images", [pool_size] + shape[1:], tf.float32, tf.compat.v1.zeros_initializer(),
            trainable=False, use_resource=True)
        num_seen = tf.compat.v1.get_variable(
            "num_seen", [], tf.int32, tf.compat.v1.zeros_initializer(), trainable=False, use_resource=True)
    seen = num_seen.read_value()
    swap_u, slot_u = draws(seed, seen, shape[0])
    returned, new_pool = update(pool.read_value(), seen, images, swap_u, slot_u)
    with tf.control_dependencies([pool.assign(new_pool), num_seen.assign(seen + shape[0])]):
        return tf.identity(returned)
