"""PatchGAN discriminator (trainer/models/patchgan.py) and InstanceNormalization
(trainer/models/layers.py): logit-map shapes per resolution, exact parameter counts against
pytorch-CycleGAN-and-pix2pix, the 70x70 receptive field, and instance-norm statistics."""
import numpy as np
import pytest
import tensorflow as tf

from trainer.models.layers import InstanceNormalization
from trainer.models.patchgan import make_patchgan


def trainable_count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


@pytest.mark.parametrize("res,side", [(256, 30), (128, 14), (64, 6)])
def test_logit_map_shape(res, side):
    with tf.Graph().as_default():
        assert make_patchgan(6, res, 8).output_shape == (None, side, side, 1)


@pytest.mark.parametrize("channels,norm,expected", [
    (6, "batch", 2_768_705),     # pix2pix D: PyTorch prints 2.769 M
    (3, "instance", 2_764_737),  # CycleGAN D: PyTorch prints 2.765 M (affine-free instance norm)
    (3, "none", 2_764_737),
])
def test_parameter_counts_match_reference(channels, norm, expected):
    # 4x4 convs 6->64 (+bias), 64->128, 128->256, 256->512 (no bias under batch norm: 2x width
    # of gamma/beta instead), 512->1 (+bias).
    with tf.Graph().as_default():
        d = make_patchgan(channels, 256, 64, norm=norm)
        assert trainable_count(d) == expected
        moving = 2 * (128 + 256 + 512) if norm == "batch" else 0
        assert d.count_params() == expected + moving


def test_receptive_field_is_70_pixels():
    """The centre logit's gradient w.r.t. the input is non-zero on exactly a 70x70 window."""
    d = make_patchgan(3, 128, 4, norm="none")
    x = tf.Variable(tf.random.normal([1, 128, 128, 3]))
    with tf.GradientTape() as tape:
        logit = d(x, training=False)[0, 7, 7, 0]
    grad = tf.reduce_sum(tf.abs(tape.gradient(logit, x)), axis=[0, 3]).numpy()
    rows, cols = np.nonzero(grad.sum(axis=1))[0], np.nonzero(grad.sum(axis=0))[0]
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


def test_unknown_norm_is_rejected():
    with pytest.raises(ValueError, match="norm"):
        make_patchgan(3, 64, 8, norm="group")


def test_instance_norm_normalises_each_example_and_channel():
    x = tf.random.normal([3, 8, 8, 4]) * tf.constant([1.0, 5.0, 0.5, 2.0]) + tf.constant([0.0, 3.0, -7.0, 1.0])
    layer = InstanceNormalization(center=False, scale=False)
    y = layer(x)
    mean, var = tf.nn.moments(y, axes=[1, 2])
    np.testing.assert_allclose(mean.numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(var.numpy(), 1.0, rtol=1e-3)
    assert layer.trainable_weights == []
    # Examples are independent: changing one example leaves the others' outputs unchanged.
    y2 = layer(tf.concat([x[:1] * 10.0 + 4.0, x[1:]], axis=0))
    np.testing.assert_allclose(y2[1:].numpy(), y[1:].numpy(), atol=1e-5)


def test_instance_norm_affine_and_bfloat16():
    layer = InstanceNormalization()
    x = tf.random.normal([2, 4, 4, 3])
    layer(x)
    assert [w.shape.as_list() for w in layer.trainable_weights] == [[3], [3]]
    layer.gamma.assign([2.0, 2.0, 2.0])
    layer.beta.assign([1.0, 1.0, 1.0])
    mean, var = tf.nn.moments(layer(x), axes=[1, 2])
    np.testing.assert_allclose(mean.numpy(), 1.0, atol=1e-5)
    np.testing.assert_allclose(var.numpy(), 4.0, rtol=1e-3)
    mixed = InstanceNormalization(dtype="mixed_bfloat16")
    y = mixed(x)
    assert y.dtype == tf.bfloat16 and mixed.gamma.dtype == tf.float32
    np.testing.assert_allclose(tf.nn.moments(tf.cast(y, tf.float32), axes=[1, 2])[1].numpy(), 1.0, rtol=2e-2)
