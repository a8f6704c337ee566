"""GlobalPointer and Efficient GlobalPointer: a score for every token pair (i, j) and type α.

kexue.fm/archives/8373 (GlobalPointer, GP) and kexue.fm/archives/8877 (Efficient GlobalPointer, EGP).
From hidden states h_1..h_n of an encoder, a span i..j has type α iff s_α(i, j) > 0, where

    GP:   q_{i,α} = W_{q,α} h_i + b_{q,α},  k_{i,α} = W_{k,α} h_i + b_{k,α}
          s_α(i, j) = (R_i q_{i,α})ᵀ (R_j k_{j,α}) / √d
    EGP:  p_i = W_p h_i + b_p  (2d numbers),  q_i = p_i[0::2],  k_i = p_i[1::2]
          s_α(i, j) = (R_i q_i)ᵀ (R_j k_j) / √d + w_αᵀ [q_i; k_i; q_j; k_j]

with R the interleaved RoPE of kexue/nn/rope.py (so the product depends on j − i only), d the head
size (64 in the posts). EGP shares the extraction q·k over all types and adds only the cheap
per-type term, 4d parameters per type instead of GP's 2Dd. The per-type term is computed as
bert4keras does it: one dense layer from the 2d-dim, *pre-RoPE* p to 2 numbers per type, halved,

    bias = W_b p_i / 2,   s_α(i, j) += bias_{2α}(j) + bias_{2α+1}(i)

which is w_αᵀ[q_i; k_i; q_j; k_j] (+ a constant) written with two dense halves (p_i holds q_i, k_i).
Some ports take this bias from the D-dim h instead (the post's first, D-dim variant); we keep p.

Output [b, heads, n, n]. Padded rows and columns (mask False) and, with tril_mask, the strictly lower
triangle i > j are −inf. Where we depart: bert4keras/bert4torch subtract 1e12 for the triangle, we
write −inf, so masked cells drop out of the multilabel loss exactly (kexue/nn/losses.py) and a masked
cell can never read as positive. The layout of W (GP: per head [q | k], EGP: q and k interleaved in
p) is bert4keras's, so weights trained there load here unchanged.

Initialisation as bert4keras's layers (its `kernel_initializer='lecun_normal'`, Keras's zero bias),
not torch's Linear default (kaiming-uniform with a = √5, variance 1/(3·fan_in), and a nonzero bias):
every kernel W is drawn from Keras's lecun_normal, a normal truncated at ±2σ with
σ = √(1/fan_in) / 0.87962566103423978 (the constant makes the truncated variance exactly 1/fan_in),
and every bias starts at 0.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from kexue.nn.init import trunc_normal_
from kexue.nn.rope import RoPE


class GlobalPointer(nn.Module):
    """Post 8373's GP: h [b, n, hidden] (+ mask [b, n], True = token) → s [b, heads, n, n]."""

    def __init__(self, hidden: int, heads: int, head_size: int = 64, rope: bool = True,
                 tril_mask: bool = True, bias: bool = True):
        super().__init__()
        _check_sizes("GlobalPointer", hidden, heads, head_size)
        self.hidden, self.heads, self.head_size = hidden, heads, head_size
        self.tril_mask = tril_mask
        # one dense layer, its output split per head into [q | k] (bert4keras's layout)
        self.dense = nn.Linear(hidden, heads * 2 * head_size, bias=bias)
        self.rope = RoPE(head_size) if rope else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        keras_dense_init_(self.dense)

    def forward(self, h: Tensor, mask: Tensor | None = None) -> Tensor:
        b, n, _ = h.shape
        d = self.head_size
        # [q_α | k_α] per head: [b, heads, n, 2d]
        qk = self.dense(h).view(b, n, self.heads, 2 * d).transpose(1, 2)
        q, k = qk[..., :d], qk[..., d:]
        if self.rope is not None:
            # R_i q_i, R_j k_j
            q, k = self.rope(q), self.rope(k)
        # s_α(i, j) = (R_i q_i)ᵀ (R_j k_j) / √d
        s = q @ k.transpose(-1, -2) / math.sqrt(d)
        return mask_pairs(s, mask, self.tril_mask)

    def extra_repr(self) -> str:
        return (f"hidden={self.hidden}, heads={self.heads}, head_size={self.head_size}, "
                f"rope={self.rope is not None}, tril_mask={self.tril_mask}")


class EfficientGlobalPointer(nn.Module):
    """Post 8877's EGP: h [b, n, hidden] (+ mask [b, n], True = token) → s [b, heads, n, n]."""

    def __init__(self, hidden: int, heads: int, head_size: int = 64, rope: bool = True,
                 tril_mask: bool = True, bias: bool = True):
        super().__init__()
        _check_sizes("EfficientGlobalPointer", hidden, heads, head_size)
        self.hidden, self.heads, self.head_size = hidden, heads, head_size
        self.tril_mask = tril_mask
        # p_i = W_p h_i + b_p, shared by all types
        self.p_dense = nn.Linear(hidden, 2 * head_size, bias=bias)
        # the per-type term: 2 numbers per type from p (4d weights per type, w_α)
        self.q_dense = nn.Linear(2 * head_size, 2 * heads, bias=bias)
        self.rope = RoPE(head_size) if rope else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        keras_dense_init_(self.p_dense)
        keras_dense_init_(self.q_dense)

    def forward(self, h: Tensor, mask: Tensor | None = None) -> Tensor:
        p = self.p_dense(h)
        # q_i = p_i[0::2], k_i = p_i[1::2]: [b, n, d]
        q, k = p[..., 0::2], p[..., 1::2]
        if self.rope is not None:
            q, k = self.rope(q), self.rope(k)
        # the shared extraction score (R_i q_i)ᵀ (R_j k_j) / √d: [b, 1, n, n]
        s = (q @ k.transpose(-1, -2) / math.sqrt(self.head_size)).unsqueeze(1)
        # bias = W_b p / 2 from the pre-RoPE p: [b, 2·heads, n]
        bias = (self.q_dense(p) / 2).transpose(1, 2)
        # s_α(i, j) += bias_{2α}(j) + bias_{2α+1}(i)
        s = s + bias[:, 0::2, None, :] + bias[:, 1::2, :, None]
        return mask_pairs(s, mask, self.tril_mask)

    def extra_repr(self) -> str:
        return (f"hidden={self.hidden}, heads={self.heads}, head_size={self.head_size}, "
                f"rope={self.rope is not None}, tril_mask={self.tril_mask}")


# the standard deviation of a unit normal truncated at ±2: σ ← σ / 0.8796 keeps the variance after truncation
TRUNCATED_STD = 0.87962566103423978


@torch.no_grad()
def lecun_normal_(weight: Tensor) -> Tensor:
    """Keras's lecun_normal on a torch weight [out, in]: N(0, σ²) truncated at ±2σ, σ = √(1/in) / 0.8796,
    so Var = 1/fan_in."""
    fan_in = weight.shape[1]
    # σ = √(1 / fan_in) / 0.87962566103423978
    std = math.sqrt(1.0 / fan_in) / TRUNCATED_STD
    return trunc_normal_(weight, std)


@torch.no_grad()
def keras_dense_init_(layer: nn.Linear) -> None:
    """bert4keras's Dense(kernel_initializer='lecun_normal'): lecun_normal kernel, zero bias."""
    lecun_normal_(layer.weight)
    if layer.bias is not None:
        layer.bias.zero_()


def mask_pairs(s: Tensor, mask: Tensor | None, tril_mask: bool) -> Tensor:
    """s [b, heads, n, n] with −inf where row i or column j is padding, and (tril_mask) where i > j."""
    n = s.shape[-1]
    keep = None
    if mask is not None:
        if mask.dim() != 2 or mask.shape != (s.shape[0], n):
            raise ValueError(f"mask has shape {tuple(mask.shape)}; expected [batch, n] = [{s.shape[0]}, {n}], "
                             "True (or 1) at real tokens")
        m = mask.bool()
        # cell (i, j) is kept iff both i and j are real tokens
        keep = (m[:, :, None] & m[:, None, :])[:, None]
    if tril_mask:
        # keep i ≤ j (the upper triangle with its diagonal)
        upper = torch.ones(n, n, dtype=torch.bool, device=s.device).triu()
        keep = upper if keep is None else keep & upper
    return s if keep is None else s.masked_fill(~keep, -torch.inf)


def _check_sizes(name: str, hidden: int, heads: int, head_size: int) -> None:
    if hidden < 1 or heads < 1:
        raise ValueError(f"{name}: hidden={hidden} and heads={heads} must be positive")
    if head_size < 2 or head_size % 2:
        raise ValueError(f"{name}: head_size={head_size} must be a positive even number (RoPE rotates pairs)")
