"""trainer/networks.py: networks built by the skeleton start from weights the config's seed
decides (Keras' unseeded initialisers would otherwise draw from Python's global random state)."""
import random

import numpy as np
import tensorflow as tf

from datasets import make_dataset
from runs import tiny_config
from trainer import models
from trainer.networks import Role, build_networks


def _initial_weights(cfg, roles=tuple(Role)):
    """{variable name: initial value} of cfg's networks, built in a graph of their own."""
    with tf.Graph().as_default():
        nets = build_networks(models.get(cfg["model"]), cfg, roles)
        variables = [v for net in nets.values() for v in net.model.weights]
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return dict(zip([v.name for v in variables], session.run(variables)))


def test_the_same_seed_builds_the_same_weights_whatever_else_is_built(tmp_path):
    cfg = tiny_config("dcgan_32", make_dataset(str(tmp_path / "d"), 32, count=4))
    random.seed(1)
    first = _initial_weights(cfg)
    random.seed(2)  # other global state: must not matter, nor Keras' own seed generator
    tf.keras.utils.set_random_seed(3)
    again = _initial_weights(cfg)
    alone = _initial_weights(cfg, roles=(Role.GENERATOR,))
    other = _initial_weights(cfg.replace(seed=cfg["seed"] + 1))
    assert set(first) == set(again) and alone and set(alone) < set(first)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name], err_msg=name)
    for name in alone:
        np.testing.assert_array_equal(first[name], alone[name], err_msg=name)
    kernels = [n for n in first if n.endswith("kernel:0")]
    assert kernels and all(not np.array_equal(first[n], other[n]) for n in kernels)


def test_building_leaves_the_global_random_states_alone(tmp_path):
    cfg = tiny_config("dcgan_32", make_dataset(str(tmp_path / "d"), 32, count=4))
    def draws():
        return random.random(), tf.keras.initializers.RandomNormal()([3]).numpy().tolist()

    tf.keras.utils.set_random_seed(5)
    expected = draws()
    tf.keras.utils.set_random_seed(5)
    _initial_weights(cfg)
    assert draws() == expected
