"""A model's networks as the skeleton calls them: each GanModel network's Keras model, built
once under its variable scope (`generator`, `generator/a2b`, `discriminator/b`, ...), wrapped so
that a call returns float32 and hands its batch-norm updates to the train step.

The scope is the checkpoint name: weight `up0/kernel` of network `generator` is stored as
`generator/up0/kernel` (`checkpoint_name`), in graph mode and eager alike.
"""
import contextlib
import enum
import random
import zlib
from typing import Dict, List, Optional, Sequence


import tensorflow as tf

from trainer import tpu
from trainer.models import GanModel


class Role(str, enum.Enum):
    """What a network is for; the first part of its name."""
    GENERATOR = "generator"
    DISCRIMINATOR = "discriminator"

    def __str__(self):
        return self.value


GENERATOR, DISCRIMINATOR = Role.GENERATOR, Role.DISCRIMINATOR


def role_of(name: str) -> Role:
    """The role a network name declares; ValueError for a name outside both."""
    try:
        return Role(name.split("/")[0])
    except ValueError:
        raise ValueError(f"network name {name!r} must start with '{GENERATOR}' or '{DISCRIMINATOR}'") from None


def checkpoint_name(network: str, weight: tf.Variable) -> str:
    """The name the estimator's checkpoints store `weight` of `network` under: built in graph
    mode inside the network's scope the variable already carries it; built eagerly (where
    Keras ignores name scopes) it gets it here."""
    name = weight.name.split(":")[0]
    return name if name.startswith(network + "/") else f"{network}/{name}"


class Network:
    """A Keras model called as `net(x, training=...)`; returns float32 (whatever the compute
    dtype) and records the batch-norm update ops of training-mode calls into `update_sink`
    (graph mode; in eager code and tf.function, Keras runs them itself: record_updates=False)."""

    def __init__(self, name: str, keras_model: tf.keras.Model, record_updates: bool = True):
        self.name = name
        self.role = role_of(name)
        self.model = keras_model
        self.record_updates = record_updates
        self.update_sink: List[tf.Operation] = []
        self._outputs: Optional[Dict] = None  # inference outputs by input; see reuse_inference_outputs

    @property
    def trainable_variables(self):
        return self.model.trainable_variables

    def __call__(self, inputs, training: bool):
        key = inputs.ref() if self._outputs is not None and not training and isinstance(inputs, tf.Tensor) else None
        if key is not None and key in self._outputs:
            return self._outputs[key]
        outputs = self.model(inputs, training=training)
        if training and self.record_updates:
            self.update_sink.extend(self.model.get_updates_for(inputs))
        outputs = tf.nest.map_structure(lambda t: tf.cast(t, tf.float32), outputs)
        if key is not None:
            self._outputs[key] = outputs
        return outputs


def reuse_inference_outputs(nets: Dict[str, Network]) -> None:
    """From now on an inference call (training=False) on a tensor a network has already seen
    returns the earlier output instead of building the pass again. For EVAL, where the losses
    and the metrics translate the same images: CycleGAN's eval built 12 generator passes where 6
    differ, and the duplicates cost XLA minutes of compile time."""
    for net in nets.values():
        net._outputs = {}


@contextlib.contextmanager
def seeded_initializers(seed: int, name: str):
    """Keras' unseeded initialisers draw their seeds from Python's global `random` (or, after
    tf.keras.utils.set_random_seed, from Keras' own seed generator), never from the graph seed
    the estimator sets from `seed`, so without this a rerun of the same config starts from other
    weights. For the block, Keras' seed generator is one seeded from (seed, network name): a
    network's initial weights depend on neither the process, nor what ran before, nor which
    other networks are built. The previous generator is put back afterwards."""
    from keras.src import backend as keras_backend  # keras 2.15 (constraints.txt): where Keras draws seeds
    holder = keras_backend._SEED_GENERATOR
    previous = getattr(holder, "generator", None)
    holder.generator = random.Random(seed * 1_000_003 + zlib.crc32(name.encode()))
    try:
        yield
    finally:
        holder.generator = previous


def build_networks(model: GanModel, cfg, roles: Sequence[Role] = tuple(Role),
                   record_updates: bool = True) -> Dict[str, Network]:
    """Builds each network of the given roles once (D is then called on real and fake without
    new variables). `record_updates=False` for eager callers (see Network).

    Under tf.init_scope: a Keras functional model is built on a symbolic `Input` placeholder, and
    that placeholder and the layer ops on it (batch-norm assigns included) must stay out of the
    TPU computation, where XLA refuses them. The variables are made there anyway (variable
    creation lifts itself out of any compiled context), with the same names, so checkpoints
    written before are unaffected; only the calls on real tensors are in the step."""
    nets = {}
    with tf.init_scope(), tpu.network_precision(cfg):
        for name, constructor in model.networks(cfg).items():
            if role_of(name) not in roles:
                continue
            with tf.compat.v1.name_scope(name + "/"), seeded_initializers(cfg["seed"], name):  # "/": this exact scope
                nets[name] = Network(name, constructor(), record_updates=record_updates)
    return nets
