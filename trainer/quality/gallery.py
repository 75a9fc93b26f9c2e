"""A static HTML gallery of a run: model_dir/gallery/index.html (local or gs://).

It shows the sample grid at every checkpoint (samples/step_*.png, written by
trainer/sampling.py) with a step slider, the quality metrics over training (metrics.json), the
latent interpolation, the projections, and each generated sample beside its nearest training
images (neighbours/). Links are relative ("../samples/..."), so the page works opened from
disk, served by `python -m trainer.task --mode gallery --serve`, or from a GCS bucket, and no
file is copied. Each image records whether it loaded (data-loaded="1" or "error", and a
console error), which the browser test reads.

The page fits a 1280 px laptop screen: images scale down (max-width: 100%) and the three
neighbour strips of a sample wrap onto new lines rather than widen the page. The metrics table
has one row per metric, labelled from METRICS with what it compares and which way is better
(a key missing there is still shown, marked unknown), and one column per evaluation (at most
MAX_METRIC_STEPS, evenly spaced).
"""
import functools
import html
import http.server
import json
import os
import re
import threading
from typing import List, Optional, Tuple

import tensorflow as tf

GALLERY_DIR = "gallery"
MAX_THUMBNAILS = 24
MAX_METRIC_STEPS = 8  # evaluations shown as table columns (all of them stay in metrics.json)
TILE_PX = 96  # shown size of one sample / neighbour image

# Which way is better: the data-better attribute of a metric's row, and its text.
LOWER, HIGHER, CLOSER = "lower", "higher", "closer"
REFERENCE, DIAGNOSTIC, UNKNOWN = "reference", "diagnostic", "unknown"
BETTER = {LOWER: "\u2193 lower is better", HIGHER: "\u2191 higher is better",
          CLOSER: "closer to msssim_real is better", REFERENCE: "reference: no better direction",
          DIAGNOSTIC: "diagnostic: no better direction", UNKNOWN: "unknown metric"}
SWD_LEVEL = re.compile(r"swd_(\d+)$")  # swd_<res>: one per pyramid level, described by _describe
# a2b_<metric> / b2a_<metric>: a translation model's distribution metrics per output domain
# (trainer/quality/evaluation.py), described as <metric> with "generated" = the translations.
DIRECTION = re.compile(r"(a2b|b2a)_(.+)$")

# Every key metrics.json can hold (trainer/quality/evaluation.py, trainer/gan_model_fn.py and each
# model's eval_metrics), in table order: (which way is better, what it compares).
METRICS = {
    "swd_avg": (LOWER, "generated vs real: sliced Wasserstein distance of 7x7 Laplacian-pyramid patches "
                       "(x1e3), mean over the levels below"),
    "fid": (LOWER, "generated vs real: Fr\u00e9chet distance of feature-net features (fid_feature_net); "
                   "compare runs at the same sample count"),
    "kid": (LOWER, "generated vs real: kernel inception distance (unbiased MMD\u00b2 of the same features; "
                   "can dip below 0)"),
    "kid_std": (DIAGNOSTIC, "spread (std) of kid over its 10 disjoint random subsets: how precise kid is "
                            "(kid's own error is ~1/3 of it), not quality"),
    "msssim_fake": (CLOSER, "generated vs generated: mean MS-SSIM of random sample pairs "
                            "(diversity; near 1 = mode collapse)"),
    "msssim_real": (REFERENCE, "real vs real: the same MS-SSIM of real pairs, the diversity to reach"),
    "l1": (LOWER, "output vs target: mean |difference| (in [-1, 1] units)"),
    "psnr": (HIGHER, "output vs target: peak signal-to-noise ratio (dB)"),
    "ssim": (HIGHER, "output vs target: SSIM (1 = identical)"),
    "baseline_l1": (REFERENCE, "input vs target (output = input): the l1 to beat"),
    "baseline_psnr": (REFERENCE, "input vs target (output = input): the psnr to beat"),
    "baseline_ssim": (REFERENCE, "input vs target (output = input): the ssim to beat"),
    "cycle_l1_a": (LOWER, "A vs its round trip A\u2192B\u2192A: mean |difference|"),
    "cycle_l1_b": (LOWER, "B vs its round trip B\u2192A\u2192B: mean |difference|"),
    "l1_a2b_vs_b": (LOWER, "A\u2192B vs the paired true B: mean |difference| (nan on unpaired eval data)"),
    "l1_b2a_vs_a": (LOWER, "B\u2192A vs the paired true A: mean |difference| (nan on unpaired eval data)"),
    "d_loss": (DIAGNOSTIC, "discriminator loss on the eval batches (real vs generated)"),
    "g_loss": (DIAGNOSTIC, "generator loss on the eval batches"),
    "loss": (DIAGNOSTIC, "the estimator's eval loss: the generator loss, as g_loss"),
    "d_real_prob": (DIAGNOSTIC, "discriminator's mean probability that real eval images are real"),
    "d_fake_prob": (DIAGNOSTIC, "discriminator's mean probability that generated images are real"),
}

STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#222}h1{font-size:150%;overflow-wrap:anywhere}
h2{margin-top:1.6em;border-bottom:1px solid #ccc}
img{image-rendering:pixelated;max-width:100%;height:auto}.grid img{width:512px}
.thumbs img{width:96px;margin:2px;cursor:pointer}.frame img{width:256px}.small{font-size:80%;color:#666}
.metrics-box{overflow-x:auto}table.metrics{border-collapse:collapse}
table.metrics td,table.metrics th{padding:3px 8px;border-bottom:1px solid #eee;vertical-align:top;text-align:right;
white-space:nowrap}
table.metrics th.metric{text-align:left;font-weight:normal;white-space:normal;min-width:18em;max-width:30em}
.better{font-size:80%;padding:0 4px;border-radius:3px;background:#eee;white-space:nowrap}
.better.lower,.better.higher,.better.closer{background:#dbeafe}.better.unknown{background:#fde2e2}
.nb-row{display:flex;gap:12px;align-items:flex-start;margin-bottom:12px}
.nb-strips{display:flex;flex-wrap:wrap;gap:4px 16px;flex:1;min-width:0}
figure{margin:0;max-width:100%}figcaption{font-size:80%;color:#666}
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
    thumbs = "".join(_img(src[i][1], f"step {src[i][0]}", extra=f' title="step {src[i][0]}" '
                          f'onclick="document.getElementById(\'step-slider\').value={i};showStep({i})"')
                     for i in _spaced(len(src), MAX_THUMBNAILS))
    parts.append(f'<div class="thumbs">{thumbs}</div>')
    return "\n".join(parts)


def _spaced(count: int, limit: int) -> List[int]:
    """At most `limit` evenly spaced indices into range(count), first and last included."""
    shown = min(limit, count)
    return sorted({round(i * (count - 1) / max(shown - 1, 1)) for i in range(shown)})


def _describe(key: str) -> Tuple[str, str]:
    """(which way is better, what it compares) of a metrics.json key; UNKNOWN if not in METRICS."""
    if key in METRICS:
        return METRICS[key]
    direction = DIRECTION.match(key)
    if direction:
        better, text = _describe(direction.group(2))
        return better, f"{direction.group(1)} translations: " + text if better != UNKNOWN else text
    level = SWD_LEVEL.match(key)
    if level:
        return LOWER, (f"generated vs real: SWD at the {level.group(1)} px pyramid level "
                       "(x1e3; more px = finer detail)")
    return UNKNOWN, "not described in trainer/quality/gallery.py METRICS"


def _metric_order(key: str):
    order = list(METRICS)
    if key in METRICS:
        return order.index(key), 0, key
    direction = DIRECTION.match(key)
    if direction:  # grouped by direction, each in the order of its metric
        return (len(order) + 1 + ("a2b", "b2a").index(direction.group(1)),) + _metric_order(direction.group(2))
    level = SWD_LEVEL.match(key)
    if level:  # right after swd_avg, finest level first
        return order.index("swd_avg") + 0.5, -int(level.group(1)), key
    return len(order), 0, key


def _metrics_section(model_dir: str) -> str:
    path = os.path.join(model_dir, "metrics.json")
    if not tf.io.gfile.exists(path):
        return "<p>No evaluation yet (<code>--mode evaluate</code> writes metrics.json).</p>"
    with tf.io.gfile.GFile(path) as f:
        history = sorted(json.load(f).get("history", []), key=lambda h: h.get("global_step", -1))
    if not history:
        return "<p>metrics.json holds no evaluation yet.</p>"
    shown = [history[i] for i in _spaced(len(history), MAX_METRIC_STEPS)]
    keys = sorted({k for h in history for k in h} - {"global_step"}, key=_metric_order)
    head = "".join(f"<th>step {_fmt(h.get('global_step'))}</th>" for h in shown)
    rows = []
    for key in keys:
        better, about = _describe(key)
        name = (f'<code>{html.escape(key)}</code> <span class="better {better}">{html.escape(BETTER[better])}</span>'
                f'<div class="about small">{html.escape(about)}</div>')
        values = "".join(f"<td>{_fmt(h.get(key))}</td>" for h in shown)
        rows.append(f'<tr data-metric="{html.escape(key)}" data-better="{better}"><th class="metric">{name}</th>'
                    f"{values}</tr>")
    note = "" if len(shown) == len(history) else (
        f'<p class="small">{len(shown)} of {len(history)} evaluations shown (evenly spaced); all are in '
        "metrics.json.</p>")
    return (f'<div class="metrics-box"><table class="metrics"><thead><tr><th class="metric">metric</th>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></div>{note}')


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else html.escape(str(value))


def _interpolation_section(model_dir: str) -> str:
    if not _exists(model_dir, "interpolation", "walk.gif"):
        return "<p>None yet: <code>--mode interpolate</code>.</p>"
    return ('<div class="frame">' + _img("../interpolation/walk.gif", "latent walk") + "</div>"
            '<p class="small">Frames along the walk (one row per segment):</p>'
            + _img("../interpolation/strip.png", "interpolation strip"))


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
    for i, entry in enumerate(data["samples"]):
        sample = _img("../neighbours/" + entry["sample"], "sample", "sample", f' style="width:{TILE_PX}px"')
        strips = []
        for metric, label in (("early", "early features"), ("late", "late features"), ("pixel", "pixel L2")):
            info = entry[metric]
            title = html.escape("; ".join(f"{n} ({s:g})" for n, s in zip(info["names"], info["scores"])))
            width = f' style="width:{TILE_PX * len(info["names"])}px" title="{title}"'  # k tiles, as the sample
            strips.append(f"<figure><figcaption>{label}</figcaption>"
                          + _img("../neighbours/" + info["strip"], f"{label} neighbours", "strip", width)
                          + "</figure>")
        rows.append(f'<div class="nb-row"><figure>{sample}<figcaption>sample {i}</figcaption></figure>'
                    f'<div class="nb-strips">{"".join(strips)}</div></div>')
    note = (f'<p class="small">Step {data["step"]}; {data["train_images"]} training images searched; '
            f'features: {html.escape(data["feature_net"])}. Nearest first; hover a strip for names and scores '
            "(cosine similarity, or pixel distance).</p>")
    return note + '<div class="nb">' + "".join(rows) + "</div>"


def render(model_dir: str, title: Optional[str] = None) -> str:
    title = title or f"GAN run: {model_dir.rstrip('/')}"
    sections = [("Samples over training", _samples_section(model_dir)),
                ("Quality metrics", _metrics_section(model_dir)),
                ("Latent interpolation", _interpolation_section(model_dir)),
                ("Projection", _projection_section(model_dir)),
                ("Nearest training images", _neighbours_section(model_dir))]
    body = "\n".join(f"<h2>{html.escape(name)}</h2>\n{content}" for name, content in sections)
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
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
