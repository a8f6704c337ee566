"""Exponential moving average (EMA) of the weights, bias-corrected as bert4keras applies it.

Used by Su's DDPM (β = 0.9999) and GPLinker runs. bert4keras's `extend_with_exponential_moving_average`
keeps θ̄ ← β θ̄ + (1 − β) θ after every optimizer update with θ̄ starting at zeros, and its
`apply_ema_weights` divides by 1 − βᵗ (t = updates made, Adam's bias correction), so the weights it
samples with are

    θ̂_t = θ̄_t / (1 − βᵗ) = Σ_{s ≤ t} (1 − β) β^{t−s} θ_s / (1 − βᵗ),

a weighted mean of the weights actually visited, with no share of zeros or of the initialisation.
We keep θ̂_t itself as the shadow, updated in the equivalent exact form

    θ̂_t = θ̂_{t−1} + w_t (θ_t − θ̂_{t−1}),   w_t = (1 − β) / (1 − βᵗ)   (w_1 = 1: θ̂_1 = θ_1),

so the shadow, ema.safetensors and `applied` always hold the corrected weights and need no division
at the end. (The common PyTorch practice starts θ̄ at the initial weights without correction; at
β = 0.9999 its average after 5,000 steps is still 61 % the random initialisation.) Resuming needs t:
`load_state_dict(shadow, updates=step)`. Before the first update the shadow is the model's weights.
Every floating-point tensor of the state dict is averaged (parameters and float buffers such as
BatchNorm's running statistics); integer buffers (`num_batches_tracked`) are copied.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn


class EMA:
    def __init__(self, model: nn.Module, beta: float):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"EMA: the decay β={beta} must lie in [0, 1)")
        self.beta = beta
        self.updates = 0  # t: the updates averaged so far
        self.shadow: dict[str, Tensor] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @property
    def weight(self) -> float:
        """w_t = (1 − β) / (1 − βᵗ) of the next update (t = updates + 1)."""
        t = self.updates + 1
        # 1 − βᵗ as −expm1(t log β): exact where βᵗ is close to 1 (β near 1, t small)
        if t == 1 or self.beta == 0.0:
            return 1.0  # w_1 = (1 − β)/(1 − β) exactly
        return (1.0 - self.beta) / -math.expm1(t * math.log(self.beta))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        w = self.weight
        for name, theta in model.state_dict().items():
            hat_theta = self.shadow[name]
            if hat_theta.is_floating_point():
                # θ̂_t = θ̂_{t−1} + w_t (θ_t − θ̂_{t−1}),  w_t = (1 − β) / (1 − βᵗ)
                hat_theta.lerp_(theta.to(hat_theta.dtype), w)
            else:
                hat_theta.copy_(theta)
        self.updates += 1

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

    def load_state_dict(self, shadow: dict[str, Tensor], updates: int | None = None) -> None:
        """Load a shadow saved by `state_dict`; `updates` (the optimizer steps it has averaged, the
        Trainer's step) sets t for the next weight w_{t+1}. Without it t stays as it is."""
        if updates is not None:
            if updates < 0:
                raise ValueError(f"EMA.load_state_dict: updates={updates} must be ≥ 0")
            self.updates = int(updates)
        missing = sorted(set(self.shadow) - set(shadow))
        unexpected = sorted(set(shadow) - set(self.shadow))
        if missing or unexpected:
            raise ValueError(f"EMA shadow does not fit the model: missing {missing}, unexpected {unexpected}")
        with torch.no_grad():
            for name, value in self.shadow.items():
                value.copy_(shadow[name])
