"""What one converter worker process does: turn a Task (file paths) into PNG bytes or rejects.

Imports image_io only (numpy + PIL), never TensorFlow: the pool uses the 'spawn' start method,
so every worker imports this module fresh. Tasks and results are plain tuples of str/bytes/int.
"""
import os
import signal
import threading
import time
from typing import List, NamedTuple, Optional, Tuple

from trainer.data import image_io

# Task kinds
IMAGE = "image"                # one file -> one image
SIDE_BY_SIDE = "side_by_side"  # one A|B file -> A and B
TWO_FILES = "two_files"        # path (A) and path_b (B) -> A and B
EDGES = "edges"                # one photo -> (Canny edges, photo)


class Task(NamedTuple):
    kind: str
    path: str
    path_b: str = ""


class Result(NamedTuple):
    """encoded is None when the task was rejected; rejects then holds (path, reason) rows."""
    encoded: Optional[bytes]
    encoded_b: Optional[bytes]
    upscaled: bool
    rejects: Tuple[Tuple[str, str], ...]

    @property
    def identical(self) -> bool:
        return self.encoded is not None and self.encoded == self.encoded_b


def init_worker(parent_pid: int) -> None:
    """Pool initializer. Ctrl-C reaches the whole process group; the parent alone handles it
    (and shuts the pool down), so workers ignore it. And a worker must not outlive a parent that
    was killed (SIGKILL, OOM killer): its task queue never reports end-of-file (every worker
    holds both ends of it), so a watchdog thread exits when the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()


def _exit_when_orphaned(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)


def run_tasks(tasks: List[Task], size: int, edge_sigma: float) -> List[Result]:
    return [run_task(task, size, edge_sigma) for task in tasks]


def run_task(task: Task, size: int, edge_sigma: float) -> Result:
    try:
        return _run(task, size, edge_sigma)
    except image_io.ImageRejected as e:
        return _rejected(task, str(e))
    except Exception as e:  # one odd file must never stop a conversion of millions
        return _rejected(task, f"cannot convert ({type(e).__name__}: {image_io.first_line(e)})")


def _run(task: Task, size: int, edge_sigma: float) -> Result:
    if task.kind == IMAGE:
        image, upscaled = image_io.load_square(task.path, size)
        return Result(image_io.encode_png(image, size), None, upscaled, ())
    if task.kind == SIDE_BY_SIDE:
        a, b, upscaled = image_io.load_side_by_side(task.path, size)
        return _pair(a, b, size, upscaled)
    if task.kind == EDGES:
        photo, upscaled = image_io.load_square(task.path, size)
        return _pair(image_io.edge_map(photo, edge_sigma), photo, size, upscaled)
    if task.kind == TWO_FILES:
        return _two_files(task, size)
    raise ValueError(f"unknown task kind {task.kind!r}")


def _pair(a, b, size: int, upscaled: bool) -> Result:
    return Result(image_io.encode_png(a, size), image_io.encode_png(b, size), upscaled, ())


def _two_files(task: Task, size: int) -> Result:
    try:
        a, upscaled_a = image_io.load_square(task.path, size)
    except image_io.ImageRejected as e:
        return Result(None, None, False, ((task.path, str(e)),
                                          (task.path_b, "its partner in A was rejected")))
    try:
        b, upscaled_b = image_io.load_square(task.path_b, size)
    except image_io.ImageRejected as e:
        return Result(None, None, False, ((task.path, "its partner in B was rejected"),
                                          (task.path_b, str(e))))
    return _pair(a, b, size, upscaled_a or upscaled_b)


def _rejected(task: Task, reason: str) -> Result:
    rows = [(task.path, reason)]
    if task.path_b:
        rows.append((task.path_b, f"its partner was rejected: {reason}"))
    return Result(None, None, False, tuple(rows))
