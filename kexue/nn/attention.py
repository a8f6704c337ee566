"""Multi-head scaled dot-product attention and the attention masks of the posts.

kexue.fm/archives/8610 counts its cost (per head QKᵀ and AV are n²d multiplications each);
kexue.fm/archives/9529 compares decoder-only attention patterns, which are the masks here:
bidirectional, causal, prefix (UniLM: the prefix sees itself both ways, the rest is causal),
backward (anti-causal: t sees t..n−1) and mixed (some heads forward, some backward), and the
encoder-decoder's cross-attention (`CrossAttention`: queries from the decoder, keys and values from
the encoder's output).

    Attention(Q, K, V) = softmax(QKᵀ/√d + M) V,   M_ij = 0 where mask_ij is True, −∞ elsewhere

Masks are boolean, True = may attend, broadcastable to [b, heads, n, n]. The core runs on
`torch.nn.functional.scaled_dot_product_attention` (SDPA), which never materialises the n×n
matrix on its fused paths; `naive_attention` is the materialised formula, kept as a reference.
With `rope=True`, q and k are rotated by RoPE (kexue.fm/archives/8265) before the product.

Where we depart: a query row whose mask is all False has no defined softmax (0/0); the posts never
meet one (a padding mask always leaves [CLS]), but a prefix mask of length 0 on a backward head
or an all-padding sequence can. We return 0 for such a row and let no gradient through it.
bert4keras adds −1e12 (its `-inf` is K.infinity() = 1e12) to masked scores, padding and the causal /
UniLM triangle alike; we mask with −∞. The two give the same softmax whenever a row keeps a cell
(e^{−1e12} underflows to 0); they differ only on an all-masked row, which bert4keras averages
uniformly and we set to 0.
On the CPU, training-mode dropout on the probabilities makes SDPA fall back to its unfused math path;
we run the same formula ourselves there (`_attention_with_dropout`), in fewer passes, with `drop`
below, which draws the same Bernoulli(1 − p) keep-mask as `F.dropout` about twice as fast.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.nn.rope import RoPE


def _head_size(hidden: int, heads: int, head_size: int | None) -> int:
    """The head size: as given, else hidden / heads (which must divide)."""
    if head_size is not None:
        return head_size
    if hidden % heads:
        raise ValueError(f"hidden {hidden} is not divisible by heads {heads}; pass head_size")
    return hidden // heads


class MultiHeadAttention(nn.Module):
    """Self-attention: x [b, n, hidden] → [b, n, hidden], heads of size head_size (hidden/heads by default)."""

    def __init__(self, hidden: int, heads: int, head_size: int | None = None, bias: bool = True,
                 rope: bool = False, dropout: float = 0.0):
        super().__init__()
        head_size = _head_size(hidden, heads, head_size)
        self.hidden, self.heads, self.head_size, self.dropout = hidden, heads, head_size, dropout
        inner = heads * head_size
        self.q = nn.Linear(hidden, inner, bias=bias)
        self.k = nn.Linear(hidden, inner, bias=bias)
        self.v = nn.Linear(hidden, inner, bias=bias)
        self.o = nn.Linear(inner, hidden, bias=bias)
        self.rope = RoPE(head_size) if rope else None

    def forward(self, x: Tensor, mask: Tensor | None = None, offset: int = 0) -> Tensor:
        b, n, _ = x.shape
        # q, k, v: [b, heads, n, head_size]
        q, k, v = (proj(x).view(b, n, self.heads, self.head_size).transpose(1, 2)
                   for proj in (self.q, self.k, self.v))
        if self.rope is not None:
            q, k = self.rope(q, offset), self.rope(k, offset)
        dropout = self.dropout if self.training else 0.0
        out = attention(q, k, v, mask, dropout=dropout)
        return self.o(out.transpose(1, 2).reshape(b, n, self.heads * self.head_size))


class CrossAttention(nn.Module):
    """Cross-attention of an encoder-decoder: queries from x [b, n, hidden], keys and values from the
    encoder's output `memory` [b, m, memory_size] (memory_size = hidden by default).

        CrossAttention(x, M) = softmax(Q Kᵀ/√d + M_pad) V,   Q = x W_q, K = M W_k, V = M W_v

    No RoPE: a query position and a memory position live in different sequences (T5 likewise puts
    its relative positions only in self-attention). `mask` is a [b, 1, 1, m] key padding mask
    (`padding_mask`) or anything broadcastable to [b, heads, n, m]. `memory_kv(memory)` projects the
    memory once, so that step-by-step decoding passes `kv=` instead of re-projecting it every token.
    """

    def __init__(self, hidden: int, heads: int, head_size: int | None = None, bias: bool = True,
                 dropout: float = 0.0, memory_size: int | None = None):
        super().__init__()
        head_size = _head_size(hidden, heads, head_size)
        self.hidden, self.heads, self.head_size, self.dropout = hidden, heads, head_size, dropout
        inner = heads * head_size
        memory_size = memory_size or hidden
        self.q = nn.Linear(hidden, inner, bias=bias)
        self.k = nn.Linear(memory_size, inner, bias=bias)
        self.v = nn.Linear(memory_size, inner, bias=bias)
        self.o = nn.Linear(inner, hidden, bias=bias)

    def memory_kv(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """K, V of the memory, each [b, heads, m, head_size]."""
        b, m, _ = memory.shape
        return tuple(proj(memory).view(b, m, self.heads, self.head_size).transpose(1, 2)
                     for proj in (self.k, self.v))

    def forward(self, x: Tensor, memory: Tensor | None = None, mask: Tensor | None = None,
                kv: tuple[Tensor, Tensor] | None = None) -> Tensor:
        if (memory is None) == (kv is None):
            raise ValueError("CrossAttention needs exactly one of `memory` [b, m, hidden] and `kv` (from memory_kv)")
        b, n, _ = x.shape
        k, v = kv if kv is not None else self.memory_kv(memory)
        q = self.q(x).view(b, n, self.heads, self.head_size).transpose(1, 2)
        dropout = self.dropout if self.training else 0.0
        out = attention(q, k, v, mask, dropout=dropout)
        return self.o(out.transpose(1, 2).reshape(b, n, self.heads * self.head_size))


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, dropout: float = 0.0) -> Tensor:
    """softmax(QKᵀ/√d + M) V on SDPA for q, k [b, h, n, d], v [b, h, n, e]; fully masked rows give 0.

    `dropout` is the probability of dropping an attention weight (pass 0 in eval mode).
    """
    if 0.0 < dropout < 1.0 and q.device.type == "cpu" and q.dtype in (torch.float32, torch.float64):
        # SDPA would take its unfused math path here anyway (and upcast half precision, so we leave that to it)
        return _attention_with_dropout(q, k, v, mask, dropout)
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
    _check_mask(mask)
    # a row with nothing to attend to: let it see everything, then zero its output
    seen = mask.any(dim=-1, keepdim=True)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask | ~seen, dropout_p=dropout)
    return out.masked_fill(~seen, 0.0)


def naive_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """The materialised formula softmax(QKᵀ/√d + M) V, with an explicit n×n matrix (the reference)."""
    # S = QKᵀ / √d
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is None:
        return torch.softmax(scores, dim=-1) @ v
    _check_mask(mask)
    seen = mask.any(dim=-1, keepdim=True)
    scores = scores.masked_fill(~(mask | ~seen), float("-inf"))
    # A = softmax(S + M); out = A V
    return (torch.softmax(scores, dim=-1) @ v).masked_fill(~seen, 0.0)


def drop(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Inverted dropout y = x · m / (1 − p), m_i ~ Bernoulli(1 − p): the distribution of `F.dropout`.

    On the CPU, for float32/float64, m_i = [u_i ≥ p] with u_i ~ U[0, 1) from torch's global generator:
    one `uniform_` pass, about twice as fast as the `bernoulli_` that `F.dropout` draws with. Elsewhere
    (CUDA's fused kernel, half precision whose uniform grid is too coarse) it is `F.dropout` itself.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or p == 1.0:
        return F.dropout(x, p, training)
    # m / (1 − p), written into the uniform draws in place
    noise = torch.empty_like(x).uniform_().ge_(p).div_(1 - p)
    return x * noise


class Dropout(nn.Dropout):
    """`nn.Dropout` drawing its mask with `drop` above (same distribution, faster on the CPU)."""

    def forward(self, x: Tensor) -> Tensor:
        return drop(x, self.p, self.training)


def bidirectional_mask(n: int, device: torch.device | None = None) -> Tensor:
    """[n, n], all True: every position sees every position."""
    return torch.ones(n, n, dtype=torch.bool, device=device)


def causal_mask(n: int, device: torch.device | None = None) -> Tensor:
    """[n, n], True where j ≤ i: position i sees 0..i."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


def backward_mask(n: int, device: torch.device | None = None) -> Tensor:
    """[n, n], True where j ≥ i: position i sees i..n−1 (anti-causal)."""
    return torch.ones(n, n, dtype=torch.bool, device=device).triu()


def prefix_mask(n: int, prefix_len: int | Tensor, device: torch.device | None = None) -> Tensor:
    """UniLM prefix-LM: True where j ≤ i or j < prefix_len. [n, n] for an int, [b, 1, n, n] for a [b] tensor."""
    i = torch.arange(n, device=device)[:, None]
    j = torch.arange(n, device=device)[None, :]
    if isinstance(prefix_len, Tensor):
        if prefix_len.dim() != 1:
            raise ValueError(f"prefix_len must be an int or a [b] tensor, got shape {tuple(prefix_len.shape)}")
        prefix = prefix_len.to(device=j.device)[:, None, None, None]
        # the prefix 0..p−1 is bidirectional, the rest causal
        return (j <= i) | (j < prefix)
    if prefix_len < 0:
        raise ValueError(f"prefix_len must be >= 0, got {prefix_len}")
    return (j <= i) | (j < prefix_len)


def mixed_mask(n: int, forward: list[bool], device: torch.device | None = None) -> Tensor:
    """[heads, n, n]: head h is causal where forward[h] is True, backward (anti-causal) where False."""
    if len(forward) == 0:
        raise ValueError("mixed_mask needs one entry of `forward` per head, got an empty list")
    is_forward = torch.tensor(forward, dtype=torch.bool, device=device)[:, None, None]
    return torch.where(is_forward, causal_mask(n, device), backward_mask(n, device))


def padding_mask(lengths: Tensor, n: int) -> Tensor:
    """[b, 1, 1, n] key mask: True where the key index j < lengths[b]."""
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be a [b] tensor of sequence lengths, got shape {tuple(lengths.shape)}")
    j = torch.arange(n, device=lengths.device)
    return (j[None, :] < lengths[:, None])[:, None, None, :]


def combine(*masks: Tensor | None) -> Tensor | None:
    """The logical and of the given masks (broadcast); None entries are skipped, all None gives None."""
    out = None
    for mask in masks:
        if mask is None:
            continue
        _check_mask(mask)
        out = mask if out is None else out & mask
    return out


def _attention_with_dropout(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, p: float) -> Tensor:
    """softmax(QKᵀ/√d + M) V with dropout on the probabilities, materialised (as SDPA's CPU math path is)."""
    # S = (Q/√d) Kᵀ: the scale on Q costs n·d multiplications, on S it would cost n²
    scores = (q * (1.0 / math.sqrt(q.shape[-1]))) @ k.transpose(-1, -2)
    seen = None
    if mask is not None:
        _check_mask(mask)
        # a row with nothing to attend to: let it see everything, then zero its output (as `attention`)
        seen = mask.any(dim=-1, keepdim=True)
        scores = scores.masked_fill(~(mask | ~seen), float("-inf"))
    # Drop(A) V = (A ⊙ m / (1 − p)) V = (A ⊙ m)(V / (1 − p)), m_ij = [u_ij ≥ p] ~ Bernoulli(1 − p) as in
    # `drop`; the scale moves onto V (n·d multiplications instead of n²)
    probs = torch.softmax(scores, dim=-1)
    keep = torch.empty_like(probs).uniform_().ge_(p)
    out = (probs * keep) @ (v * (1.0 / (1.0 - p)))
    return out if seen is None else out.masked_fill(~seen, 0.0)


def _check_mask(mask: Tensor) -> None:
    if mask.dtype != torch.bool:
        raise TypeError(f"attention mask must be a bool tensor (True = may attend), got dtype {mask.dtype}")
