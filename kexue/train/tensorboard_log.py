"""TensorBoard event files beside metrics.jsonl (`TrainConfig.log = "tensorboard"`, `--log tensorboard`).

Every metrics.jsonl record is also written as scalars, one tag per key (`loss`, `lr`, `eval_ema/loss`,
...), at the record's step, into an events file in the run folder itself, so `tensorboard --logdir
runs/` shows each run folder as a run. Only rank 0 writes. A resume from step k starts its events
file with a purge at step k + 1: what the interrupted session logged after its checkpoint is hidden,
as metrics.jsonl drops it. Needs the `tensorboard` package (`pip install 'kexue[log]'`).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

EXTRA = "pip install 'kexue[log]' (or pip install tensorboard)"


def require_tensorboard() -> None:
    """A one-line error, before any work, when the tensorboard package is missing."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ValueError(f"TrainConfig.log='tensorboard' needs the tensorboard package: {EXTRA}; "
                         "or set log=jsonl")


class TensorBoardLog:
    """Scalars of each record into out_dir's events file; does nothing when disabled (ranks ≠ 0)."""

    def __init__(self, out_dir: Path, enabled: bool, resumed_from: int | None = None):
        self.writer = None
        if not enabled:
            return
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        # purge_step = k + 1: events of steps > k from an earlier session are dropped on reading
        purge = resumed_from + 1 if resumed_from is not None else None
        self.writer = SummaryWriter(log_dir=str(out_dir), purge_step=purge)

    def write(self, record: dict[str, Any]) -> None:
        if self.writer is None:
            return
        step = int(record["step"])
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, global_step=step)
        self.writer.flush()  # as metrics.jsonl: on disk as soon as it is logged

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
