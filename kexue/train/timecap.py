"""A time cap on training: minutes against a clock, counting the sessions before a resume.

Not from the posts (they train a fixed number of steps on a GPU). Two kexue runs stop on a clock so that
a CPU run ends on its own: `kexue roformer pretrain --preset msra-encoder` (30 minutes; `--resume --set
max_minutes=M` goes on to M) and GPLinker's recipes (gplinker/recipes.py's `EarlyStopping`, 25 minutes).
Each checkpoints the step at which its cap is due and says how to continue; the cap itself is this one
object, whose `seconds_left` also gives the Trainer its estimate (train/estimate.py).

`clock` is the wall clock (`time.perf_counter`) unless given: a benchmark that budgets each process's CPU
time passes `time.process_time`, so that a shared machine's load does not shorten one run more than another.
"""
from __future__ import annotations

import time
from collections.abc import Callable


class TimeCap:
    """`max_minutes` of training (0: no cap) on `clock`, `seconds_before` of them spent before a resume."""

    def __init__(self, max_minutes: float, seconds_before: float = 0.0,
                 clock: Callable[[], float] = time.perf_counter):
        if not max_minutes >= 0:
            raise ValueError(f"max_minutes={max_minutes!r}: must be ≥ 0 (0 = no cap)")
        self.max_minutes, self.clock = max_minutes, clock
        self.restart(seconds_before)

    def restart(self, seconds_before: float) -> None:
        """Count from now, with `seconds_before` already spent (a resumed run's earlier sessions)."""
        # t₀ = now − seconds before, so that seconds() = now − t₀ includes them
        self.t0 = self.clock() - seconds_before

    def seconds(self) -> float:
        """Seconds of training so far, the earlier sessions' included."""
        return self.clock() - self.t0

    def minutes(self) -> float:
        return self.seconds() / 60.0

    def due(self) -> bool:
        """True once the cap has passed (never without one)."""
        return bool(self.max_minutes) and self.seconds() >= 60.0 * self.max_minutes

    def seconds_left(self) -> float:
        """Seconds until the cap (inf without one)."""
        return 60.0 * self.max_minutes - self.seconds() if self.max_minutes else float("inf")
