"""The CLI modes `interpolate`, `project` and `neighbours` (DCGAN): each loads the latest
generator from model_dir, writes its files under model_dir (local or gs://) and rebuilds the
gallery (model_dir/gallery/index.html).

  interpolate -> interpolation/walk.gif, interpolation/strip.png (one row per segment)
  project     -> projection/<target name>/progress.gif, side_by_side.png (target | projection),
                 result.json (latent, errors)
  neighbours  -> neighbours/sample_NNN.png, sample_NNN_<early|late|pixel>.png (the k nearest
                 training images, nearest first), neighbours.json (names and scores)
"""
import io
import json
import os
import threading
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf
from PIL import Image

from trainer import config, images, progress
from trainer.quality import evaluation, features, gallery, generator, latent, neighbours as nn

INTERPOLATION_DIR, PROJECTION_DIR, NEIGHBOURS_DIR = "interpolation", "projection", "neighbours"
INTERPOLATION_POINTS = 4      # random latents visited (then back to the first)
INTERPOLATION_STEPS = 16      # frames per segment
STRIP_COLUMNS = 8             # frames per segment shown in the PNG strip
FRAME_MS = 80
# Latent streams (generator.noise): each tool draws its own seeded latents.
STREAM_INTERPOLATION, STREAM_PROJECTION, STREAM_NEIGHBOURS = 12, 13, 14


def write_gif(path: str, frames: Sequence[np.ndarray], frame_ms: int = FRAME_MS) -> str:
    """uint8 [H, W, 3] frames -> an endlessly looping animated GIF (local or gs://)."""
    pictures = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=frame_ms,
                     loop=0, disposal=1)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buffer.getvalue())
    return path


def write_json(path: str, data) -> str:
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    return path


def interpolate(cfg, model_dir: str, method: str = "slerp") -> Dict[str, str]:
    generator.require_noise_model(cfg, "interpolate")
    net, step = generator.load(cfg, model_dir)
    points = generator.noise(cfg, INTERPOLATION_POINTS, STREAM_INTERPOLATION)
    path = latent.walk(points, INTERPOLATION_STEPS + 1, method)
    frames = images.to_uint8(generator.generate(net, path))
    out = os.path.join(model_dir, INTERPOLATION_DIR)
    gif = write_gif(os.path.join(out, "walk.gif"), frames)
    columns = np.linspace(0, INTERPOLATION_STEPS, STRIP_COLUMNS).round().astype(int)
    rows = [frames[s * INTERPOLATION_STEPS + c] if s * INTERPOLATION_STEPS + c < len(frames) else frames[0]
            for s in range(INTERPOLATION_POINTS) for c in columns]
    strip = images.write_png(os.path.join(out, "strip.png"), images.tile(rows, columns=STRIP_COLUMNS))
    write_json(os.path.join(out, "walk.json"), {"step": step, "method": method, "points": points.tolist(),
                                                "frames_per_segment": INTERPOLATION_STEPS})
    return {"gif": gif, "strip": strip, "gallery": gallery.build(model_dir)}


def load_target(path: str, resolution: int) -> np.ndarray:
    """Any image file -> float32 [res, res, 3] in [-1, 1]."""
    if not tf.io.gfile.exists(path):
        raise config.ConfigError(f"--target {path}: file not found")
    try:
        return next(iter(images.images_from_files([path], resolution))).numpy()
    except tf.errors.InvalidArgumentError:
        raise config.ConfigError(f"--target {path}: not a decodable image") from None


def project(cfg, model_dir: str, target_path: str) -> Dict[str, str]:
    generator.require_noise_model(cfg, "project")
    target = load_target(target_path, cfg["resolution"])
    net, step = generator.load(cfg, model_dir)
    z0 = generator.noise(cfg, 1, STREAM_PROJECTION)[0]
    steps = progress.TaskProgress("project: step", cfg["projection_steps"])
    result = latent.project(net, target, z0, steps=cfg["projection_steps"], on_step=steps.update)
    name = os.path.splitext(os.path.basename(target_path))[0] or "target"
    out = os.path.join(model_dir, PROJECTION_DIR, name)
    target_u8 = images.to_uint8(target[None])[0]
    frames = [images.tile([target_u8, f], columns=2) for f in images.to_uint8(np.stack(result["frames"]))]
    gif = write_gif(os.path.join(out, "progress.gif"), frames)
    side = images.write_png(os.path.join(out, "side_by_side.png"), frames[-1])
    write_json(os.path.join(out, "result.json"), {
        "step": step, "target": target_path, "z": result["z"].tolist(), "error": result["error"],
        "start_error": result["errors"][0], "norm": float(np.linalg.norm(result["z"]))})
    return {"gif": gif, "side_by_side": side, "error": f"{result['error']:.4f}", "gallery": gallery.build(model_dir)}


def neighbours(cfg, model_dir: str) -> Dict[str, str]:
    generator.require_noise_model(cfg, "neighbours")
    net, step = generator.load(cfg, model_dir)
    samples = generator.generate(net, generator.noise(cfg, cfg["neighbours_samples"], STREAM_NEIGHBOURS))
    searched = progress.TaskProgress("neighbours: training images", cfg["neighbours_max_train"])
    found = nn.nearest(samples, _counted(evaluation.image_batches(cfg, cfg["train_data"], cfg["neighbours_max_train"]),
                                         searched),
                       features.load(cfg["fid_feature_net"], cfg["fid_weights"]), cfg["neighbours_k"])
    return write_neighbours(model_dir, samples, found, step, cfg["fid_feature_net"])


def _counted(batches, task: progress.TaskProgress):
    """The (images, names) batches, advancing `task` by each batch's images."""
    for images_batch, names in batches:
        yield images_batch, names
        task.advance(len(images_batch))
    task.finish()


def write_neighbours(model_dir: str, samples: np.ndarray, found: Dict, step: int, feature_net: str) -> Dict[str, str]:
    out = os.path.join(model_dir, NEIGHBOURS_DIR)
    entries: List[Dict] = []
    for i, sample in enumerate(images.to_uint8(samples)):
        entry = {"sample": f"sample_{i:03d}.png"}
        images.write_png(os.path.join(out, entry["sample"]), sample)
        for metric in nn.METRICS:
            ids, scores = found[metric]["ids"][i], found[metric]["scores"][i]
            strip = images.tile(list(images.to_uint8(np.stack([found["images"][int(j)] for j in ids]))), columns=len(ids))
            entry[metric] = {"strip": f"sample_{i:03d}_{metric}.png",
                             "names": [found["names"][int(j)] for j in ids],
                             "scores": [round(float(s), 5) for s in scores]}
            images.write_png(os.path.join(out, entry[metric]["strip"]), strip)
        entries.append(entry)
    index = write_json(os.path.join(out, "neighbours.json"), {
        "step": step, "feature_net": feature_net, "train_images": len(found["names"]), "samples": entries})
    return {"index": index, "count": str(len(entries)), "gallery": gallery.build(model_dir)}


def run(mode: str, cfg, model_dir: str, target: Optional[str] = None) -> Dict[str, str]:
    """The CLI's entry: runs one mode, returns {what: path or value} to print."""
    if mode == "gallery":
        return {"gallery": gallery.build(model_dir)}
    if mode == "interpolate":
        return interpolate(cfg, model_dir)
    if mode == "project":
        if not target:
            raise config.ConfigError("--mode project needs --target IMAGE")
        return project(cfg, model_dir, target)
    if mode == "neighbours":
        return neighbours(cfg, model_dir)
    raise config.ConfigError(f"unknown mode {mode!r}")


def serve(model_dir: str, port: int) -> None:
    """Serves model_dir on http://127.0.0.1:port until Ctrl-C (the gallery's links need it)."""
    try:
        server, url = gallery.start_server(model_dir, port)
    except (ValueError, OSError) as e:
        raise config.ConfigError(f"--serve: {e}") from None
    print(f"serving {url} (Ctrl-C stops)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
