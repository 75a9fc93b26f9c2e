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


# ---- WGAN-GP (Gulrajani et al. 2017) with ProGAN's drift term (Karras et al. 2017) ------------
# Logits are unbounded critic scores [batch] (or [batch, 1]); all results are float32 scalars
# except gradient_penalty, which is per example.

def gradient_penalty(discriminator, real, fake, seed=None, epsilon=None, target: float = 1.0):
    """Per-example (||d D(x) / d x||_2 - target)^2, [batch] float32, at x = real + eps (fake - real)
    with eps ~ U[0, 1) per example ([batch, 1, ..., 1]). `discriminator`: callable images ->
    scores. eps is `epsilon` when given, else drawn by tf.random.stateless_uniform when `seed`
    is a shape-[2] integer seed (e.g. [step, k]: reproducible across a resume), else by
    tf.random.uniform with op-level seed `seed` (an int or None). Differentiable again (the
    critic's parameters get the penalty's gradient): works in graph mode, tf.function and XLA."""
    real = tf.cast(real, tf.float32)
    fake = tf.cast(fake, tf.float32)
    if epsilon is None:
        batch = real.shape[0] if real.shape[0] is not None else tf.shape(real)[0]
        shape = [batch] + [1] * (real.shape.rank - 1)
        if seed is not None and not isinstance(seed, int):
            epsilon = tf.random.stateless_uniform(shape, seed=tf.cast(seed, tf.int64), dtype=tf.float32)
        else:
            epsilon = tf.random.uniform(shape, dtype=tf.float32, seed=seed)
    mixed = real + tf.cast(epsilon, tf.float32) * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        scores = tf.reduce_sum(tf.cast(discriminator(mixed), tf.float32))
    grads = tape.gradient(scores, mixed)
    # 1e-12 keeps the penalty's own gradient finite where the critic is flat (sqrt'(0) = inf).
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=list(range(1, grads.shape.rank))) + 1e-12)
    return tf.square(norms - target)


def wgan_gp_discriminator_loss(real_logits, fake_logits, gradient_penalty, drift: float = 0.001,
                               gp_weight: float = 10.0):
    """-> (loss, terms). loss = mean(fake) - mean(real) + gp_weight * mean(gradient_penalty)
    + drift * mean(real^2) (ProGAN's epsilon drift keeps the critic's scores near 0).
    terms: unweighted 'wasserstein_distance' (mean(real) - mean(fake)), 'gradient_penalty',
    'drift_penalty', for TensorBoard."""
    real, fake = tf.cast(real_logits, tf.float32), tf.cast(fake_logits, tf.float32)
    distance = _mean(real) - _mean(fake)
    penalty, drift_penalty = _mean(gradient_penalty), _mean(tf.square(real))
    loss = -distance + gp_weight * penalty + drift * drift_penalty
    return loss, {"wasserstein_distance": distance, "gradient_penalty": penalty, "drift_penalty": drift_penalty}


def wgan_generator_loss(fake_logits):
    """G raises the critic's scores of its samples: -mean(fake_logits)."""
    return -_mean(fake_logits)
