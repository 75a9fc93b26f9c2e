"""Run configuration: defaults -> YAML files in order -> --set overrides -> validate -> frozen.

Every key is declared once, with its type and allowed values: the keys shared by all models
live in COMMON_FIELDS, and each model module declares its own in `CONFIG_FIELDS` (the
noise-driven ones include the quality tools' keys, trainer/models/noise_to_image.py). An unknown
key, a wrong type or a value out of range is a ConfigError whose one-line message names the
key, the file (or `--set`) it came from, and what is allowed. On TPU, the step counts that fall
between loops (checkpoints, evaluations, the end of training) must be multiples of
iterations_per_loop.

TPUEstimator reserves `params['batch_size']` (the per-core batch on TPU), so configs say
`train_batch_size` / `eval_batch_size` / `predict_batch_size`: global batch sizes.
"""
import os
from collections.abc import Mapping
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

import yaml

from trainer import models
from trainer.fields import ConfigError, Field, positive_int

CONFIG_FILENAME = "config.yaml"  # the operative config, written into model_dir on train


COMMON_FIELDS: Dict[str, Field] = {
    "model": Field(None, str, optional=True, arch=True, help="registered model name"),
    "resolution": Field(64, int, min_value=1, arch=True, help="image height = width"),
    "train_data": Field(None, str, optional=True, help="folder (or gs:// prefix) made by convert_to_tfrecords.py"),
    "eval_data": Field(None, str, optional=True, help="defaults to train_data"),
    "train_batch_size": positive_int(64, help="global batch for training"),
    "eval_batch_size": positive_int(64),
    "predict_batch_size": positive_int(16),
    "train_steps": positive_int(10000),
    "eval_steps": positive_int(10),
    "eval_every_steps": positive_int(1000, help="train_and_evaluate: steps between evaluations"),
    "learning_rate": Field(2e-4, float, min_value=0.0),
    "d_learning_rate": Field(None, float, min_value=0.0, optional=True,
                             help="the discriminator's own learning rate (two time-scale update rule); "
                                  "default learning_rate; lr_decay_start_step applies to both"),
    "beta1": Field(0.5, float, min_value=0.0),
    "beta2": Field(0.999, float, min_value=0.0),
    "lr_decay_start_step": Field(None, int, min_value=0, optional=True,
                                 help="constant LR until this step, then linear decay to 0 at train_steps"),
    "max_train_minutes": Field(None, float, min_value=0.0, optional=True,
                               help="a train run stops after this many minutes, with a checkpoint; rerun to go on"),
    "save_checkpoints_steps": positive_int(500),
    "keep_checkpoint_max": positive_int(5),
    "summary_every_steps": positive_int(100, help="scalar summaries"),
    "image_summary_every_steps": positive_int(500),
    "tensorboard_graph": Field(False, bool, help="write the graph for TensorBoard's Graphs tab (slow to start with pure-Python protobuf; trainer/event_files.py)"),
    "sample_grid_size": positive_int(8, help="the N of the N x N sample grids"),
    "num_samples": positive_int(64, help="predict: how many samples or outputs to write"),
    "shuffle_buffer": positive_int(2048),
    "seed": Field(0, int, min_value=0),
    "g_ema_decay": Field(None, float, min_value=0.0, optional=True,
                         help="keep an exponential moving average of G's weights (ProGAN: 0.999; decay "
                              "min(g_ema_decay, (1+step)/(10+step))); sample grids, predict, export, evaluate "
                              "and the latent tools then use the average"),
    "nan_policy": Field("stop", str, choices=("stop", "skip"),
                        help="non-finite loss: stop with an error, or skip the step and count it"),
    # Cloud TPU. Nothing else in the code path changes when use_tpu flips.
    "use_tpu": Field(False, bool),
    "tpu": Field(None, str, optional=True, help="TPU name, or 'local' on a TPU VM"),
    "zone": Field(None, str, optional=True),
    "project": Field(None, str, optional=True),
    "iterations_per_loop": positive_int(100, help="TPU: steps per session.run; see LOOP_BOUNDARY_KEYS"),
    "num_shards": Field(None, int, min_value=1, optional=True, help="TPU cores; None = all"),
    "precision": Field("float32", str, choices=("float32", "bfloat16"),
                       help="compute dtype of the networks; losses and summaries stay float32"),
}


class Config(Mapping):
    """A validated, immutable config: `cfg.key` or `cfg['key']`."""

    def __init__(self, values: Mapping):
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, key):
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"config has no key {key!r}") from None

    def __setattr__(self, key, value):
        raise AttributeError("Config is frozen; use replace()")

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __repr__(self):
        return f"Config({self._values!r})"

    def __deepcopy__(self, memo):
        return self  # immutable

    def replace(self, **changes) -> "Config":
        unknown = sorted(set(changes) - set(self._values))
        if unknown:
            raise ConfigError(f"replace(): unknown key(s) {unknown}")
        return Config({**self._values, **changes})

    def to_dict(self) -> Dict[str, Any]:
        return dict(self._values)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=True)


def fields_for(model_name: Optional[str]) -> Dict[str, Field]:
    """COMMON_FIELDS plus the model's own; raises ConfigError for an unknown model."""
    if model_name is None:
        return dict(COMMON_FIELDS)
    try:
        model = models.get(model_name)
    except KeyError:
        raise ConfigError(f"key 'model': unknown model {model_name!r}; allowed: {', '.join(models.names())}") from None
    return {**COMMON_FIELDS, **model.config_fields}


def read_yaml(path: str) -> Dict[str, Any]:
    """Reads one YAML mapping with safe loading only (tf.io.gfile, so gs:// works too)."""
    import tensorflow as tf  # late: keeps `import trainer.config` light for the converter
    if not tf.io.gfile.exists(path):
        raise ConfigError(f"{path}: config file not found")
    with tf.io.gfile.GFile(path, "r") as f:
        text = f.read()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} not valid YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value, got {type(data).__name__}")
    return data


def parse_set(item: str) -> Tuple[str, Any]:
    """'key=value' -> (key, value), the value read as a YAML scalar ('1e-4', 'true', '64')."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value")
    key, _, raw = item.partition("=")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def _coerce(key: str, value: Any, field: Field, source: str) -> Any:
    where = f"{source}: key {key!r}"
    if value is None:
        if field.optional:
            return None
        raise ConfigError(f"{where}: must not be empty (expected {field.type.__name__})")
    if field.type is float and isinstance(value, str):
        try:
            value = float(value)  # YAML 1.1 reads '1e-4' as a string
        except ValueError:
            pass
    if field.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if field.type is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, field.type) or (field.type is not bool and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {field.type.__name__}, got {type(value).__name__} {value!r}")
    if field.choices is not None and value not in field.choices:
        raise ConfigError(f"{where}: {value!r} not allowed; allowed: {', '.join(map(str, field.choices))}")
    if field.min_value is not None and value < field.min_value:
        raise ConfigError(f"{where}: {value!r} is below the minimum {field.min_value:g}")
    return value


def build(config_paths: Sequence[str] = (), overrides: Iterable[str] = (),
          base: Optional[Mapping] = None, base_source: str = "defaults") -> Config:
    """defaults (or `base`) -> YAML files in order -> `--set key=value` items -> validated Config."""
    layers = []  # (source, mapping)
    if base is not None:
        layers.append((base_source, dict(base)))
    for path in config_paths:
        layers.append((path, read_yaml(path)))
    set_layer = dict(parse_set(item) for item in overrides)
    if set_layer:
        layers.append(("--set", set_layer))

    model_name, model_source = None, None
    for source, values in layers:
        if "model" in values:
            if model_name is not None and values["model"] != model_name:
                raise ConfigError(f"{source}: key 'model': {values['model']!r} conflicts with "
                                  f"{model_name!r} from {model_source} (an overlay for another model?)")
            model_name, model_source = values["model"], source
    if model_name is None:
        raise ConfigError("key 'model' is not set by any config file; e.g. --config configs/dcgan_64.yaml")
    if not isinstance(model_name, str):
        raise ConfigError(f"{model_source}: key 'model': expected str, got {model_name!r}")
    fields = fields_for(model_name)

    values = {key: field.default for key, field in fields.items()}
    for source, layer in layers:
        for key, value in layer.items():
            if key not in fields:
                hint = _closest(key, fields)
                raise ConfigError(f"{source}: unknown key {key!r} for model {model_name}"
                                  + (f" (did you mean {hint!r}?)" if hint else "")
                                  + f"; allowed: {', '.join(sorted(fields))}")
            values[key] = _coerce(key, value, fields[key], source)

    model = models.get(model_name)
    if values["resolution"] not in model.resolutions:
        raise ConfigError(f"{_source_of('resolution', layers)}: key 'resolution': {values['resolution']} "
                          f"not supported by {model_name}; allowed: {', '.join(map(str, model.resolutions))}")
    if model.validate is not None:
        try:
            model.validate(values)
        except ConfigError as e:
            raise ConfigError(f"{_source_of(getattr(e, 'key', ''), layers)}: {e}") from None
    if values["g_ema_decay"] is not None and values["g_ema_decay"] >= 1.0:
        raise ConfigError(f"{_source_of('g_ema_decay', layers)}: key 'g_ema_decay': {values['g_ema_decay']!r} "
                          "must be below 1 (1 would never move from the initial weights)")
    if values["use_tpu"]:  # CPU/GPU runs one step per session.run: any step count falls between runs
        _check_loop_boundaries(values, layers)
    return Config(values)


# TPUEstimator runs iterations_per_loop steps per session.run, and these happen only between runs.
LOOP_BOUNDARY_KEYS = {
    "save_checkpoints_steps": "checkpoints happen only between loops",
    "eval_every_steps": "evaluations happen only between loops",
    "train_steps": "training stops only between loops",
}


def _check_loop_boundaries(values: Mapping, layers) -> None:
    loop = values["iterations_per_loop"]
    for key, reason in LOOP_BOUNDARY_KEYS.items():
        if values[key] % loop:
            raise ConfigError(f"{_source_of(key, layers)}: key {key!r}: {values[key]} is not a multiple of "
                              f"iterations_per_loop ({loop}, from {_source_of('iterations_per_loop', layers)}); "
                              f"on TPU {reason}: use a multiple of {loop}")


def _source_of(key: str, layers) -> str:
    source = "defaults"
    for name, layer in layers:
        if key in layer:
            source = name
    return source


def _closest(key: str, fields: Mapping) -> Optional[str]:
    import difflib
    match = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.75)
    return match[0] if match else None


def arch_keys(cfg: Mapping) -> Dict[str, Any]:
    """The keys whose values define the checkpoint's variables (model, resolution, widths...)."""
    fields = fields_for(cfg["model"])
    return {k: cfg[k] for k, f in fields.items() if f.arch and k in cfg}


DATA_PATH_KEYS = ("train_data", "eval_data")


def absolute_path(path: Optional[str]) -> Optional[str]:
    """A local path made absolute (against the current folder); gs:// and other URLs, and None,
    unchanged."""
    if path is None or "://" in path:
        return path
    return os.path.abspath(path)


def save(cfg: Config, model_dir: str) -> str:
    """Writes model_dir/config.yaml, with train_data and eval_data as absolute paths: predict and
    evaluate read them back from any folder, and the model_dir can be moved."""
    import tensorflow as tf
    tf.io.gfile.makedirs(model_dir)
    path = os.path.join(model_dir, CONFIG_FILENAME)
    stored = cfg.replace(**{key: absolute_path(cfg[key]) for key in DATA_PATH_KEYS})
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("# Operative config of this run, written by trainer.task; read back by predict/export.\n")
        f.write(stored.to_yaml())
    return path


def load_from_model_dir(model_dir: str) -> Optional[Dict[str, Any]]:
    import tensorflow as tf
    path = os.path.join(model_dir, CONFIG_FILENAME)
    if not tf.io.gfile.exists(path):
        return None
    return read_yaml(path)


def check_model_dir_matches(cfg: Config, stored: Mapping, model_dir: str) -> None:
    """Refuses to mix runs: the stored operative config must agree on every architecture key."""
    if stored.get("model") != cfg["model"]:
        raise ConfigError(f"{model_dir}: holds a run of model {stored.get('model')!r}, not {cfg['model']!r}; "
                          "use another --model_dir")
    mine = arch_keys(cfg)
    diffs = [f"{k}={stored.get(k)!r} there vs {v!r} here" for k, v in mine.items() if stored.get(k) != v]
    if diffs:
        raise ConfigError(f"{model_dir}: holds a {stored.get('model')} run with different architecture "
                          f"({'; '.join(diffs)}); use another --model_dir")


TRAINING_MODES = ("train", "train_and_evaluate")
HOST_MODES = ("predict", "export")  # a TPU run is usually sampled or exported elsewhere


def for_mode(config_paths: Sequence[str], overrides: Iterable[str], model_dir: str, mode: str) -> Config:
    """The config of a CLI run: for a model_dir that already holds a run, training must agree on
    the architecture, and the other modes (evaluate, predict, export, ...) take the architecture
    from the stored config; without config files the stored config is the base. Predict and
    export run on the CPU/GPU unless `--set use_tpu=true` says otherwise (export is a CPU graph
    anyway)."""
    cfg = _for_mode(config_paths, overrides, model_dir, mode)
    asked = any(parse_set(item)[0] == "use_tpu" for item in overrides)
    return cfg.replace(use_tpu=False) if mode in HOST_MODES and not asked else cfg


def _for_mode(config_paths: Sequence[str], overrides: Iterable[str], model_dir: str, mode: str) -> Config:
    stored = load_from_model_dir(model_dir)
    if not config_paths and stored is not None:
        return build([], overrides, base=stored, base_source=os.path.join(model_dir, CONFIG_FILENAME))
    cfg = build(config_paths, overrides)
    if stored is None:
        return cfg
    if mode in TRAINING_MODES:
        check_model_dir_matches(cfg, stored, model_dir)
        return cfg
    if stored.get("model") != cfg["model"]:
        check_model_dir_matches(cfg, stored, model_dir)
    trained = {k: stored[k] for k in arch_keys(cfg) if k in stored}
    set_keys = {parse_set(item)[0] for item in overrides}
    clash = [k for k in trained if k in set_keys and trained[k] != cfg[k]]
    if clash:
        raise ConfigError(f"--set {clash[0]}={cfg[clash[0]]!r}: {model_dir} was trained with "
                          f"{clash[0]}={trained[clash[0]]!r}")
    return cfg.replace(**trained)
