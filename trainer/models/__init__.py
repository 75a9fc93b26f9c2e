"""Model registry: every model module registers one GanModel, chosen by `model:` in the config.

A GanModel is the contract between a model module and the shared model_fn skeleton
(trainer/gan_model_fn.py). Following TF-GAN's estimator convention, `features` are the
generators' inputs (noise, or the source image) and `labels` the real images (None when the
real images are already in features, as for unpaired models). All images are float32
`[batch, H, W, 3]` in `[-1, 1]`.
"""
import dataclasses
import importlib
import importlib.util
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from trainer.data.schema import DataMode
from trainer.fields import Field


@dataclasses.dataclass(frozen=True)
class LossOutput:
    """What one phase (D step or G step) of a model returns to the skeleton."""
    loss: Any                                   # scalar float32 tensor to minimise
    scalars: Dict[str, Any] = dataclasses.field(default_factory=dict)  # name -> scalar, for TensorBoard
    images: Dict[str, Any] = dataclasses.field(default_factory=dict)   # name -> [n, H, W, 3] in [-1, 1]


@dataclasses.dataclass(frozen=True)
class Translation:
    """One output domain of a translation model: generator `network` turns the records' `source`
    images ('a' or 'b') into `target` images; its quality metrics (trainer/quality/evaluation.py)
    are keyed `<name>_<metric>`, name being the direction ('a2b', 'b2a')."""
    name: str
    network: str
    source: str
    target: str
    translate: Callable[[Any, Any], Any]  # (Keras generator, images [n, R, R, 3]) -> images, test-time


@dataclasses.dataclass(frozen=True)
class GanModel:
    """The functions a model provides. `nets` maps network names to callables
    `net(x, training) -> float32 tensor` built by the skeleton from `networks(cfg)`."""
    name: str
    resolutions: Tuple[int, ...]
    data_mode: DataMode                         # the records it reads
    config_fields: Dict[str, Field]
    # name -> zero-arg constructor of a Keras model. Names start with 'generator' or
    # 'discriminator' and become the variable scope ('generator', 'generator/a2b', ...).
    networks: Callable[[Mapping], Dict[str, Callable[[], Any]]]
    # (example dict from the input pipeline, cfg, training) -> (features, labels), per example.
    make_inputs: Callable[[Dict[str, Any], Mapping, bool], Tuple[Any, Any]]
    # (nets, features, labels, cfg, training) -> LossOutput. training is False in EVAL mode
    # (networks in inference mode; stateful extras such as an image pool left untouched).
    discriminator_loss: Callable[[Mapping, Any, Any, Mapping, bool], LossOutput]
    generator_loss: Callable[[Mapping, Any, Any, Mapping, bool], LossOutput]
    # Predict: (nets, features, cfg) -> dict of per-example tensors; images float32 in [-1, 1]
    # (a TPU computation holds no uint8: trainer.images.to_uint8 converts them on the host).
    predict: Callable[[Mapping, Any, Mapping], Dict[str, Any]]
    # Eval: (nets, features, labels, cfg) -> dict name -> per-example float32 [batch] tensor (averaged).
    eval_metrics: Callable[[Mapping, Any, Any, Mapping], Dict[str, Any]]
    # Export: cfg -> (receiver placeholders dict, features built from them), and
    # (nets, features, cfg) -> {signature_name: {output_name: tensor}}.
    serving_inputs: Callable[[Mapping], Tuple[Dict[str, Any], Any]]
    serving_outputs: Callable[[Mapping, Any, Mapping], Dict[str, Dict[str, Any]]]
    # Predict input: (cfg, count) -> tf.data.Dataset of features when the model can predict
    # without data (DCGAN: seeded noise); None means predict reads eval_data.
    predict_dataset: Optional[Callable[[Mapping, int], Any]] = None
    # The generator maps latent noise (`features['noise']`, [batch, cfg.noise_dim]) to images:
    # the quality metrics and latent tools (interpolate, project, neighbours) apply.
    takes_noise: bool = False
    # Predict outputs (image keys) shown side by side per example in sample grids and
    # index.html, e.g. ('input', 'image', 'target'); a single column is tiled as an N x N grid.
    grid_columns: Tuple[str, ...] = ("image",)
    # Predict from a plain folder of images: (float32 [H, W, 3] image in [-1, 1], cfg) ->
    # features for one example; None when the model takes no image input (DCGAN).
    features_from_image: Optional[Callable[[Any, Mapping], Any]] = None
    # Extra cross-key validation of the raw values dict; raise ConfigError (with .key set).
    validate: Optional[Callable[[Dict[str, Any]], None]] = None
    # (cfg, checkpoint path) -> the config whose networks that checkpoint holds (ProGAN: the
    # growth stage it was written in); None: every checkpoint holds the config's networks.
    checkpoint_config: Optional[Callable[[Mapping, str], Mapping]] = None
    # Trained stage by stage, each stage its own graph (trainer/progan_growth.py).
    grows: bool = False
    # cfg -> the output domains of an image-to-image model, one Translation per direction the
    # quality metrics score; None when the generator takes no image (DCGAN, ProGAN).
    translations: Optional[Callable[[Mapping], Tuple[Translation, ...]]] = None


_MODULES = {
    "dcgan": "trainer.models.dcgan",
    "pix2pix": "trainer.models.pix2pix",
    "cyclegan": "trainer.models.cyclegan",
    "progan": "trainer.models.progan",
}
_CACHE: Dict[str, GanModel] = {}
# Your own models: TRAINER_MODEL_PLUGINS="mygan=my_package.my_gan,other=pkg.mod" registers each
# module's MODEL under that name (the module must be importable).
PLUGINS_ENV = "TRAINER_MODEL_PLUGINS"


def _plugins() -> Dict[str, str]:
    import os
    entries = [e.strip() for e in os.environ.get(PLUGINS_ENV, "").split(",") if e.strip()]
    return dict(e.split("=", 1) for e in entries if "=" in e)


def _modules() -> Dict[str, str]:
    return {**_MODULES, **_plugins()}


def names():
    """Names of the models whose modules are present."""
    return sorted(name for name in _modules() if available(name))


def get(name: str) -> GanModel:
    """The registered model; KeyError for an unknown name."""
    modules = _modules()
    if name not in modules:
        raise KeyError(name)
    if name not in _CACHE:
        _CACHE[name] = importlib.import_module(modules[name]).MODEL
    return _CACHE[name]


def available(name: str) -> bool:
    """True when the model's module is present (models land one issue at a time)."""
    modules = _modules()
    if name not in modules:
        return False
    try:
        return importlib.util.find_spec(modules[name]) is not None
    except ModuleNotFoundError:
        return False
