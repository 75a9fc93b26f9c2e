"""The quality benchmarks' output (benchmarks.quality, benchmarks.quality_translation): a Markdown
table of measured rows, and a PNG of each measure over the training steps with reference levels
dashed and named images below (PIL only: no matplotlib in the environment).

A row is a dict with "name", "step" (None for a reference row, e.g. real data) and its measures.
A value that is None or NaN is missing: '-' in the table, no point in the plot."""
import math
import os
from typing import Dict, List, Sequence, Tuple

# Reference colours: (the word the legend uses, RGB).
GREEN, GREY = ("green", (0, 150, 0)), ("grey", (120, 120, 120))
RED = (200, 30, 30)  # the checkpoints' line
PANEL_W, PANEL_H = 300, 180


def _missing(value) -> bool:
    return value is None or value != value  # NaN is the one value not equal to itself


def _plottable(row: Dict, key: str) -> bool:
    value = row.get(key)
    return value is not None and math.isfinite(value)


def table(rows: List[Dict], columns: Sequence[Tuple[str, str, str]], name_title: str) -> str:
    """A Markdown table with aligned columns: `name_title` (each row's name), step (blank for a
    reference row), then each (key, title, format) column; '-' where a row has no value."""
    header = [name_title, "step"] + [title for _, title, _ in columns]
    body = [[row["name"], "" if row.get("step") is None else str(row["step"])]
            + ["-" if _missing(row.get(key)) else fmt.format(row[key]) for key, _, fmt in columns]
            for row in rows]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(c) for c in body])


def plot(path: str, rows: List[Dict], panels: Sequence[Tuple[str, str, bool]],
         references: Dict[str, Tuple[str, Tuple[int, int, int]]], images: Dict, title: Sequence[str],
         panels_per_line: int = 3) -> str:
    """Writes a PNG to `path` (making its folder) and returns the path. At the top the `title`
    lines and a legend; then, `panels_per_line` to a line, a panel per (key, title, log scale) of
    `panels` that a step row has a value for: the measure over the steps (red) and, dashed, the
    value of each `references` row ({row name: colour, e.g. GREEN}); below, the named PIL
    `images` ({name: image}), as many to a line as fit."""
    from PIL import Image, ImageDraw
    steps = [r for r in rows if r.get("step") is not None]
    reference_rows = [(next((r for r in rows if r["name"] == name), {}), rgb) for name, (_, rgb) in references.items()]
    shown = [p for p in panels if any(_plottable(r, p[0]) for r in steps)]
    legend = "red: checkpoints" + "".join(f"; dashed {word}: {name}" for name, (word, _) in references.items())
    lines = list(title) + [legend]
    head = 8 + 14 * len(lines)
    cell_w = max([im.width for im in images.values()] or [0]) + 10
    cell_h = max([im.height for im in images.values()] or [0]) + 24
    width = max(PANEL_W * panels_per_line, cell_w)
    images_per_line = max(1, width // cell_w)
    top = head + math.ceil(len(shown) / panels_per_line) * PANEL_H
    canvas = Image.new("RGB", (width, top + math.ceil(len(images) / images_per_line) * cell_h), "white")
    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(lines):
        draw.text((8, 6 + 14 * i), text, fill="black")
    xs = [r["step"] for r in steps]
    x_range = (min(xs or [0]), max(max(xs or [0]), min(xs or [0]) + 1))
    for k, panel in enumerate(shown):
        origin = ((k % panels_per_line) * PANEL_W, head + (k // panels_per_line) * PANEL_H)
        _panel(draw, origin, panel, steps, reference_rows, x_range)
    for i, (name, image) in enumerate(images.items()):
        x, y = (i % images_per_line) * cell_w + 5, top + (i // images_per_line) * cell_h
        draw.text((x, y + 2), name, fill="black")
        canvas.paste(image, (x, y + 18))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    canvas.save(path)
    return path


def _panel(draw, origin, panel, steps, reference_rows, x_range) -> None:
    """One measure's panel with its top-left corner at `origin`; a log-scale panel places
    log10 of each value (floored at 1e-3) and labels its axis in the values themselves."""
    (x0, y0), (key, name, log_scale), (x_lo, x_hi) = origin, panel, x_range
    left, top, right, bottom = x0 + 48, y0 + 20, x0 + PANEL_W - 12, y0 + PANEL_H - 28
    draw.text((left, y0 + 4), name, fill="black")
    draw.rectangle([left, top, right, bottom], outline="grey")
    scale = (lambda v: math.log10(max(v, 1e-3))) if log_scale else (lambda v: v)  # noqa: E731
    points = [(r["step"], scale(r[key])) for r in steps if _plottable(r, key)]
    levels = [(scale(row[key]), rgb) for row, rgb in reference_rows if _plottable(row, key)]
    values = [v for _, v in points] + [level for level, _ in levels]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    px = lambda s: left + (right - left) * (s - x_lo) / (x_hi - x_lo)  # noqa: E731
    py = lambda v: bottom - (bottom - top) * (v - lo) / (hi - lo)  # noqa: E731
    for v in (lo, hi):
        draw.text((x0 + 2, py(v) - 6), f"{10 ** v if log_scale else v:.3g}", fill="black")
    draw.text((left, bottom + 4), f"step {x_lo}", fill="black")
    draw.text((right - 40, bottom + 4), str(x_hi), fill="black")
    for level, rgb in levels:
        for x in range(left, right, 8):
            draw.line([x, py(level), min(x + 4, right), py(level)], fill=rgb, width=1)
    xy = [(px(s), py(v)) for s, v in points]
    if len(xy) > 1:
        draw.line(xy, fill=RED, width=2)
    for x, y in xy:
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=RED)
