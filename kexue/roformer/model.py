"""RoFormerV2: a Post-Norm Transformer encoder without biases and without norm parameters.

kexue.fm/archives/8998, the architecture of bert4keras `models.RoFormerV2`:

    h₀ = Norm(Drop(E_token[ids] + E_segment[segment_ids]))                       (no absolute positions)
    x  = Norm(x + α·Drop(MHA(x)))          MHA: q, k rotated by RoPE (interleaved, base 10000), v not
    x  = Norm(x + α·Drop(W₂ relu(W₁ x)))
    logits = Drop(h) E_tokenᵀ              (the MLM head is the tied embedding: no transform, no bias)

with Norm(x) = x / sqrt(mean(x²) + ε) (RMSNorm, no γ, no β) and no bias in any Dense. α is the post's
residual warm-up (x_{t+1} = Norm(x_t + α F(x_t)), α fixed, ramped 0 → 1 by the trainer, see
pretrain.py); α = 1 is the released model. The same code path builds the `bert` baseline
(config.bert_variant: biases, LayerNorm with γ and β, learned absolute positions, GELU, MLM bias).

Masks: `mask` is a bool [b, n] of real tokens (True = may be attended to), or any bool mask
broadcastable to [b, heads, n, n]; by default the tokens whose id is pad_id are masked out, as
bert4keras does with mask_zero (JunnYu's port attends to everything unless given attention_mask).

The dropout before the head is bert4keras's `Output-MLM-Dropout` (rate = the hidden dropout); the
`bert` variant keeps it too, so that the two differ only in what the post removed.

Where we depart: nothing in the math. The embedding dropout comes before the norm as in bert4keras
(JunnYu's port puts it after; the two agree in eval mode). Under bf16 autocast the norms' statistics
stay in float32 (kexue/nn/norm.py). Only the arithmetic is arranged for speed: dropout draws its
Bernoulli(1 − p) masks with kexue.nn.attention.drop (faster on the CPU than F.dropout), an unpadded
batch gets no attention mask at all (in eager mode only: a traced graph, kexue/nn/tracing.py, always
keeps the mask, since a trace on an unpadded example would otherwise drop it for every later batch), and
the tied head's backward is written out (`_TiedHead`) so that the embedding's two gradients sum in place.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.nn.attention import Dropout, MultiHeadAttention
from kexue.nn.norm import RMSNorm
from kexue.nn.tracing import tracing
from kexue.roformer.config import RoFormerV2Config


class RoFormerV2(nn.Module):
    """ids [b, n] (+ segment_ids, mask) → hidden states h [b, n, H]; `mlm_logits(h)` → [b, n, V]."""

    def __init__(self, cfg: RoFormerV2Config | None = None, init: bool = True):
        super().__init__()
        self.cfg = cfg = (cfg or RoFormerV2Config()).check()
        self.embeddings = Embeddings(cfg)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        # the MLM head's only own parameter, and only in the bert variant
        self.mlm_bias = nn.Parameter(torch.zeros(cfg.vocab_size)) if cfg.bias else None
        self.mlm_dropout = Dropout(cfg.dropout)  # bert4keras's Output-MLM-Dropout
        self.alpha = 1.0  # the residual scale α of every block (the post's warm-up ramps it 0 → 1)
        if init:
            from kexue.roformer.init import init_weights
            init_weights(self)

    def forward(self, ids: Tensor, segment_ids: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        if ids.dim() != 2:
            raise ValueError(f"ids must be [batch, length] token ids, got shape {tuple(ids.shape)}")
        attn_mask = self.attention_mask(ids, mask)
        h = self.embeddings(ids, segment_ids)
        for layer in self.layers:
            h = layer(h, attn_mask, self.alpha)
        return h

    def mlm_logits(self, h: Tensor) -> Tensor:
        # logits = Drop(h) E_tokenᵀ (+ b in the bert variant)
        logits = _TiedHead.apply(self.mlm_dropout(h), self.embeddings.token.weight)
        return logits if self.mlm_bias is None else logits + self.mlm_bias

    def attention_mask(self, ids: Tensor, mask: Tensor | None) -> Tensor | None:
        """The bool attention mask [b, 1, 1, n] (or the given broadcastable one); None means all True."""
        if mask is None:
            keep = ids != self.cfg.pad_id
            return None if not tracing() and bool(keep.all()) else keep[:, None, None, :]
        if mask.dtype != torch.bool:
            raise TypeError(f"RoFormerV2 mask must be bool (True = real token / may attend), got {mask.dtype}; "
                            "use mask.bool() for a 1/0 attention_mask")
        if mask.dim() == 2:
            if mask.shape != ids.shape:
                raise ValueError(f"mask {tuple(mask.shape)} must have the shape of ids {tuple(ids.shape)}")
            # nothing padded: no mask at all, which lets attention take its unmasked (faster) kernel; a traced
            # graph keeps the mask (its example's values must not decide the branch for every later batch)
            return None if not tracing() and bool(mask.all()) else mask[:, None, None, :]
        return mask

    def set_alpha(self, alpha: float) -> None:
        """Set the residual scale α of x_{t+1} = Norm(x_t + α F(x_t)) for every block."""
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"residual alpha must be in [0, 1], got {alpha}")
        self.alpha = float(alpha)

    def num_params(self) -> int:
        """Unique parameters (the tied head counts once)."""
        return sum(p.numel() for p in self.parameters())


class Embeddings(nn.Module):
    def __init__(self, cfg: RoFormerV2Config):
        super().__init__()
        self.cfg = cfg
        self.token = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.segment = nn.Embedding(cfg.segment_vocab_size, cfg.hidden_size)
        self.position = nn.Embedding(cfg.max_position, cfg.hidden_size) if cfg.position == "learned" else None
        self.dropout = Dropout(cfg.dropout)
        self.norm = make_norm(cfg)

    def forward(self, ids: Tensor, segment_ids: Tensor | None = None) -> Tensor:
        # (a check of values, run eagerly only: a traced graph has no values to check)
        if not tracing() and (int(ids.max()) >= self.cfg.vocab_size or int(ids.min()) < 0):
            raise ValueError(f"token ids must lie in [0, {self.cfg.vocab_size}), got [{int(ids.min())}, "
                             f"{int(ids.max())}]; is the tokenizer's vocabulary the model's?")
        # e = E_token[ids] + E_segment[segment_ids]   (no segment_ids: all 0, one row added to every token)
        e = self.token(ids) + (self.segment.weight[0] if segment_ids is None else self.segment(segment_ids))
        if self.position is not None:
            n = ids.shape[1]
            if n > self.cfg.max_position:
                raise ValueError(f"sequence length {n} exceeds max_position {self.cfg.max_position} of the "
                                 "learned position embedding")
            # e ← e + P[0..n−1]   (bert variant only)
            e = e + self.position.weight[:n]
        # h₀ = Norm(Drop(e))
        return self.norm(self.dropout(e))


class Block(nn.Module):
    def __init__(self, cfg: RoFormerV2Config):
        super().__init__()
        self.attention = MultiHeadAttention(cfg.hidden_size, cfg.num_heads, bias=cfg.bias,
                                            rope=cfg.position == "rope", dropout=cfg.attention_dropout)
        self.attention_norm = make_norm(cfg)
        self.ffn = FeedForward(cfg)
        self.ffn_norm = make_norm(cfg)
        self.dropout = Dropout(cfg.dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None, alpha: float = 1.0) -> Tensor:
        # x = Norm(x + α·Drop(MHA(x)))   (torch.add's alpha: the scaled sum in one pass)
        x = self.attention_norm(torch.add(x, self.dropout(self.attention(x, mask)), alpha=alpha))
        # x = Norm(x + α·Drop(FFN(x)))
        return self.ffn_norm(torch.add(x, self.dropout(self.ffn(x)), alpha=alpha))


class FeedForward(nn.Module):
    def __init__(self, cfg: RoFormerV2Config):
        super().__init__()
        self.inner = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=cfg.bias)
        self.outer = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=cfg.bias)
        self.act = F.relu if cfg.activation == "relu" else F.gelu

    def forward(self, x: Tensor) -> Tensor:
        # FFN(x) = W₂ act(W₁ x)
        return self.outer(self.act(self.inner(x)))


class _TiedHead(torch.autograd.Function):
    """logits = h Eᵀ through the tied embedding E, with its gradient ∂L/∂E = gᵀ h as a fresh tensor.

    Autograd's own F.linear hands E a transposed view of gᵀ h, which the lookup's gradient E_token[ids]
    cannot be added to in place: every step would allocate and fill another [V, H] tensor. Under autocast
    the product runs in the autocast dtype, as F.linear's does, and the gradients are cast back.
    """

    @staticmethod
    def forward(ctx, h: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(h, weight)
        return F.linear(h, weight)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:
        h, weight = ctx.saved_tensors
        g = grad.reshape(-1, grad.shape[-1])
        grad_h = grad_weight = None
        if ctx.needs_input_grad[0]:
            # ∂L/∂h = g E
            grad_h = (g @ weight.to(g.dtype)).reshape(h.shape).to(h.dtype)
        if ctx.needs_input_grad[1]:
            # ∂L/∂E = gᵀ h
            grad_weight = (g.t() @ h.reshape(-1, h.shape[-1]).to(g.dtype)).to(weight.dtype)
        return grad_h, grad_weight


def make_norm(cfg: RoFormerV2Config) -> nn.Module:
    """RMSNorm without gain (RoFormerV2) or LayerNorm with γ, β (bert), both with ε = cfg.eps."""
    if cfg.norm == "rms":
        return RMSNorm(cfg.hidden_size, eps=cfg.eps, gain=False)
    return nn.LayerNorm(cfg.hidden_size, eps=cfg.eps)
