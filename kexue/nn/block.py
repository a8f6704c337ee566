"""The pre-norm Transformer block: x ← x + Attn(Norm(x)); x ← x + FFN(Norm(x)).

The block the attention topic's TinyTransformer (kexue.fm/archives/8610) and GPLinker's from-scratch
TinyEncoder (kexue.fm/archives/8926) both use, written once: RMSNorm with gain before each half, any
attention module called as attn(x, mask=mask), and a GELU FFN of width 4·hidden with dropout after it.
Its parameter names (norm1, attn, norm2, ffn.0, ffn.2) are the attention topic's, so its runs still load.
"""
from __future__ import annotations

from torch import Tensor, nn

from kexue.nn.norm import RMSNorm


class PreNormBlock(nn.Module):
    """x ← x + Attn(Norm(x)); x ← x + FFN(Norm(x)), FFN = Linear(h, 4h) → GELU → Linear(4h, h) → Dropout."""

    def __init__(self, hidden: int, attn: nn.Module, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(hidden), RMSNorm(hidden)
        self.attn = attn
        self.ffn = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Linear(4 * hidden, hidden),
                                 nn.Dropout(dropout))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        # x ← x + Attn(Norm(x))
        x = x + self.attn(self.norm1(x), mask=mask)
        # x ← x + FFN(Norm(x))
        return x + self.ffn(self.norm2(x))
