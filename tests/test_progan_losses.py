"""WGAN-GP with drift (trainer/models/losses.py, ProGAN's loss) against hand-computed values."""
import numpy as np
import pytest
import tensorflow as tf

from trainer.models import losses


def test_wgan_gp_discriminator_loss_by_hand():
    real, fake, gp = tf.constant([1.0, 2.0]), tf.constant([[0.0], [-1.0]]), tf.constant([0.25, 1.0])
    loss, terms = losses.wgan_gp_discriminator_loss(real, fake, gp)
    # mean(fake) - mean(real) = -0.5 - 1.5; 10 * mean(gp) = 6.25; 0.001 * mean(real^2) = 0.0025.
    assert float(loss) == pytest.approx(-2.0 + 6.25 + 0.0025)
    assert float(terms["wasserstein_distance"]) == pytest.approx(2.0)
    assert float(terms["gradient_penalty"]) == pytest.approx(0.625)
    assert float(terms["drift_penalty"]) == pytest.approx(2.5)
    loss, _ = losses.wgan_gp_discriminator_loss(real, fake, gp, drift=0.0, gp_weight=1.0)
    assert float(loss) == pytest.approx(-2.0 + 0.625)


def test_wgan_generator_loss():
    assert float(losses.wgan_generator_loss(tf.constant([1.0, -3.0, 0.5]))) == pytest.approx(0.5)
    assert losses.wgan_generator_loss(tf.constant([1.0], tf.bfloat16)).dtype == tf.float32


def test_gradient_penalty_of_a_quadratic_critic():
    """D(x) = 0.5 * sum(x^2): the gradient at x is x, so the penalty is (||x_hat|| - 1)^2 at
    x_hat = real + eps (fake - real)."""
    real = np.zeros([2, 2, 2, 3], np.float32)
    fake = np.ones([2, 2, 2, 3], np.float32)
    eps = np.array([0.5, 0.25], np.float32).reshape([2, 1, 1, 1])
    gp = losses.gradient_penalty(lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3]), real, fake,
                                 epsilon=eps)
    expected = (np.sqrt([12 * 0.25, 12 * 0.0625]) - 1.0) ** 2
    np.testing.assert_allclose(gp.numpy(), expected, rtol=1e-5)


def test_gradient_penalty_draws_epsilon_per_example_in_0_1():
    """With real = 0 and fake = 1 the quadratic critic's gradient norm is eps * sqrt(n)."""
    real, fake = tf.zeros([64, 1, 1, 4]), tf.ones([64, 1, 1, 4])

    def critic(x):
        return 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])

    stateless = losses.gradient_penalty(critic, real, fake, seed=[3, 4], target=0.0)
    again = losses.gradient_penalty(critic, real, fake, seed=tf.constant([3, 4]), target=0.0)
    other = losses.gradient_penalty(critic, real, fake, seed=[3, 5], target=0.0)
    drawn = np.sqrt(stateless.numpy()) / 2.0  # target 0: gp = ||g||^2 = 4 eps^2
    assert np.all(drawn >= 0) and np.all(drawn < 1) and np.std(drawn) > 0.1  # per example, spread over [0, 1)
    np.testing.assert_array_equal(stateless.numpy(), again.numpy())
    assert not np.allclose(stateless.numpy(), other.numpy())
    stateful = np.sqrt(losses.gradient_penalty(critic, real, fake, seed=11, target=0.0).numpy()) / 2.0
    assert np.all(stateful >= 0) and np.all(stateful < 1) and np.std(stateful) > 0.1


def test_gradient_penalty_gradient_reaches_the_critic_weights():
    """Linear critic D(x) = sum(w * x): ||grad_x|| = ||w|| for every example, so
    gp = (||w|| - 1)^2 and d gp / d w = 2 (||w|| - 1) w / ||w|| (a second-order gradient)."""
    w = tf.Variable(np.arange(1, 7, dtype=np.float32).reshape([1, 1, 2, 3]) / 10.0)
    real, fake = tf.random.normal([3, 1, 2, 3], seed=1), tf.random.normal([3, 1, 2, 3], seed=2)
    with tf.GradientTape() as tape:
        gp = losses.gradient_penalty(lambda x: tf.reduce_sum(w * x, axis=[1, 2, 3]), real, fake, seed=[1, 2])
        mean_gp = tf.reduce_mean(gp)
    norm = np.linalg.norm(w.numpy())
    np.testing.assert_allclose(gp.numpy(), [(norm - 1) ** 2] * 3, rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(mean_gp, w).numpy(), 2 * (norm - 1) * w.numpy() / norm, rtol=1e-4)


def test_gradient_penalty_in_graph_mode():
    """The skeleton's TPUEstimator graph: tf.gradients (the optimizer's) through the penalty."""
    with tf.Graph().as_default():
        w = tf.compat.v1.get_variable("w", initializer=tf.constant([[0.6], [0.8]]), use_resource=True)
        real = tf.compat.v1.placeholder(tf.float32, [4, 2])
        gp = losses.gradient_penalty(lambda x: tf.matmul(x, w), real, real + 1.0, seed=[0, 1], target=0.5)
        grad = tf.gradients(tf.reduce_mean(gp), [w])[0]
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            gp_value, grad_value = sess.run([gp, grad], {real: np.zeros([4, 2], np.float32)})
    np.testing.assert_allclose(gp_value, [0.25] * 4, rtol=1e-5)  # ||w|| = 1
    np.testing.assert_allclose(grad_value, [[0.6], [0.8]], rtol=1e-4)  # 2 (1 - 0.5) w / ||w||
