"""A static HTML gallery of a run: model_dir/gallery/index.html (local or gs://).

It shows the sample grid at every checkpoint (samples/step_*.png, written by
trainer/sampling.py) with a step slider, the quality metrics over training (metrics.json), the
latent interpolation, the projections, and each generated sample beside its nearest training
images (neighbours/). Links are relative ("../samples/..."), so the page works opened from
disk, served by `python -m trainer.task --mode gallery --serve`, or from a GCS bucket, and no
file is copied. Each image records whether it loaded (data-loaded="1" or "error", and a
console error), which the browser test reads.
"""
import functools
import html
import http.server
import json
import os
import re
import threading
from typing import List, Optional

import tensorflow as tf

GALLERY_DIR = "gallery"
MAX_THUMBNAILS = 24
METRIC_ORDER = ("global_step", "swd_avg", "fid", "kid", "msssim_fake", "msssim_real", "d_loss", "g_loss")

STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#222}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
img{image-rendering:pixelated}.grid img{width:min(512px,90vw)}.thumbs img{width:96px;margin:2px;cursor:pointer}
.frame img{width:256px}.nb td{vertical-align:top;padding:4px}.nb img.sample{width:96px}
.nb img.strip{height:96px}.small{font-size:80%;color:#666}
table.metrics td,table.metrics th{padding:2px 8px;text-align:right}
"""
SCRIPT = """
function imageDone(img, ok) {
  img.dataset.loaded = ok ? "1" : "error";
  if (!ok) { console.error("gallery: image failed to load: " + img.getAttribute("src")); }
}
function showStep(i) {
  var img = document.getElementById("step-image");
  var steps = JSON.parse(img.dataset.steps);
  img.src = steps[i][1];
  document.getElementById("step-label").textContent = "step " + steps[i][0];
}
"""


def _img(src: str, alt: str, cls: str = "", extra: str = "") -> str:
    cls_attr = f' class="{cls}"' if cls else ""
    return (f'<img src="{html.escape(src)}" alt="{html.escape(alt)}"{cls_attr}{extra} '
            'onload="imageDone(this, true)" onerror="imageDone(this, false)">')


def _exists(model_dir: str, *parts: str) -> bool:
    return tf.io.gfile.exists(os.path.join(model_dir, *parts))


def sample_steps(model_dir: str) -> List[int]:
    names = tf.io.gfile.glob(os.path.join(model_dir, "samples", "step_*.png"))
    steps = [re.search(r"step_(\d+)\.png$", n) for n in names]
    return sorted(int(m.group(1)) for m in steps if m)


def _samples_section(model_dir: str) -> str:
    steps = sample_steps(model_dir)
    if not steps:
        return "<p>No sample grids yet (samples/step_*.png are written at every checkpoint).</p>"
    src = [(s, f"../samples/step_{s:07d}.png") for s in steps]
    data = html.escape(json.dumps(src))
    parts = [f'<p><input type="range" id="step-slider" min="0" max="{len(src) - 1}" value="{len(src) - 1}" '
             f'oninput="showStep(this.value)"> <span id="step-label">step {steps[-1]}</span></p>',
             '<div class="grid">' + _img(src[-1][1], "sample grid", extra=f' id="step-image" data-steps="{data}"')
             + "</div>"]
    shown = min(MAX_THUMBNAILS, len(src))  # evenly spaced, first and last included
    pick = sorted({round(i * (len(src) - 1) / max(shown - 1, 1)) for i in range(shown)})
    thumbs = "".join(_img(src[i][1], f"step {src[i][0]}", extra=f' title="step {src[i][0]}" '
                          f'onclick="document.getElementById(\'step-slider\').value={i};showStep({i})"') for i in pick)
    parts.append(f'<div class="thumbs">{thumbs}</div>')
    return "\n".join(parts)


def _metrics_section(model_dir: str) -> str:
    path = os.path.join(model_dir, "metrics.json")
    if not tf.io.gfile.exists(path):
        return "<p>No evaluation yet (<code>--mode evaluate</code> writes metrics.json).</p>"
    with tf.io.gfile.GFile(path) as f:
        history = json.load(f).get("history", [])
    keys = [k for k in METRIC_ORDER if any(k in h for h in history)]
    keys += sorted({k for h in history for k in h} - set(keys))
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    rows = "".join("<tr>" + "".join(f"<td>{_fmt(h.get(k))}</td>" for k in keys) + "</tr>" for h in history)
    return f'<div style="overflow-x:auto"><table class="metrics"><tr>{head}</tr>{rows}</table></div>'


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else html.escape(str(value))


def _interpolation_section(model_dir: str) -> str:
    if not _exists(model_dir, "interpolation", "walk.gif"):
        return "<p>None yet: <code>--mode interpolate</code>.</p>"
    return ('<div class="frame">' + _img("../interpolation/walk.gif", "latent walk") + "</div>"
            '<p class="small">Frames along the walk (one row per segment):</p>'
            + _img("../interpolation/strip.png", "interpolation strip", extra=' style="max-width:90vw"'))


def _projection_section(model_dir: str) -> str:
    base = os.path.join(model_dir, "projection")
    names = sorted(n.rstrip("/") for n in tf.io.gfile.listdir(base)) if tf.io.gfile.isdir(base) else []
    names = [n for n in names if _exists(model_dir, "projection", n, "side_by_side.png")]
    if not names:
        return "<p>None yet: <code>--mode project --target IMAGE</code>.</p>"
    items = [f'<p>{html.escape(n)} (target | projection)</p><div class="frame">'
             + _img(f"../projection/{n}/progress.gif", f"projection of {n}") + "</div>" for n in names]
    return "\n".join(items)


def _neighbours_section(model_dir: str) -> str:
    path = os.path.join(model_dir, "neighbours", "neighbours.json")
    if not tf.io.gfile.exists(path):
        return "<p>None yet: <code>--mode neighbours</code>.</p>"
    with tf.io.gfile.GFile(path) as f:
        data = json.load(f)
    rows = []
    for entry in data["samples"]:
        cells = [f'<td>{_img("../neighbours/" + entry["sample"], "sample", "sample")}</td>']
        for metric, label in (("early", "early features"), ("late", "late features"), ("pixel", "pixel L2")):
            info = entry[metric]
            title = html.escape("; ".join(f"{n} ({s:g})" for n, s in zip(info["names"], info["scores"])))
            cells.append(f'<td><div class="small">{label}</div>'
                         + _img("../neighbours/" + info["strip"], f"{label} neighbours", "strip", f' title="{title}"')
                         + "</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    note = (f'<p class="small">Step {data["step"]}; {data["train_images"]} training images searched; '
            f'features: {html.escape(data["feature_net"])}. Nearest first; hover a strip for names and scores '
            "(cosine similarity, or pixel distance).</p>")
    return note + '<table class="nb">' + "".join(rows) + "</table>"


def render(model_dir: str, title: Optional[str] = None) -> str:
    title = title or f"GAN run: {model_dir.rstrip('/')}"
    sections = [("Samples over training", _samples_section(model_dir)),
                ("Quality metrics", _metrics_section(model_dir)),
                ("Latent interpolation", _interpolation_section(model_dir)),
                ("Projection", _projection_section(model_dir)),
                ("Nearest training images", _neighbours_section(model_dir))]
    body = "\n".join(f"<h2>{html.escape(name)}</h2>\n{content}" for name, content in sections)
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            '<link rel="icon" href="data:,">'  # no favicon request (a 404 in the console)
            f"<style>{STYLE}</style><script>{SCRIPT}</script></head>\n"
            f"<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")


def build(model_dir: str) -> str:
    """(Re)writes model_dir/gallery/index.html; returns its path."""
    path = os.path.join(model_dir, GALLERY_DIR, "index.html")
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(render(model_dir))
    return path


def start_server(model_dir: str, port: int = 0, host: str = "127.0.0.1"):
    """Serves model_dir over http on localhost in a thread: (server, url of the gallery)."""
    if "://" in model_dir:
        raise ValueError("--serve works on a local model_dir (open a GCS gallery through the bucket's URL)")
    handler = functools.partial(_QuietHandler, directory=os.path.abspath(model_dir))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}/{GALLERY_DIR}/index.html"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
