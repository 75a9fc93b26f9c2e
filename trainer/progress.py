"""What a person watching a run sees: one short line every `summary_every_steps` steps and at
each checkpoint (step/total, d_loss, g_loss, images/s, ETA, the latest sample grid); for the
other modes (evaluate, predict, export, the quality metrics) a TaskProgress of their batches,
on stderr, where it stays out of their results on stdout.

On a terminal the line is a progress bar redrawn in place; anywhere else (a CI log, `nohup` on
a TPU VM) each report is a plain line. The numbers arrive through the training host call
(trainer/tpu.py), so CPU and TPU runs report the same way: on TPU at the steps whose tensors
reach the host.
"""
import math
import sys
import time
from typing import Optional, TextIO

import tensorflow as tf

BAR_WIDTH = 24


def duration(seconds: float) -> str:
    """12s, 4m05s, 3h02m."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Reporter:
    """Formats and writes the progress of one training run. `report` is called from the host
    call with the step and the losses; `checkpoint` after each save."""

    def __init__(self, total_steps: int, batch_size: int, samples_path: str, out: Optional[TextIO] = None,
                 budget_minutes: Optional[float] = None, clock=time.monotonic):
        self.total_steps, self.batch_size, self.samples_path = total_steps, batch_size, samples_path
        self.out = out or sys.stdout
        self.terminal = bool(getattr(self.out, "isatty", lambda: False)())
        self.clock = clock
        self._deadline = None if budget_minutes is None else clock() + 60.0 * budget_minutes
        self._last = None  # (step, time) of the previous report
        self._open_bar = False
        self._samples_written = False

    def __deepcopy__(self, memo):
        return self  # TPUEstimator deep-copies params per model_fn call; the reporter is shared

    def line(self, step: int, d_loss: float, g_loss: float) -> str:
        now = self.clock()
        rate = None
        if self._last is not None and step > self._last[0] and now > self._last[1]:
            rate = (step - self._last[0]) / (now - self._last[1])
        self._last = (step, now)
        parts = [f"step {step}/{self.total_steps}", f"d_loss {d_loss:.4g}", f"g_loss {g_loss:.4g}"]
        if rate is not None:
            eta = (self.total_steps - step) / rate
            if self._deadline is not None:
                eta = min(eta, max(self._deadline - now, 0.0))
            parts += [f"{rate * self.batch_size:.1f} img/s", f"ETA {duration(eta)}"]
        if self._samples_written:
            parts.append(f"samples {self.samples_path}")
        text = "  ".join(parts)
        if self.terminal:
            done = min(max(step / max(self.total_steps, 1), 0.0), 1.0)
            filled = int(math.floor(done * BAR_WIDTH))
            text = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {text}"
        return text

    def report(self, step, d_loss, g_loss) -> None:
        text = self.line(int(step), float(d_loss), float(g_loss))
        if self.terminal:
            self.out.write("\r\033[K" + text)
            self._open_bar = True
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def checkpoint(self, step: int) -> None:
        self._samples_written = True
        self._end_bar()
        self.out.write(f"checkpoint at step {step}; samples {self.samples_path}\n")
        self.out.flush()

    def _end_bar(self) -> None:
        if self._open_bar:
            self.out.write("\n")
            self._open_bar = False


def report_op(reporter: Reporter, step, d_loss, g_loss):
    """An op that hands (step, d_loss, g_loss) to `reporter` on the host."""
    def call(s, d, g):
        reporter.report(s.numpy(), d.numpy(), g.numpy())
        return 0

    return tf.py_function(call, [step, d_loss, g_loss], tf.int32).op


class CheckpointReport(tf.estimator.CheckpointSaverListener):
    """Prints the checkpoint line after each save (listed after the sample-grid listener, so
    the grid it names is written)."""

    def __init__(self, reporter: Reporter):
        self._reporter = reporter

    def after_save(self, session, global_step_value):
        self._reporter.checkpoint(global_step_value)


PLAIN_REPORTS = 10  # plain lines per task at most (plus the last)


class TaskProgress:
    """`label done/total  ETA` of a counted task: a bar redrawn in place on a terminal, else
    a plain line about every tenth of the way and at the end."""

    def __init__(self, label: str, total: int, out: Optional[TextIO] = None, clock=time.monotonic):
        self.label, self.total = label, max(int(total), 1)
        self.out = out or sys.stderr
        self.terminal = bool(getattr(self.out, "isatty", lambda: False)())
        self.clock = clock
        self._start = clock()
        self._done = 0
        self._next_plain = 0

    def line(self, done: int) -> str:
        parts = [f"{self.label} {done}/{self.total}"]
        elapsed = self.clock() - self._start
        if 0 < done < self.total and elapsed > 0:
            parts.append(f"ETA {duration(elapsed / done * (self.total - done))}")
        if done >= self.total:
            parts.append(f"done in {duration(elapsed)}")
        text = "  ".join(parts)
        if self.terminal:
            filled = int(math.floor(min(done / self.total, 1.0) * BAR_WIDTH))
            text = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {text}"
        return text

    def update(self, done: int) -> None:
        self._done = min(int(done), self.total)
        if self.terminal:
            self.out.write("\r\033[K" + self.line(self._done) + ("\n" if self._done >= self.total else ""))
        elif self._done >= self._next_plain or self._done >= self.total:
            self.out.write(self.line(self._done) + "\n")
            self._next_plain = self._done + max(self.total // PLAIN_REPORTS, 1)
        self.out.flush()

    def advance(self, count: int = 1) -> None:
        self.update(self._done + count)

    def finish(self) -> None:
        """Ends a task that stopped short of its total (e.g. a smaller folder than the limit):
        the total becomes what was done, and the last line says so."""
        if self._done < self.total:
            self.total = max(self._done, 1)
            self.update(self._done)


class TaskProgressHook(tf.estimator.SessionRunHook):
    """Counts the session runs of an Estimator call (one batch each) into a TaskProgress."""

    def __init__(self, task: TaskProgress):
        self._task = task

    def after_run(self, run_context, run_values):
        self._task.advance()
