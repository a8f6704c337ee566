"""A small Transformer whose attention is softmax or linear, for the quality half of post 8610.

kexue.fm/archives/8610 says linear attention with the same head size loses quality; posts 8338 and
9529 say the loss is small for a causal LM and clear for a bidirectional MLM (the low-rank
bottleneck hurts most when every position sees the whole sequence). To compare like with like, both
variants share everything but the attention: pre-norm blocks (RMSNorm with gain), learned absolute
positions (RoPE does not commute with every linear kernel's normaliser, so neither variant uses it),
a GELU FFN of width 4·hidden and an output head tied to the token embedding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
import torch.nn.functional as F

from kexue.nn.attention import MultiHeadAttention, causal_mask, padding_mask
from kexue.nn.block import PreNormBlock
from kexue.nn.linear_attention import LinearAttention
from kexue.nn.norm import RMSNorm

AttentionKind = Literal["softmax", "elu", "cos", "efficient", "performer"]


@dataclass
class TinyConfig:
    vocab: int = 5000
    hidden: int = 128
    heads: int = 4
    layers: int = 2
    max_len: int = 64
    attention: AttentionKind = "softmax"
    causal: bool = True  # causal LM (True) or bidirectional MLM (False)
    dropout: float = 0.0


class Block(PreNormBlock):
    """x ← x + Attn(Norm(x)); x ← x + FFN(Norm(x)) (kexue/nn/block.py), with softmax or linear attention."""

    def __init__(self, cfg: TinyConfig):
        attn = (MultiHeadAttention(cfg.hidden, cfg.heads, dropout=cfg.dropout) if cfg.attention == "softmax"
                else LinearAttention(cfg.hidden, cfg.heads, kind=cfg.attention, causal=cfg.causal))
        super().__init__(cfg.hidden, attn, cfg.dropout)


class TinyTransformer(nn.Module):
    """Token + position embedding → blocks → norm → logits over the vocabulary (tied weights)."""

    def __init__(self, cfg: TinyConfig):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab, cfg.hidden)
        self.pos = nn.Embedding(cfg.max_len, cfg.hidden)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = RMSNorm(cfg.hidden)
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [b, n, vocab] at every position."""
        return self.logits(self.hidden(ids, lengths))

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        # logits = h Eᵀ (the output head is the token embedding)
        return F.linear(h, self.tok.weight)

    def hidden(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The final normalised hidden states [b, n, hidden]."""
        b, n = ids.shape
        if n > self.cfg.max_len:
            raise ValueError(f"ids has length {n} > max_len {self.cfg.max_len}; raise TinyConfig.max_len")
        x = self.tok(ids) + self.pos(torch.arange(n, device=ids.device))
        mask = self._mask(n, lengths, ids.device)
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)

    def _mask(self, n: int, lengths: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
        if self.cfg.attention != "softmax":
            # linear attention is causal by construction; it takes only a key padding mask
            return None if lengths is None else padding_mask(lengths, n).to(device)
        mask = causal_mask(n).to(device) if self.cfg.causal else None
        if lengths is not None:
            pad = padding_mask(lengths, n).to(device)
            mask = pad if mask is None else mask & pad
        return mask
