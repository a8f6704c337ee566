"""The initialisation of RoFormerV2 and the post's residual warm-up schedule.

kexue.fm/archives/8620 (§ on initialisation): a weight of fan-in d is drawn from a normal truncated at
±2σ; truncation shrinks the variance by a factor 0.7737…, so σ is multiplied by 1/√0.7737 = 1.13684723
to keep Var = 1/d. RoFormerV2 (bert4keras `RoFormerV2.initializer`) scales every weight further by
L^(−1/2), L = number of layers:

    W ~ TruncNormal(0, σ²) on [−2σ, 2σ],   σ = 1.13684723 / √fan_in · L^(−1/2)

fan_in is the input size of a Dense (Keras kernels are [in, out]: shape[0]); for an embedding table
bert4keras uses shape[1] = H when shape[0] > 10000 or < 10 (the 12000-token vocabulary, the 2 segments).

kexue.fm/archives/8998: x_{t+1} = Norm(x_t + α F(x_t)), α fixed, starting at 0 and raised linearly to 1;
the post gives no ramp length, `residual_alpha(t, ramp)` takes it as a setting.

Where we depart: for an embedding table we always take fan_in = H, also for a vocabulary between 10 and
10000 where bert4keras' shape rule would take the vocabulary size (our tiny test models; for the
released sizes the two agree). Biases start at 0 and LayerNorm's γ at 1 (bert variant only).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from kexue.nn.init import trunc_normal_

TRUNCATION_GAIN = 1.13684723  # 1 / sqrt(Var of a standard normal truncated at ±2)


def init_std(fan_in: int, num_layers: int) -> float:
    # σ = 1.13684723 / √fan_in · L^(−1/2)
    return TRUNCATION_GAIN / math.sqrt(fan_in) * num_layers ** -0.5


@torch.no_grad()
def init_weights(model: nn.Module) -> None:
    """Initialise a RoFormerV2 (either variant) in place as bert4keras does."""
    L = model.cfg.num_layers
    for module in model.modules():
        if isinstance(module, nn.Linear):
            std = init_std(module.in_features, L)
            trunc_normal_(module.weight, std)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, nn.Embedding):
            std = init_std(module.embedding_dim, L)
            trunc_normal_(module.weight, std)
        elif isinstance(module, nn.LayerNorm):
            module.weight.fill_(1.0)
            module.bias.zero_()
    if getattr(model, "mlm_bias", None) is not None:
        model.mlm_bias.zero_()


def residual_alpha(step: int, ramp: int) -> float:
    """α at optimizer step t: min(1, t / ramp), linear from 0; ramp = 0 means α = 1 throughout."""
    if ramp < 0:
        raise ValueError(f"residual warm-up ramp must be >= 0 steps, got {ramp}")
    # α_t = min(1, t / T_ramp)
    return 1.0 if ramp == 0 else min(1.0, step / ramp)
