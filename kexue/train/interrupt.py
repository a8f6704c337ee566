"""Stopping a run cleanly: SIGINT/SIGTERM become a flag the Trainer reads after each step, so it writes a
checkpoint, says "interrupted at step N; continue with --resume" and exits 128 + signal (130 / 143).

A second signal while the first is being handled interrupts at once, without the checkpoint.
"""
from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a run after `step`, whose checkpoint is written; exit_code is 128 + signal."""

    def __init__(self, step: int, signum: int, out_dir: Path | None, unit: str = "step"):
        self.step, self.signum, self.out_dir = step, signum, out_dir
        self.exit_code = 128 + signum  # 130 for SIGINT, 143 for SIGTERM
        super().__init__(f"interrupted at {unit} {step}; continue with --resume")


class StopSignals:
    """While active, SIGINT/SIGTERM set a flag instead of killing; a second signal interrupts at once.
    `active=False` leaves the handlers alone (a run with nowhere to write its state)."""

    def __init__(self, active: bool = True, unit: str = "step") -> None:
        # handlers live in the main thread only
        self.active = active and threading.current_thread() is threading.main_thread()
        self.signum = 0
        self.unit = unit
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if self.active:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum:  # asked twice: stop now, without the checkpoint
            raise KeyboardInterrupt
        self.signum = signum
        # said at once, so that a long step does not look as if the signal were ignored
        os.write(2, f"{signal.Signals(signum).name}: stopping after this {self.unit} and saving a checkpoint "
                    f"(again to stop at once, without it)\n".encode())

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
