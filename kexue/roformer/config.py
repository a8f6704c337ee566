"""RoFormerV2 settings: the three released sizes, any custom size, and the `bert` baseline variant.

kexue.fm/archives/8998. The released checkpoints (ZhuiyiTechnology/roformer-v2) are char-level with a
12000-token vocabulary; `small`, `base` and `large` below are their shapes. The post's simplifications
are fields here, so that `bert_variant(cfg)` can undo all of them in the same code path:

    RoFormerV2: no bias, RMSNorm without gain, RoPE on q/k, ReLU FFN, tied MLM head without bias
    bert:       biases, LayerNorm with gain and offset, learned absolute positions, GELU, MLM bias

Where we depart: bert4keras has `embedding_size` (a Dense mapping when it differs from hidden_size); no
released size uses it, so we leave it out.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal


@dataclass
class RoFormerV2Config:
    vocab_size: int = 12000         # the released char-level vocabulary
    hidden_size: int = 768          # H
    num_layers: int = 12            # L
    num_heads: int = 12             # heads of size H / heads
    intermediate_size: int = 3072   # FFN width
    segment_vocab_size: int = 2     # token-type (segment) embeddings, as BERT
    dropout: float = 0.1            # hidden dropout (after embeddings, attention and FFN)
    attention_dropout: float = 0.1  # dropout on the attention probabilities
    eps: float = 1e-12              # RMSNorm ε of the PyTorch ports (bert4keras ≥ RoFormerV2: 1e-7; see nn/norm.py)
    pad_id: int = 0                 # ids equal to this are masked out of attention by default
    # the simplifications of the post; bert_variant() flips all of them
    bias: bool = False                                  # biases in every Dense
    norm: Literal["rms", "layer"] = "rms"               # RMSNorm without gain, or LayerNorm with γ, β
    position: Literal["rope", "learned"] = "rope"       # RoPE on q, k, or learned absolute positions
    activation: Literal["relu", "gelu"] = "relu"        # FFN activation
    max_position: int = 512         # only used by position="learned"

    def check(self) -> "RoFormerV2Config":
        if self.hidden_size % self.num_heads:
            raise ValueError(f"RoFormerV2Config: hidden_size {self.hidden_size} is not divisible by "
                             f"num_heads {self.num_heads}")
        if (self.hidden_size // self.num_heads) % 2 and self.position == "rope":
            raise ValueError(f"RoFormerV2Config: head size {self.hidden_size // self.num_heads} must be even "
                             "for RoPE; change hidden_size or num_heads")
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"RoFormerV2Config.{name} must be positive, got {getattr(self, name)}")
        if self.norm not in ("rms", "layer"):
            raise ValueError(f"RoFormerV2Config.norm must be 'rms' or 'layer', got {self.norm!r}")
        if self.position not in ("rope", "learned"):
            raise ValueError(f"RoFormerV2Config.position must be 'rope' or 'learned', got {self.position!r}")
        if self.activation not in ("relu", "gelu"):
            raise ValueError(f"RoFormerV2Config.activation must be 'relu' or 'gelu', got {self.activation!r}")
        return self

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads


SIZES = {
    "small": dict(hidden_size=384, num_layers=6, num_heads=6, intermediate_size=1536),
    "base": dict(hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072),
    "large": dict(hidden_size=1024, num_layers=24, num_heads=16, intermediate_size=4096),
}

# parameters with the tied MLM head, vocab 12000: V·H + 2H + L·(4H² + 2·H·FFN)   (no bias, no gain)
PARAMS = {"small": 15_225_600, "base": 94_152_192, "large": 314_279_936}


def preset(size: str, **changes) -> RoFormerV2Config:
    """The config of a released size (small, base, large) with any field changed."""
    if size not in SIZES:
        raise ValueError(f"unknown RoFormerV2 size {size!r}; choose one of {', '.join(SIZES)}")
    return RoFormerV2Config(**{**SIZES[size], **changes}).check()


def bert_variant(cfg: RoFormerV2Config) -> RoFormerV2Config:
    """The same shape with the post's simplifications undone: a BERT/RoBERTa-style baseline."""
    return replace(cfg, bias=True, norm="layer", position="learned", activation="gelu").check()


def count_params(cfg: RoFormerV2Config) -> int:
    """The closed-form parameter count of the encoder (tied MLM head), for any variant."""
    H, L, F, V = cfg.hidden_size, cfg.num_layers, cfg.intermediate_size, cfg.vocab_size
    # embeddings: token V·H + segment S·H
    n = V * H + cfg.segment_vocab_size * H
    # attention 4H² and FFN 2·H·F per layer
    per_layer = 4 * H * H + 2 * H * F
    if cfg.bias:
        # biases of q, k, v, o (4H), FFN in (F) and out (H)
        per_layer += 4 * H + F + H
        n += V  # the MLM output bias
    if cfg.norm == "layer":
        per_layer += 2 * 2 * H  # γ, β of two norms per layer
        n += 2 * H  # the embedding norm
    if cfg.position == "learned":
        n += cfg.max_position * H
    return n + L * per_layer
