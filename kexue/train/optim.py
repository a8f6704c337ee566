"""The optimizer and its parameter groups, and LAMB as bert4keras computes it.

A topic that needs different settings for some parameters passes `param_groups(model)`, returning
[{"params": [...], "lr_scale": float, "weight_decay": float}, ...]; a group's learning rate is then
lr · lr_scale · factor(t). The LRU topic (kexue.fm/archives/9554) uses it to train ν_log and θ_log
with a smaller rate and no weight decay. `decay_groups` builds the usual split: no weight decay on
biases, norms and other tensors of fewer than two dimensions.

Every trainable parameter must be in exactly one group: one left out would silently stay untrained.

`Lamb` is bert4keras's `extend_with_layer_adaptation` over its `Adam` (arXiv 1904.00962), the
optimizer of Keras-DDPM (kexue.fm/archives/9152, lr 1e−3) and of RoFormerV2's pretraining
(kexue.fm/archives/8998, lr 1.76e−3 with `extend_with_weight_decay`). One step of one tensor x:

    m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²
    m̂, v̂ = m / (1 − β₁ᵗ), v / (1 − β₂ᵗ)       (bias_correction; bert4keras pretraining turns it off)
    Δ = −η (m̂ / (√v̂ + ε) + λ x)                 (λ: weight decay, inside the update, before the ratio)
    r = ‖x‖ / ‖Δ / max(η, 10⁻⁷)‖, and r = 1 when ‖x‖ = 0 or ‖Δ‖ = 0
    x ← x + r Δ

so a layer moves by η‖x‖ per step whatever its gradient's scale. A group with
`layer_adaptation=False` takes the plain (decayed) Adam step Δ. bert4keras excludes parameters by
regular expressions on Keras weight names (`exclude_from_layer_adaptation=['Norm', 'bias']` in
Keras-DDPM); those are matched case-sensitively and Keras names the GroupNorm layers `group_norm_N`,
so in Keras-DDPM nothing is excluded — every tensor, GroupNorm's scale and offset included, is
adapted, as it is here by default.
Departures: η is the scheduled rate (bert4keras ≥ 0.10 on tf.keras, `_decayed_lr`); on Keras 2.3.1,
where Keras-DDPM ran, the piecewise factor multiplies Δ after the ratio is taken with the base rate,
which gives the same step whenever η·factor ≥ 10⁻⁷ or factor = 0. Keras-DDPM's `Adam` there is
Keras's own, whose ε is added before the bias correction (ε/√(1 − β₂ᵗ) in the form above); we add it
after, as bert4keras's `Adam` does.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from kexue.train.settings import TrainConfig

GROUP_KEYS = {"params", "lr_scale", "weight_decay", "layer_adaptation"}


def build_optimizer(model: nn.Module, cfg: TrainConfig,
                    param_groups: Callable[[nn.Module], list[dict]] | None = None) -> torch.optim.Optimizer:
    if param_groups is None:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr_scale": 1.0,
                   "weight_decay": cfg.weight_decay}]
    else:
        groups = [_checked_group(g, i, cfg) for i, g in enumerate(param_groups(model))]
        _check_cover(model, groups)
    for g in groups:
        g["lr"] = cfg.lr * g["lr_scale"]
    if cfg.optimizer == "lamb":
        return Lamb(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, bias_correction=cfg.bias_correction)
    if not cfg.bias_correction:
        raise ValueError(f"TrainConfig.bias_correction=False: only optimizer='lamb' can turn the bias "
                         f"correction off, not {cfg.optimizer!r}")
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    # SGD's momentum is betas[0]: betas=(0, ...) is plain SGD
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.betas[0])


def decay_groups(model: nn.Module, weight_decay: float, lr_scale: float = 1.0,
                 no_decay: Callable[[str, nn.Parameter], bool] | None = None) -> list[dict]:
    """Two groups: weight decay on matrices, none on biases, norms and 1-d tensors (or `no_decay`)."""
    skip = no_decay or (lambda name, p: p.ndim < 2 or name.endswith("bias") or "norm" in name.lower())
    decay, plain = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (plain if skip(name, p) else decay).append(p)
    return [{"params": decay, "lr_scale": lr_scale, "weight_decay": weight_decay},
            {"params": plain, "lr_scale": lr_scale, "weight_decay": 0.0}]


def _checked_group(group: dict, i: int, cfg: TrainConfig) -> dict:
    if "params" not in group:
        raise ValueError(f"param_groups: group {i} has no 'params'")
    unknown = set(group) - GROUP_KEYS
    if unknown:
        raise ValueError(f"param_groups: group {i} has unknown key(s) {sorted(unknown)}; "
                         f"allowed: {', '.join(sorted(GROUP_KEYS))}")
    if "layer_adaptation" in group and cfg.optimizer != "lamb":
        raise ValueError(f"param_groups: group {i} sets layer_adaptation, which only optimizer='lamb' has "
                         f"(TrainConfig.optimizer={cfg.optimizer!r})")
    params = group["params"]
    params = list(params.values() if isinstance(params, dict) else params)
    out = {"params": params, "lr_scale": float(group.get("lr_scale", 1.0)),
           "weight_decay": float(group.get("weight_decay", cfg.weight_decay))}
    if "layer_adaptation" in group:
        out["layer_adaptation"] = bool(group["layer_adaptation"])
    return out


def _check_cover(model: nn.Module, groups: Iterable[dict]) -> None:
    names = {id(p): n for n, p in model.named_parameters()}
    seen: set[int] = set()
    for i, g in enumerate(groups):
        for p in g["params"]:
            if id(p) not in names:
                raise ValueError(f"param_groups: group {i} holds a tensor that is not a parameter of the model")
            if id(p) in seen:
                raise ValueError(f"param_groups: parameter {names[id(p)]!r} is in two groups")
            seen.add(id(p))
    left = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen]
    if left:
        raise ValueError(f"param_groups: trainable parameter(s) {', '.join(left)} are in no group; add them "
                         "to one or set requires_grad=False")


class Lamb(torch.optim.Optimizer):
    """bert4keras's LAMB (see the module docstring); a group may set `layer_adaptation=False`."""

    LR_FLOOR = 1e-7  # Keras's K.epsilon(): the guard on η in the ratio

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.0, bias_correction: bool = True, layer_adaptation: bool = True):
        if not lr >= 0.0:
            raise ValueError(f"Lamb: lr={lr} must be ≥ 0")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"Lamb: betas={betas} must lie in [0, 1)")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        bias_correction=bias_correction, layer_adaptation=layer_adaptation)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            for x in group["params"]:
                if x.grad is None:
                    continue
                if x.grad.is_sparse:
                    raise RuntimeError("Lamb does not take sparse gradients")
                g = x.grad
                state = self.state[x]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(x, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(x, memory_format=torch.preserve_format)
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                # m ← β₁ m + (1 − β₁) g,  v ← β₂ v + (1 − β₂) g²
                m.lerp_(g, 1.0 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
                if group["bias_correction"]:
                    # m̂ / (√v̂ + ε) with m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ)
                    u = (m / (1.0 - beta1**t)) / ((v / (1.0 - beta2**t)).sqrt_().add_(eps))
                else:
                    u = m / v.sqrt().add_(eps)
                if group["weight_decay"]:
                    # + λ x   (bert4keras's extend_with_weight_decay, applied before the ratio)
                    u.add_(x, alpha=group["weight_decay"])
                # Δ = −η u
                delta = u.mul_(-lr)
                if group["layer_adaptation"]:
                    # r = ‖x‖ / ‖Δ / max(η, 10⁻⁷)‖, r = 1 when either norm is 0
                    x_norm = torch.linalg.vector_norm(x)
                    d_norm = torch.linalg.vector_norm(delta) / max(lr, self.LR_FLOOR)
                    ratio = torch.where((x_norm > 0) & (d_norm > 0), x_norm / d_norm, torch.ones_like(x_norm))
                    delta.mul_(ratio)
                # x ← x + r Δ
                x.add_(delta)
        return loss
