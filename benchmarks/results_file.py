"""Where the benchmarks' results files go and what each one says about the machine: the
repository ROOT, the git-ignored results folder RESULTS, the machine record and the one writer
of a results JSON. Standard library only (no TensorFlow at import: callers pass theirs in)."""
import datetime
import json
import os
import platform
import socket
from typing import Dict, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def machine(tf) -> Dict:
    """The host, its CPU model and cores, GPUs, TensorFlow and Python versions, and the date."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"host": socket.gethostname(), "cpu": cpu, "cores": os.cpu_count(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "tensorflow": tf.__version__, "python": platform.python_version(),
            "date": datetime.datetime.now().isoformat(timespec="seconds")}


def write_json(results: Dict, path: Optional[str] = None, name: Optional[str] = None,
               folder: str = RESULTS) -> str:
    """Writes `results` to `path` (default <folder>/<name>-<date>-<time>.json, name defaulting
    to this host's), making its folder; returns the path."""
    stamp = f"{datetime.datetime.now():%Y%m%d-%H%M%S}"
    path = path or os.path.join(folder, f"{name or socket.gethostname()}-{stamp}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True, default=str)
    return path
