"""The text table run.py prints (columns explained in benchmarks/README.md); the results file is
benchmarks/results_file.py's."""
from typing import Dict, List

MODEL_COLUMNS = [
    # (header, key, format)
    ("model", None, "{}"),
    ("batch", "batch", "{}"),
    ("project", "project_img_s", "{:.1f}"),
    ("bare", "bare_img_s", "{:.1f}"),
    ("bare+xla", "bare_jit_img_s", "{:.1f}"),
    ("step/ceil", "step_time_ratio", "{:.3f}"),
    ("GFLOP/step", "flops_per_step", None),
    ("GFLOP/s", "achieved_flops_per_s", None),
    ("%peak", "fraction_of_peak", None),
    ("input", "input_img_s", "{:.0f}"),
    ("input/step", "input_ratio", "{:.1f}x"),
]


STAGE_NOTE = ("<config>@<r>: ProGAN stage r (its graph and batch), real images box-filtered on the host from "
              "the final-resolution records;\n  project and bare both start at global step 0, one step each: "
              "alpha 0 in a later stage's fade-in graph,\n  which does the same work at every alpha")


def _cell(value, fmt, key) -> str:
    if value is None or value != value:
        return "-"
    if key in ("flops_per_step", "achieved_flops_per_s"):
        return f"{value / 1e9:.2f}"
    if key == "fraction_of_peak":
        return f"{100 * value:.1f}%"
    return fmt.format(value)


def grid(header: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def table(results: Dict) -> str:
    parts = []
    machine = results.get("machine", {})
    load = results.get("load", {})
    parts.append(f"{machine.get('host', '?')}: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
                 f"TF {machine.get('tensorflow', '?')}; load avg (1/5/15 min) start {load.get('start')} "
                 f"end {load.get('end')}")
    peak = results.get("peak")
    if peak:
        t, n = peak["tensorflow"], peak["numpy"]
        parts.append(f"float32 {peak['n']}x{peak['n']} matmul peak (best window): {peak['flops_per_s'] / 1e9:.1f} "
                     f"GFLOP/s from {peak['source']} (GFLOP/s median/best: TF {t['per_s'] / 1e9:.1f}/"
                     f"{t['max_per_s'] / 1e9:.1f}, numpy {n['per_s'] / 1e9:.1f}/{n['max_per_s'] / 1e9:.1f})")
    rows = []
    for name, m in results.get("models", {}).items():
        if "skipped" in m:
            rows.append([name] + ["-"] * (len(MODEL_COLUMNS) - 2) + [f"skipped: {m['skipped']}"])
            continue
        rows.append([name] + [_cell(m.get(key), fmt, key) for _, key, fmt in MODEL_COLUMNS[1:]])
    if rows:
        parts.append("\ntraining, images/s (median of windows after warm-up):")
        parts.append(grid([h for h, _, _ in MODEL_COLUMNS], rows))
        if any(m.get("stage_resolution") for m in results["models"].values()):
            parts.append(STAGE_NOTE)
    conv = results.get("converter")
    if conv:
        parts.append(f"\nconverter: {conv['jpegs']} JPEGs (~{conv['jpeg_kib']:.0f} KiB, 400-640 px) -> "
                     f"{conv['size']} px PNG records; converter runs: median of {conv.get('repeats', 1)}")
        crow = []
        for key, value in conv.items():
            if isinstance(value, dict) and "images_per_s" in value:
                each = " ".join(f"{r:.0f}" for r in value.get("runs_images_per_s", []))
                emulator = value.get("emulator_cpu_s")
                crow.append([key, f"{value['images_per_s']:.0f}", f"{value['seconds']:.1f}",
                             "" if emulator is None else f"{emulator:.2f}", each])
        parts.append(grid(["run", "img/s", "seconds", "emulator CPU-s", "each run (img/s)"], crow))
        parts.append(f"all cores ({conv['cores']}) / 1 worker: {conv['speedup_all_cores']:.2f}x")
        if "gcs_1" in conv:
            gcs = conv[f"gcs_{conv['cores']}"]["images_per_s"] / conv["gcs_1"]["images_per_s"]
            line = f"to gs:// (local emulator), all cores / 1 worker: {gcs:.2f}x"
            spent = [conv[k].get("emulator_cpu_s") for k in ("gcs_1", f"gcs_{conv['cores']}")]
            if None not in spent:
                line += (f" (emulator + proxy used {spent[0]:.2f} / {spent[1]:.2f} CPU-s per run on "
                         "these cores; a real bucket does that work elsewhere)")
            parts.append(line)
    return "\n".join(parts)
