"""The run's estimated time, from its first steps, said once near the start: and a warning past a day.

A recipe sized for a GPU (`roformer pretrain --preset post`, `diffusion train --preset su`: 40,000 LAMB
steps) started on a CPU runs for weeks, and its bar says so only to whoever reads the ETA column. So
the Trainer times the steps after the first (the first builds caches, compiles, warms the allocator),
until ESTIMATE_STEPS of them or ESTIMATE_SECONDS have passed, and then says once, on stderr:
    estimated time: 41h20m for 39,996 more steps (3.72 s/step over steps 2–4, cpu)
when that is over REPORT_SECONDS, and adds a warning when it is over a day:
    warning: this run would take more than a day on cpu; it is sized for a GPU (--device cuda), or
    shorten it with --set train.steps=N
Evaluations, checkpoints and hooks (sample grids) inside the timed steps count: they are part of the
run's cost. A run with a clock cap (`roformer pretrain --preset msra-encoder`, GPLinker's recipes) gives
`time_left`, the seconds until its cap stops it; the estimate is then the shorter of the two, and says so:
    estimated time: 30m00s, its clock cap (198,151 more steps would take 1d20h at 0.811 s/step, cpu)
"""
from __future__ import annotations

import time
from collections.abc import Callable

ESTIMATE_STEPS = 3  # timed steps after the first
ESTIMATE_SECONDS = 60.0  # or fewer, when these seconds have passed
REPORT_SECONDS = 600.0  # say the estimate when the run has more than this left
DAY = 86_400.0


class RunEstimate:
    """tick(step) after each optimizer step; it returns the lines to show (once, then nothing)."""

    def __init__(self, total: int, start: int, device: str, clock: Callable[[], float] | None = None,
                 time_left: Callable[[], float] | None = None):
        self.total, self.start, self.device, self.time_left = total, start, device, time_left
        self._clock = clock or time.perf_counter
        self._t1: float | None = None  # the clock when the first step of this session ended
        self._done = False

    def tick(self, step: int) -> list[str]:
        if self._done:
            return []
        now = self._clock()
        if self._t1 is None:
            self._t1 = now
            self._done = step >= self.total  # nothing left to estimate
            return []
        timed = step - self.start - 1
        if timed < ESTIMATE_STEPS and now - self._t1 < ESTIMATE_SECONDS and step < self.total:
            return []
        self._done = True
        per_step = (now - self._t1) / timed
        left = (self.total - step) * per_step
        cap = self.time_left() if self.time_left else float("inf")
        return self.lines(left, per_step, step) if left <= cap else self.capped(cap, left, per_step, step)

    def capped(self, cap: float, left: float, per_step: float, step: int) -> list[str]:
        """The line of a run whose clock cap, `cap` seconds away, stops it before its steps would."""
        if cap <= REPORT_SECONDS:
            return []
        return [f"estimated time: {clock(cap)}, its clock cap ({self.total - step:,} more steps would take "
                f"{clock(left)} at {per_step:.3g} s/step, {self.device})"]

    def lines(self, left: float, per_step: float, step: int) -> list[str]:
        """The estimate's lines for `left` seconds to go at `per_step` seconds a step, after `step`."""
        if left <= REPORT_SECONDS:
            return []
        out = [f"estimated time: {clock(left)} for {self.total - step:,} more steps ({per_step:.3g} s/step "
               f"over steps {self.start + 2}–{step}, {self.device})"]
        if left > DAY:
            hint = "it is sized for a GPU (--device cuda), or shorten it" if self.device == "cpu" else "shorten it"
            out.append(f"warning: this run would take more than a day on {self.device}; {hint} with "
                       "--set train.steps=N")
        return out


def clock(seconds: float) -> str:
    """42s, 6m24s, 3h05m, 12d04h."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < DAY:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
