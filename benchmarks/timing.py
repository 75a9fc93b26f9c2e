"""Steady-state timing shared by every measurement: warm-up, then windows of about equal length.

A `WindowPlan` is fed one wall-clock stamp per step (or batch, or call). The first
`warmup_steps` steps are discarded (graph optimisation, first allocations, shuffle buffers);
then each window closes at the first step that ends at least `window_seconds` after the
window began, so a slow model and a fast one are measured for about the same time (a window
holds at least one step). The result is the median over `windows` windows of steps per second,
with the spread, and the steps per CPU-second of this process (all its threads), which a busy
machine disturbs less than wall time. No TensorFlow here.
"""
import dataclasses
import os
import statistics
import time
from typing import Dict, List, Optional


@dataclasses.dataclass(frozen=True)
class Schedule:
    warmup_steps: int = 5
    window_seconds: float = 8.0
    windows: int = 5
    max_seconds: float = 600.0   # safety stop for one measurement, warm-up included


FULL = Schedule()
QUICK = Schedule(warmup_steps=3, window_seconds=2.0, windows=3, max_seconds=180.0)


class WindowPlan:
    """Call `add(time.perf_counter())` after each step; it returns True when enough is measured."""

    def __init__(self, schedule: Schedule):
        self.schedule = schedule
        self.stamps: List[float] = []
        self.cpu: List[float] = []     # process CPU seconds (all threads) at each stamp
        self.bounds: List[int] = []    # stamp indices where windows start and end
        self._start = time.perf_counter()

    def add(self, stamp: float) -> bool:
        self.stamps.append(stamp)
        self.cpu.append(time.process_time())
        s, last = self.schedule, len(self.stamps) - 1
        if last < self._first:
            return False  # warming up
        if not self.bounds:
            self.bounds.append(last)
        elif stamp - self.stamps[self.bounds[-1]] >= s.window_seconds:
            self.bounds.append(last)
        return len(self.bounds) > s.windows or stamp - self._start > s.max_seconds

    @property
    def _first(self) -> int:
        """Index of the stamp where the first window starts (the end of the last warm-up step;
        stamps[0] is the end of step 1, so the intervals measure steps 2, 3, ...)."""
        return max(0, self.schedule.warmup_steps - 1)

    def window_rates(self, cpu: bool = False) -> List[float]:
        """Steps per second of each complete window (per CPU second of this process with cpu);
        a measurement cut short by max_seconds gives its one partial window."""
        clock = self.cpu if cpu else self.stamps
        spans = list(zip(self.bounds, self.bounds[1:]))
        if not spans and self.bounds and len(self.stamps) - 1 > self.bounds[0]:
            spans = [(self.bounds[0], len(self.stamps) - 1)]
        return [(j - i) / max(clock[j] - clock[i], 1e-9) for i, j in spans]

    def summary(self, items_per_step: int = 1) -> Dict:
        rates = [r * items_per_step for r in self.window_rates()]
        cpu_rates = [r * items_per_step for r in self.window_rates(cpu=True)]
        measured = (self.bounds[-1] - self.bounds[0]) if len(self.bounds) > 1 else 0
        return {"per_s": statistics.median(rates) if rates else float("nan"),
                "per_cpu_s": statistics.median(cpu_rates) if cpu_rates else float("nan"),
                "min_per_s": min(rates, default=float("nan")), "max_per_s": max(rates, default=float("nan")),
                "windows": len(rates), "measured_steps": measured,
                "warmup_steps": self.schedule.warmup_steps}


def load() -> List[float]:
    """1, 5 and 15 minute load averages (the machine's busyness while measuring)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []
