"""The metric window of the training loop: sums since the last metrics.jsonl record, kept on the device.

Every optimizer step adds its loss (the mean over its grad_accum micro-steps), loss_fn's extra metrics
and, with clipping, the gradient norm; a record takes the means over the steps since the last one and
over ranks (`flush`), then starts a new window. The sums are part of a checkpoint (`state`, `load`), so a
resumed run logs the same record as an unbroken one.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from kexue.train.distributed import all_reduce_mean


class MetricWindow:
    def __init__(self, device: torch.device):
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.sums = {"loss": torch.zeros((), dtype=torch.float64, device=self.device),
                     "grad_norm": torch.zeros((), dtype=torch.float64, device=self.device)}
        self.extras: dict[str, float] = {}
        self.steps = 0

    def add(self, loss: Tensor, extras: dict[str, float], grad_norm: Tensor | None) -> None:
        """One optimizer step: its loss, extra metrics and gradient norm (None without clipping)."""
        self.sums["loss"] += loss
        if grad_norm is not None:
            self.sums["grad_norm"] += grad_norm.detach().double()
        for k, v in extras.items():
            self.extras[k] = self.extras.get(k, 0.0) + v
        self.steps += 1

    def flush(self, lr: float, clipped: bool) -> dict[str, float]:
        """The means over the steps since the last record and over ranks; then start a new window."""
        n = self.steps
        values = {"loss": self.sums["loss"] / n, **{k: v / n for k, v in self.extras.items()}}
        if clipped:
            values["grad_norm"] = self.sums["grad_norm"] / n
        values = all_reduce_mean(values, self.device)
        self.reset()
        extras = {k: v for k, v in values.items() if k not in ("loss", "grad_norm")}
        out = {"loss": values["loss"], "lr": lr, **extras}
        if "grad_norm" in values:
            out["grad_norm"] = values["grad_norm"]
        return out

    def state(self) -> dict[str, Any]:
        return {"loss": self.sums["loss"].cpu(), "grad_norm": self.sums["grad_norm"].cpu(),
                "extras": dict(self.extras), "steps": self.steps}

    def load(self, state: dict[str, Any]) -> None:
        self.sums = {"loss": state["loss"].to(self.device), "grad_norm": state["grad_norm"].to(self.device)}
        self.extras, self.steps = dict(state["extras"]), state["steps"]
