"""The optimizer and its parameter groups.

A topic that needs different settings for some parameters passes `param_groups(model)`, returning
[{"params": [...], "lr_scale": float, "weight_decay": float}, ...]; a group's learning rate is then
lr · lr_scale · factor(t). The LRU topic (kexue.fm/archives/9554) uses it to train ν_log and θ_log
with a smaller rate and no weight decay. `decay_groups` builds the usual split: no weight decay on
biases, norms and other tensors of fewer than two dimensions.

Every trainable parameter must be in exactly one group: one left out would silently stay untrained.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from kexue.train.settings import TrainConfig


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
    unknown = set(group) - {"params", "lr_scale", "weight_decay"}
    if unknown:
        raise ValueError(f"param_groups: group {i} has unknown key(s) {sorted(unknown)}; "
                         "allowed: params, lr_scale, weight_decay")
    params = group["params"]
    params = list(params.values() if isinstance(params, dict) else params)
    return {"params": params, "lr_scale": float(group.get("lr_scale", 1.0)),
            "weight_decay": float(group.get("weight_decay", cfg.weight_decay))}


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
