"""The deep LRU of the paper's Fig. 1 and App. D, with any mixer of `mixers.py` in its blocks.

kexue.fm/archives/9554. Linear encoder (or an embedding, for tokens) to H; `depth` residual blocks

    z = Norm(x) → mixer → GELU → dropout → W₁z ⊙ σ(W₂z) (GLU) → dropout,   x ← x + z

then pooling over time (mean for classification, none for per-token tasks) and a linear decoder.
Defaults are the paper's ListOps row of Table 9: H = 128, N = 256, depth 6, dropout 0, r ∈ [0, 0.99],
max_phase 2π, BatchNorm, pre-norm. `param_groups` gives ν, θ, γ and B (the paper's "SSM" parameters)
lr × lr_factor and no weight decay, everything else lr and weight decay. `DeepModel.step` runs a
per-token model (LRU or SLRU mixers, eval mode) one token at a time with O(1) state per block.

Where we depart: BatchNorm is the paper's choice; at batch sizes of a few examples it is noisy, so
`norm="layer"` is offered (minimal-LRU offers it too). Padded token positions (ListOps) are left
out of the mean pooling; the paper's pipeline (S5's) pools over the padding as well.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.lru.mixers import MIXERS, build_mixer


@dataclass
class ModelConfig:
    model: str = "lru"  # one of mixers.MIXERS
    d_model: int = 128  # H (Table 9, ListOps)
    d_state: int = 256  # N
    depth: int = 6
    dropout: float = 0.0
    r_min: float = 0.0
    r_max: float = 0.99
    max_phase: float = 2 * math.pi
    norm: Literal["batch", "layer"] = "batch"  # the paper: BatchNorm, pre-norm
    bidirectional: bool = False  # Pathfinder / PathX in the paper
    heads: int = 4  # transformer only
    scan: str = "chunked"  # kexue.nn.scan method
    lr_factor: float = 0.5  # the "SSM" parameters' LR factor (Table 9, ListOps)

    def __post_init__(self) -> None:
        if self.model not in MIXERS:
            raise ValueError(f"ModelConfig.model={self.model!r}: choose one of {', '.join(MIXERS)}")
        if self.norm not in ("batch", "layer"):
            raise ValueError(f"ModelConfig.norm={self.norm!r}: choose batch or layer")
        for name in ("d_model", "d_state", "depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"ModelConfig.{name}={getattr(self, name)}: must be ≥ 1")


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, causal: bool):
        super().__init__()
        h = cfg.d_model
        self.norm = nn.BatchNorm1d(h) if cfg.norm == "batch" else nn.LayerNorm(h)
        self.mixer = build_mixer(cfg.model, h, cfg.d_state, r_min=cfg.r_min, r_max=cfg.r_max,
                                 max_phase=cfg.max_phase, bidirectional=cfg.bidirectional, causal=causal,
                                 heads=cfg.heads, scan=cfg.scan)
        self.glu_1, self.glu_2 = nn.Linear(h, h), nn.Linear(h, h)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        z = self.norm(x.transpose(1, 2)).transpose(1, 2) if isinstance(self.norm, nn.BatchNorm1d) else self.norm(x)
        return x + self._channel(self.mixer(z))

    def step(self, x_t: Tensor, state: Tensor | None) -> tuple[Tensor, Tensor]:
        if not hasattr(self.mixer, "step"):
            raise ValueError(f"DeepModel.step: the {type(self.mixer).__name__} mixer cannot stream; "
                             "use model=lru or slru")
        z, state = self.mixer.step(self.norm(x_t), state)
        return x_t + self._channel(z), state

    def _channel(self, z: Tensor) -> Tensor:
        z = self.dropout(F.gelu(z))
        # GLU: W₁z ⊙ σ(W₂z)
        return self.dropout(self.glu_1(z) * torch.sigmoid(self.glu_2(z)))


class DeepModel(nn.Module):
    """x [B, L] token ids (vocab_size > 0) or [B, L, d_input] → logits [B, d_output] or [B, L, d_output]."""

    def __init__(self, cfg: ModelConfig, d_output: int, *, d_input: int = 0, vocab_size: int = 0,
                 pooling: Literal["mean", "none"] = "mean"):
        super().__init__()
        if (d_input > 0) == (vocab_size > 0):
            raise ValueError(f"DeepModel: give exactly one of d_input ({d_input}) and vocab_size ({vocab_size})")
        if pooling not in ("mean", "none"):
            raise ValueError(f"DeepModel: pooling={pooling!r} is not mean or none")
        self.cfg, self.pooling, self.vocab_size = cfg, pooling, vocab_size
        self.encoder = nn.Embedding(vocab_size, cfg.d_model) if vocab_size else nn.Linear(d_input, cfg.d_model)
        # per-token outputs must not read the future: causal attention, one-way recurrences
        self.blocks = nn.ModuleList(Block(cfg, causal=pooling == "none") for _ in range(cfg.depth))
        self.decoder = nn.Linear(cfg.d_model, d_output)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        h = self.encoder(x)
        for block in self.blocks:
            h = block(h)
        if self.pooling == "none":
            return self.decoder(h)
        if lengths is None:
            return self.decoder(h.mean(1))
        # mean over the real (unpadded) positions
        keep = (torch.arange(h.shape[1], device=h.device)[None, :] < lengths[:, None]).to(h.dtype)
        return self.decoder((h * keep[..., None]).sum(1) / lengths[:, None].clamp_min(1).to(h.dtype))

    def step(self, x_t: Tensor, states: list[Tensor | None] | None = None) -> tuple[Tensor, list[Tensor]]:
        """One token of a per-token model (pooling="none") in eval mode: O(1) work and memory per token.

        x_t [B] token ids or [B, d_input]; states from the previous call (None at the start)."""
        if self.pooling != "none":
            raise ValueError("DeepModel.step: a pooled model sees the whole sequence; stream only pooling='none'")
        if self.training:
            raise ValueError("DeepModel.step: call model.eval() first (BatchNorm and dropout act per batch "
                             "when training)")
        h = self.encoder(x_t)
        states = states or [None] * len(self.blocks)
        new_states = []
        for block, state in zip(self.blocks, states):
            h, state = block.step(h, state)
            new_states.append(state)
        return self.decoder(h), new_states


SSM_NAMES = ("nu_log", "theta_log", "gamma_log", "B_re", "B_im", "B", "A", "nu", "theta", "lambda_re", "lambda_im")


def param_groups(weight_decay: float, lr_factor: float):
    """The paper's optimiser groups: ν, θ, γ, B at lr × lr_factor without weight decay; the rest as usual."""

    def groups(model: nn.Module) -> list[dict]:
        ssm, decay, plain = [], [], []
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            leaf = name.rsplit(".", 1)[-1]
            if ".mixer." in name and leaf in SSM_NAMES and "rnn" not in name:
                ssm.append(p)
            elif p.ndim < 2 or "norm" in name:
                plain.append(p)
            else:
                decay.append(p)
        return [g for g in ({"params": ssm, "lr_scale": lr_factor, "weight_decay": 0.0},
                            {"params": decay, "lr_scale": 1.0, "weight_decay": weight_decay},
                            {"params": plain, "lr_scale": 1.0, "weight_decay": 0.0}) if g["params"]]

    return groups
