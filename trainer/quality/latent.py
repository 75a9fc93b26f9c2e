"""Latent-space tools (the Progressive GAN TF-Hub notebook's tricks): norm-preserving
interpolation between latents, and projection of an image onto the generator's range.

Why norm-preserving: a d-dim standard normal latent has norm ~sqrt(d); a straight line between
two such points passes through latents of much smaller norm the generator never saw in
training (washed-out middle frames). Both methods here keep the norm on the path between the
endpoints' norms:
- `slerp`: spherical interpolation of the directions;
- `nlerp`: the notebook's normalised lerp (lerp, then rescale to the norm).
Unlike the notebook (which rescales the second endpoint to the first's norm, so its last frame
is not that latent's sample), the norm is interpolated linearly, so both endpoints are exact.

Projection (the notebook's "closest vector"): gradient descent (Adam) on a latent z from a
seeded start, minimising sum |G(z) - target| + norm_weight * | |z| - sqrt(d) |: the second
term keeps z where latents live.
"""
from typing import Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf


def _norm(v: np.ndarray) -> np.ndarray:
    return np.linalg.norm(v, axis=-1, keepdims=True)


def interpolate(v1: np.ndarray, v2: np.ndarray, steps: int, method: str = "slerp") -> np.ndarray:
    """[d], [d] -> [steps, d] from v1 to v2 (both included); norms move linearly between."""
    v1, v2 = np.asarray(v1, np.float64), np.asarray(v2, np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    n1, n2 = _norm(v1), _norm(v2)
    u1, u2 = v1 / n1, v2 / n2
    if method == "slerp":
        omega = np.arccos(np.clip(np.dot(u1, u2), -1.0, 1.0))
        if omega < 1e-6:
            direction = u1 + t * (u2 - u1)
        else:
            direction = (np.sin((1 - t) * omega) * u1 + np.sin(t * omega) * u2) / np.sin(omega)
    elif method == "nlerp":
        direction = u1 + t * (u2 - u1)
    else:
        raise ValueError(f"interpolation method {method!r}: allowed slerp, nlerp")
    direction = direction / _norm(direction)
    out = direction * ((1 - t) * n1 + t * n2)
    out[0], out[-1] = v1, v2  # exact endpoints (no round-off)
    return out.astype(np.float32)


def walk(points: np.ndarray, steps: int, method: str = "slerp", loop: bool = True) -> np.ndarray:
    """A path through `points` [k, d], `steps` frames per segment (shared ends counted once),
    back to the first point when `loop` (a seamless GIF): [frames, d]."""
    keys = list(points) + ([points[0]] if loop else [])
    frames = [interpolate(a, b, steps, method)[:-1] for a, b in zip(keys[:-1], keys[1:])]
    if not loop:
        frames.append(np.asarray(keys[-1:], np.float32))
    return np.concatenate(frames)


def project(generator: Callable, target: np.ndarray, z_init: np.ndarray, steps: int = 200,
            learning_rate: float = 0.01, norm_weight: float = 1.0, record_every: int = 5,
            on_step: Optional[Callable[[int], None]] = None) -> Dict:
    """Finds z with G(z) close to `target` ([H, W, 3] in [-1, 1]) from `z_init` [d].

    Returns {'z': [d], 'image': [H, W, 3], 'frames': list of [H, W, 3] (every `record_every`
    steps, then the final one), 'losses': [steps], 'errors': [steps] (mean |G(z) - target|)}.
    `on_step(k)` is called after the k-th step (k from 1), e.g. to show progress.
    """
    target = tf.constant(np.asarray(target, np.float32)[None])
    z = tf.Variable(np.asarray(z_init, np.float32)[None])
    d = float(z.shape[-1])
    optimizer = tf.keras.optimizers.Adam(learning_rate)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            image = generator(z, training=False)
            distance = tf.reduce_sum(tf.abs(image - target))
            loss = distance + norm_weight * tf.abs(tf.norm(z) - tf.sqrt(d))
        optimizer.apply_gradients([(tape.gradient(loss, z), z)])
        return image[0], loss, tf.reduce_mean(tf.abs(image - target))

    frames: List[np.ndarray] = []
    losses, errors = [], []
    for i in range(steps):
        image, loss, error = step()
        if i % record_every == 0:
            frames.append(image.numpy())
        losses.append(float(loss))
        errors.append(float(error))
        if on_step is not None:
            on_step(i + 1)
    final = generator(z, training=False)[0].numpy()
    frames.append(final)
    return {"z": z.numpy()[0], "image": final, "frames": frames, "losses": np.asarray(losses),
            "errors": np.asarray(errors), "error": float(np.mean(np.abs(final - target.numpy()[0])))}
