"""The GPLinker models: any encoder (ids, mask → hidden [b, n, D]) with GlobalPointer heads on top.

kexue.fm/archives/8926 (events: argu EGP with one head per (type, role) label, RoPE, upper triangle;
head-link and tail-link EGPs with one head, no RoPE, upper triangle), kexue.fm/archives/8888
(relations: entity GP with 2 heads; head and tail GPs with one head per predicate, no RoPE, no
triangle mask) and kexue.fm/archives/8373 (NER: one head per type). The posts use EGP everywhere in
the event and relation code (head_size 64); `pointer="gp"` swaps in the standard GP.

Where we depart: the posts' encoder is a pretrained BERT/RoFormer; the quick preset has none, so
`TinyEncoder` is a small from-scratch Transformer (pre-norm, RoPE self-attention, GELU FFN) built
from kexue.nn. Any module with `hidden_size` and `forward(ids, mask)` plugs in (`Encoder`); a kexue
RoFormerV2 or an HF checkpoint does through encoders.py (`--encoder PATH`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from torch import Tensor, nn

from kexue.nn.attention import MultiHeadAttention
from kexue.nn.block import PreNormBlock
from kexue.nn.global_pointer import EfficientGlobalPointer, GlobalPointer
from kexue.nn.norm import RMSNorm


class Encoder(Protocol):
    hidden_size: int

    def __call__(self, ids: Tensor, mask: Tensor) -> Tensor: ...


@dataclass
class EncoderConfig:
    kind: Literal["tiny", "roformer", "hf"] = "tiny"  # from scratch, a kexue RoFormerV2, a transformers model
    # TinyEncoder's shape (kind="tiny" only)
    vocab: int = 6000
    hidden: int = 128
    heads: int = 4
    layers: int = 2
    dropout: float = 0.0
    # a pretrained encoder (see encoders.py): its config, and how its vocab.txt is read
    model: dict[str, Any] = field(default_factory=dict)  # roformer: RoFormerV2Config; hf: its config.json
    source: str = ""  # the --encoder folder it was loaded from (a record only; never read again)
    tokenizer: Literal["char", "wordpiece", "hf"] = "char"  # hf: the checkpoint's own tokenizer.json
    lowercase: bool = True  # wordpiece only
    nfkc: bool = True  # wordpiece only
    # lexicon features added to the token embedding (lexicon.py): "" = none, else the lexicon's source
    # (jieba+peoples-daily); a run keeps the lexicon itself as lexicon.txt
    lexicon: str = ""
    # bigram embeddings of this size added to the token embedding (bigrams.py): 0 = none; counted on the
    # training texts, a run keeps its table as bigrams.txt
    bigrams: int = 0


@dataclass
class HeadConfig:
    pointer: Literal["egp", "gp"] = "egp"  # the posts' code uses EGP
    head_size: int = 64  # d, the posts' value


class TinyEncoder(nn.Module):
    """Token embedding → `layers` pre-norm blocks (kexue/nn/block.py: RoPE attention, GELU FFN) → RMSNorm."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg, self.hidden_size = cfg, cfg.hidden
        self.embed = nn.Embedding(cfg.vocab, cfg.hidden)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.blocks = nn.ModuleList(
            PreNormBlock(cfg.hidden, MultiHeadAttention(cfg.hidden, cfg.heads, rope=True, dropout=cfg.dropout))
            for _ in range(cfg.layers))
        self.norm = RMSNorm(cfg.hidden)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        x = self.embed(ids)
        # keys that are real tokens: [b, 1, 1, n]
        key_mask = mask.bool()[:, None, None, :]
        for block in self.blocks:
            x = block(x, key_mask)
        return self.norm(x)


def pointer(cfg: HeadConfig, hidden: int, heads: int, rope: bool = True, tril_mask: bool = True) -> nn.Module:
    cls = EfficientGlobalPointer if cfg.pointer == "egp" else GlobalPointer
    return cls(hidden, heads, cfg.head_size, rope=rope, tril_mask=tril_mask)


class EventModel(nn.Module):
    """→ (argu [b, labels, n, n], head [b, 1, n, n], tail [b, 1, n, n])."""

    def __init__(self, encoder: nn.Module, n_labels: int, cfg: HeadConfig | None = None):
        super().__init__()
        cfg = cfg or HeadConfig()
        self.encoder = encoder
        self.argu = pointer(cfg, encoder.hidden_size, n_labels)
        self.head = pointer(cfg, encoder.hidden_size, 1, rope=False)
        self.tail = pointer(cfg, encoder.hidden_size, 1, rope=False)

    def forward(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h = self.encoder(ids, mask)
        return self.argu(h, mask), self.head(h, mask), self.tail(h, mask)


class RelationModel(nn.Module):
    """→ (entity [b, 2, n, n], head [b, P, n, n], tail [b, P, n, n])."""

    def __init__(self, encoder: nn.Module, n_predicates: int, cfg: HeadConfig | None = None):
        super().__init__()
        cfg = cfg or HeadConfig()
        self.encoder = encoder
        self.entity = pointer(cfg, encoder.hidden_size, 2)
        self.head = pointer(cfg, encoder.hidden_size, n_predicates, rope=False, tril_mask=False)
        self.tail = pointer(cfg, encoder.hidden_size, n_predicates, rope=False, tril_mask=False)

    def forward(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h = self.encoder(ids, mask)
        return self.entity(h, mask), self.head(h, mask), self.tail(h, mask)


class NERModel(nn.Module):
    """→ logits [b, types, n, n]; returned as a 1-tuple so every task's forward has the same face."""

    def __init__(self, encoder: nn.Module, n_types: int, cfg: HeadConfig | None = None):
        super().__init__()
        self.encoder = encoder
        self.spans = pointer(cfg or HeadConfig(), encoder.hidden_size, n_types)

    def forward(self, ids: Tensor, mask: Tensor) -> tuple[Tensor]:
        return (self.spans(self.encoder(ids, mask), mask),)


def shift_logits(model: nn.Module, shift: float) -> None:
    """Add `shift` to every cell score s_α(i, j) of every EfficientGlobalPointer in `model`, in place. A cell
    is predicted where s_α(i, j) > 0, so this moves the decision threshold to −shift. It goes through
    q_dense's bias: s_α(i, j) gets (b_{2α} + b_{2α+1})/2 of it, so `shift` on every entry is `shift` on every
    cell. The service benchmark and the tests use it to make an untrained model about as sparse as a trained
    one (its decoding then costs what a trained model's does)."""
    pointers = [m for m in model.modules() if isinstance(m, EfficientGlobalPointer)]
    if not pointers or any(m.q_dense.bias is None for m in pointers):
        raise ValueError("shift_logits: the model has no EfficientGlobalPointer with a q_dense bias to shift; "
                         "build its heads with HeadConfig(pointer='egp')")
    with torch.no_grad():
        for m in pointers:
            m.q_dense.bias += shift


