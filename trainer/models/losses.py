"""GAN and reconstruction losses as plain functions of logits / images (float32 scalars).

Each GAN loss returns (d_loss_real, d_loss_fake) for the discriminator or the generator's loss;
the kinds are chosen by name from the config ('sigmoid_ce' = the original non-saturating GAN,
'lsgan' = least squares as in CycleGAN).
"""
import tensorflow as tf

GAN_LOSSES = ("sigmoid_ce", "lsgan")
RECONSTRUCTION_NORMS = ("l1", "l2")


def _mean(x):
    return tf.reduce_mean(tf.cast(x, tf.float32))


def discriminator_losses(real_logits, fake_logits, kind: str = "sigmoid_ce"):
    """-> (d_loss_real, d_loss_fake): D pushes real logits to 1 and fake logits to 0."""
    if kind == "sigmoid_ce":
        return _mean(tf.nn.softplus(-real_logits)), _mean(tf.nn.softplus(fake_logits))
    if kind == "lsgan":
        return _mean(tf.square(real_logits - 1.0)), _mean(tf.square(fake_logits))
    raise ValueError(f"unknown GAN loss {kind!r}; allowed: {', '.join(GAN_LOSSES)}")


def generator_loss(fake_logits, kind: str = "sigmoid_ce"):
    """Non-saturating generator loss: G pushes D's fake logits to 1."""
    if kind == "sigmoid_ce":
        return _mean(tf.nn.softplus(-fake_logits))
    if kind == "lsgan":
        return _mean(tf.square(fake_logits - 1.0))
    raise ValueError(f"unknown GAN loss {kind!r}; allowed: {', '.join(GAN_LOSSES)}")


def reconstruction_loss(output, target, norm: str = "l1"):
    if norm == "l1":
        return _mean(tf.abs(output - target))
    if norm == "l2":
        return _mean(tf.square(output - target))
    raise ValueError(f"unknown reconstruction norm {norm!r}; allowed: {', '.join(RECONSTRUCTION_NORMS)}")


def per_example_mean(x):
    """[batch, ...] -> [batch] float32 mean over all but the first axis (for eval metrics)."""
    x = tf.cast(x, tf.float32)
    return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)
