"""A trained model's generators, built and restored the one way, for every user of a trained
model: predict and export (through the model_fn's PREDICT scaffold), the sample grids written at
each checkpoint (a graph of their own) and the quality tools (eager).

`restore_map` decides which checkpoint value goes into which generator variable: a weight's
checkpoint name (trainer/networks.checkpoint_name), or, when the run kept an exponential moving
average of the generator (`g_ema_decay`), that average (`ema_name`).
"""
from typing import Dict, Optional, Tuple

import tensorflow as tf

from trainer import checkpoints, models
from trainer.fields import ConfigError
from trainer.networks import GENERATOR, Network, build_networks, checkpoint_name

EMA_SUFFIX = "ExponentialMovingAverage"  # tf.train.ExponentialMovingAverage's slot name


def ema_name(name: str) -> str:
    """Checkpoint name of the moving average of variable `name`."""
    return f"{name}/{EMA_SUFFIX}"


def host_config(cfg):
    """The config for running a generator on this host's CPU: float32 (a bfloat16 run's variables
    are float32 anyway), no TPU."""
    return cfg.replace(precision="float32", use_tpu=False)


def build(cfg, record_updates: bool = True) -> Dict[str, Network]:
    """The config's generator networks (e.g. 'generator', or 'generator/a2b' and
    'generator/b2a') with fresh weights, at the config's precision. Eager callers pass
    record_updates=False."""
    return build_networks(models.get(cfg["model"]), cfg, roles=(GENERATOR,), record_updates=record_updates)


def _variables(nets: Dict[str, Network]) -> Dict[str, tf.Variable]:
    return {checkpoint_name(net.name, v): v for net in nets.values() for v in net.model.variables}


def restore_map(nets: Dict[str, Network], stored) -> Dict[str, tf.Variable]:
    """{checkpoint name: variable} for every variable of `nets`; `stored` is the checkpoint's
    names (a set or a {name: shape} map), and a weight with a moving average there restores
    from the average."""
    return {(ema_name(name) if ema_name(name) in stored else name): v for name, v in _variables(nets).items()}


def _checked(mapping: Dict[str, tf.Variable], shapes: Dict[str, list], path: str) -> Dict[str, tf.Variable]:
    for name, variable in mapping.items():
        if name not in shapes:
            raise ConfigError(f"{path}: no variable {name}; was it trained with this config?")
        if tuple(shapes[name]) != tuple(variable.shape):
            raise ConfigError(f"{path}: {name} has shape {shapes[name]}, the config builds {tuple(variable.shape)}")
    return mapping


def saver(nets: Dict[str, Network], checkpoint_path: str, extra=()) -> tf.compat.v1.train.Saver:
    """A graph-mode Saver that restores `nets` from checkpoint_path (moving averages first);
    `extra` variables (e.g. the global step) restore under their own names."""
    shapes = tf.train.load_checkpoint(checkpoint_path).get_variable_to_shape_map()
    mapping = _checked(restore_map(nets, shapes), shapes, checkpoint_path)
    mapping.update({v.op.name: v for v in extra})
    return tf.compat.v1.train.Saver(var_list=mapping)


def restore_eager(nets: Dict[str, Network], checkpoint_path: str) -> None:
    """Copies the checkpoint's values into eagerly built `nets`."""
    reader = tf.train.load_checkpoint(checkpoint_path)
    shapes = reader.get_variable_to_shape_map()
    for name, variable in _checked(restore_map(nets, shapes), shapes, checkpoint_path).items():
        variable.assign(reader.get_tensor(name))


def checkpoint_config(cfg, checkpoint_path: str):
    """The config whose networks the checkpoint holds (GanModel.checkpoint_config: ProGAN's
    growth stage); the config itself for the other models."""
    model = models.get(cfg["model"])
    return cfg if model.checkpoint_config is None else model.checkpoint_config(cfg, checkpoint_path)


def current_config(cfg, model_dir: str):
    """checkpoint_config of model_dir's latest checkpoint (cfg when there is none yet)."""
    path = checkpoints.ensure_restorable(model_dir)
    return checkpoint_config(cfg, path) if path else cfg


def latest_checkpoint(model_dir: str, purpose: str) -> str:
    """The newest restorable checkpoint of model_dir; ConfigError naming `purpose` if none."""
    path = checkpoints.ensure_restorable(model_dir)
    if not path:
        raise ConfigError(f"{model_dir}: no checkpoint to {purpose}; train first")
    return path


def load(cfg, model_dir: str, network: str = GENERATOR, checkpoint_path: Optional[str] = None
         ) -> Tuple[tf.keras.Model, int]:
    """(the network's eager Keras model with the latest checkpoint's weights, float32, and the
    checkpoint's global step); ConfigError if there is none."""
    path = checkpoint_path or latest_checkpoint(model_dir, f"load the {network} from")
    nets = build(host_config(checkpoint_config(cfg, path)), record_updates=False)
    if network not in nets:
        raise ConfigError(f"model {cfg['model']} has no network {network!r}; it has {', '.join(sorted(nets))}")
    restore_eager({network: nets[network]}, path)
    return nets[network].model, int(tf.train.load_variable(path, "global_step"))
