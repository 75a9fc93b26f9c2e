"""Decoding in worker processes, results handed back in task order; and the progress line.

The pool uses the 'spawn' start method: the parent has imported TensorFlow, and forking a
process that runs TensorFlow's threads can deadlock the child. Workers import decode_worker
(numpy + PIL) only. At most a few chunks per worker are in flight, so memory stays bounded
however slowly the parent writes (e.g. to gs://).
"""
import collections
import concurrent.futures
import multiprocessing
import os
import sys
import time
from typing import Iterable, Iterator, List, TextIO

from trainer.data import decode_worker
from trainer.data.decode_worker import Result, Task

CHUNKS_PER_WORKER = 4    # in flight per worker
CHUNK_PIXEL_BYTES = 2 ** 21  # raw RGB bytes per chunk: fewer round trips, bounded memory


def chunk_size(size: int) -> int:
    """Tasks per round trip to a worker: 32 up to 128 px, fewer for larger outputs (4 at 512
    px). At 64 px, chunks of 16-128 converted 2500 JPEGs 5-10% faster than chunks of 8."""
    return max(4, min(32, CHUNK_PIXEL_BYTES // (size * size * 3)))


class ResultStream:
    """Context manager; iterate it to get one Result per task, in task order."""

    def __init__(self, tasks: Iterable[Task], size: int, edge_sigma: float, num_workers: int):
        self._tasks = iter(tasks)
        self._args = (size, edge_sigma)
        self._chunk_size = chunk_size(size)
        self._num_workers = num_workers
        self._executor = None

    def __enter__(self) -> "ResultStream":
        if self._num_workers > 1:
            self._executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=self._num_workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=decode_worker.init_worker, initargs=(os.getpid(),))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._executor is not None:
            # On an error or Ctrl-C, queued chunks are dropped; running ones finish in the
            # background and the workers exit.
            self._executor.shutdown(wait=exc_type is None, cancel_futures=True)

    def __iter__(self) -> Iterator[Result]:
        if self._executor is None:
            for task in self._tasks:
                yield decode_worker.run_task(task, *self._args)
            return
        in_flight = collections.deque()
        while True:
            while len(in_flight) < self._num_workers * CHUNKS_PER_WORKER:
                chunk = self._next_chunk()
                if not chunk:
                    break
                in_flight.append(self._executor.submit(decode_worker.run_tasks, chunk, *self._args))
            if not in_flight:
                return
            yield from in_flight.popleft().result()

    def _next_chunk(self) -> List[Task]:
        chunk = []
        for task in self._tasks:
            chunk.append(task)
            if len(chunk) == self._chunk_size:
                break
        return chunk


class ProgressLine:
    """'1234/5000 images  250 img/s  ETA 0:00:15' on stderr, redrawn at most twice a second,
    and only when stderr is a terminal (logs from batch jobs stay clean)."""

    def __init__(self, total: int, stream: TextIO = None):
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty()
        self._total = total
        self._start = time.monotonic()
        self._last_draw = 0.0
        self.done = 0

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if self._enabled and (now - self._last_draw >= 0.5 or self.done == self._total):
            self._last_draw = now
            self._stream.write("\r" + self.text(now - self._start))
            self._stream.flush()

    def text(self, elapsed: float) -> str:
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self._total - self.done) / rate if rate > 0 else 0.0
        return (f"{self.done}/{self._total} images  {rate:.0f} img/s  "
                f"ETA {int(eta) // 3600}:{int(eta) % 3600 // 60:02d}:{int(eta) % 60:02d}  ")

    def close(self) -> None:
        if self._enabled and self.done:
            self._stream.write("\n")
            self._stream.flush()
