"""What the image-to-image models (pix2pix, CycleGAN/DiscoGAN) share: the papers' training
augmentation ("random jitter" and flips), and the serving path from encoded image bytes in to
PNG bytes out. Images are float32 [R, R, C] (batched: [batch, R, R, 3]) in [-1, 1]."""
from typing import Dict, List, Sequence, Tuple

import tensorflow as tf

from trainer.images import to_uint8_tensor

JITTER = 286 / 256  # the papers' resize-to-286, crop-256

# TF Serving's REST API base64-encodes ({"b64": ...}) only the string outputs whose name ends in
# `_bytes` and writes any other string into the JSON byte for byte. The old name `png` is not kept
# beside it: REST returns every output, so raw PNG bytes would still make the body invalid JSON.
PNG_OUTPUT = "png_bytes"


def jitter_size(resolution: int) -> int:
    return int(round(resolution * JITTER))


def augment(image, resolution: int, jitter: bool, flip: bool):
    """[R, R, C] -> [R, R, C]: resize to R * 286/256 and a random R x R crop (`jitter`), and a
    random horizontal flip (`flip`)."""
    if jitter:
        size = jitter_size(resolution)
        image = tf.image.resize(image, [size, size], method="bilinear", antialias=True)
        image = tf.image.random_crop(image, [resolution, resolution, image.shape[-1]])
    if flip:
        image = tf.image.random_flip_left_right(image)
    return image


def augment_together(images: Sequence, resolution: int, jitter: bool, flip: bool) -> List:
    """`augment` of aligned [R, R, 3] images with one crop offset and one flip for all: they are
    cropped and flipped as one image of stacked channels."""
    stacked = augment(tf.concat(list(images), axis=-1), resolution, jitter, flip)
    return [stacked[..., 3 * i:3 * (i + 1)] for i in range(len(images))]


def decode_for_model(encoded, resolution: int):
    """PNG/JPEG/BMP/GIF bytes of any size -> float32 [R, R, 3] in [-1, 1] (resized, RGB)."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32), [resolution, resolution], antialias=True)
    return tf.ensure_shape(tf.clip_by_value(image, 0.0, 255.0) / 127.5 - 1.0, [resolution, resolution, 3])


def image_bytes_receiver(resolution: int) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
    """The serving input: ({'image_bytes': tf.string [None] of encoded images, any size},
    float32 [None, R, R, 3] decoded and resized)."""
    image_bytes = tf.compat.v1.placeholder(tf.string, [None], name="image_bytes")
    images = tf.map_fn(lambda b: decode_for_model(b, resolution), image_bytes,
                       fn_output_signature=tf.TensorSpec([resolution, resolution, 3], tf.float32))
    return {"image_bytes": image_bytes}, images


def encode_png(images):
    """uint8 [batch, H, W, 3] -> tf.string [batch] of PNG bytes."""
    return tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.string)


def png_outputs(images) -> Dict[str, tf.Tensor]:
    """float32 [batch, R, R, 3] in [-1, 1] -> {'png_bytes': tf.string [batch] of PNG bytes}."""
    return {PNG_OUTPUT: encode_png(to_uint8_tensor(images))}
