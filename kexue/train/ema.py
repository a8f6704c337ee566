"""Exponential moving average (EMA) of the weights, used by Su's DDPM (β = 0.9999) and GPLinker runs.

θ̄ ← β θ̄ + (1 − β) θ after every optimizer update, with the shadow θ̄ starting at the model's weights
when training starts (the common PyTorch practice). Departure: bert4keras's
`extend_with_exponential_moving_average` starts θ̄ at zeros and divides by 1 − β^t when it applies the
average (Adam's bias correction); the two differ only in how much weight the initial weights keep
(β^t here), which is negligible once t ≫ 1/(1 − β). Every floating-point tensor of the state dict is
averaged (parameters and float buffers such as BatchNorm's running statistics); integer buffers
(`num_batches_tracked`) are copied.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn


class EMA:
    def __init__(self, model: nn.Module, beta: float):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"EMA: the decay β={beta} must lie in [0, 1)")
        self.beta = beta
        self.shadow: dict[str, Tensor] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for name, theta in model.state_dict().items():
            bar_theta = self.shadow[name]
            if bar_theta.is_floating_point():
                # θ̄ ← β θ̄ + (1 − β) θ   (lerp: θ̄ + w (θ − θ̄) with w = 1 − β)
                bar_theta.lerp_(theta.to(bar_theta.dtype), 1.0 - self.beta)
            else:
                bar_theta.copy_(theta)

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """Inside the block the model holds θ̄; its own weights θ come back on exit (also on error)."""
        current = model.state_dict()
        backup = {k: v.detach().clone() for k, v in current.items()}
        with torch.no_grad():
            for name, value in current.items():
                value.copy_(self.shadow[name])
        try:
            yield model
        finally:
            with torch.no_grad():
                for name, value in current.items():
                    value.copy_(backup[name])

    def state_dict(self) -> dict[str, Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, shadow: dict[str, Tensor]) -> None:
        missing = sorted(set(self.shadow) - set(shadow))
        unexpected = sorted(set(shadow) - set(self.shadow))
        if missing or unexpected:
            raise ValueError(f"EMA shadow does not fit the model: missing {missing}, unexpected {unexpected}")
        with torch.no_grad():
            for name, value in self.shadow.items():
                value.copy_(shadow[name])
