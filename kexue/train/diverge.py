"""The divergence guard of the training loop: the first step whose loss is not finite stops the run.

The Trainer keeps, on the device, the first optimizer step whose training loss was not finite
(`DivergenceWatch.observe`, no host sync per step). At the log, eval and checkpoint steps
(`DivergenceWatch.check`), that step, an evaluated `loss` that is not finite, or (before a checkpoint)
a weight that is not, raises TrainingDiverged naming the step, on every rank alike (an all-reduce of the
step), before anything is checkpointed: a diverged run never overwrites its last good checkpoint.
The command line prints its one line and exits 1.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from kexue.train.checkpoint import checkpoint_step, has_checkpoint
from kexue.train.distributed import all_reduce_max


class TrainingDiverged(FloatingPointError):
    """The loss (training, or an evaluation's `loss`) is not finite: the run stops before it checkpoints."""


class DivergenceWatch:
    """The first step (1-based; 0: none yet) whose training loss was not finite, kept on `device`."""

    def __init__(self, device: torch.device, world_size: int = 1):
        self.device, self.world_size = device, world_size
        self.first = torch.zeros((), dtype=torch.long, device=device)

    def observe(self, step: int, loss: Tensor) -> None:
        """Record `step` (1-based) if its loss is the first that is not finite."""
        self.first = torch.where((self.first == 0) & ~torch.isfinite(loss), step, self.first)

    def check(self, step: int, record: dict[str, Any], weights: Iterable[Tensor] | None, out_dir: Path,
              is_main: bool, lr: float) -> None:
        """Raise TrainingDiverged when a training loss so far, a loss in `record` (an evaluation), or (when
        `weights` are given: before a checkpoint) a weight is not finite. Every rank must call it."""
        bad_step = int(self.first)
        what = "the training loss is not finite" if bad_step else ""
        if not bad_step:
            bad = [k for k, v in record.items() if "loss" in k.rsplit("/", 1)[-1] and isinstance(v, float)
                   and not math.isfinite(v)]
            if bad:
                bad_step, what = step, f"{bad[0]} is {record[bad[0]]}"
        if not bad_step and weights is not None and not all(bool(torch.isfinite(w).all()) for w in weights):
            bad_step, what = step, "the weights are not finite"
        if self.world_size > 1:
            bad_step = int(all_reduce_max([float(bad_step)], self.device)[0])
        if not bad_step:
            return
        kept = checkpoint_step(out_dir) if is_main and has_checkpoint(out_dir) else None
        raise TrainingDiverged(
            f"step {bad_step}: {what or 'the loss is not finite on another rank'}: the run diverged; lower the "
            f"learning rate (train.lr={lr:g}), set train.clip, or check the data; "
            + (f"its last checkpoint (step {kept}) is kept" if kept is not None else "no checkpoint was written"))
