"""Whole-word masked language modelling, as RoFormerV2 was pretrained.

kexue.fm/archives/8998 and ZhuiyiTechnology/roformer-v2 `train_mlm.py`: the text is segmented into
words; each word is selected with probability 15 %; a selected word has all its tokens replaced by
[MASK] (80 %), kept (10 %) or replaced by random tokens (10 %); the loss is the cross-entropy on the
tokens of the selected words only:

    L = −(1/|S|) Σ_{i∈S} log softmax(h_i E_tokenᵀ)[x_i],   S = the tokens of the selected words

Where we depart: the post segments with Baidu's LAC; we segment with jieba (`segment`), and use the
gold segmentation when the corpus carries one (People's Daily 1998). A sequence with no selected word
gets one word selected, drawn uniformly, so that every batch has a loss. The masking itself is
kexue/data/masking.py's `whole_word_mask`, shared with decoder_only (post 9529).
Masks are drawn anew each time an example is read (dynamic masking, as `train_mlm.py` does per epoch),
from torch's global generator, which the Trainer seeds and saves with its checkpoints.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.data.masking import IGNORE, MaskingConfig, whole_word_mask

__all__ = ["IGNORE", "MLMDataset", "MaskingConfig", "collate", "encode_words", "mlm_loss", "segment",
           "whole_word_mask"]


def segment(text: str) -> list[str]:
    """Words of `text` by jieba (precise mode, no HMM); they concatenate back to the text."""
    try:
        import jieba
    except ImportError:
        raise ImportError("whole-word masking of raw text needs jieba: pip install jieba==0.42.1") from None
    jieba.setLogLevel(60)
    return list(jieba.cut(text, HMM=False))


class MLMDataset(torch.utils.data.Dataset):
    """Sequences of words (token ids per word), framed [CLS] … [SEP] and masked when read."""

    def __init__(self, word_ids: Sequence[Sequence[Sequence[int]]], tokenizer, max_len: int = 128,
                 cfg: MaskingConfig | None = None, generator: torch.Generator | None = None):
        self.items = [_truncate(ws, max_len - 2) for ws in word_ids]
        self.items = [ws for ws in self.items if ws]
        self.tokenizer, self.cfg, self.generator = tokenizer, cfg or MaskingConfig(), generator
        self.special = sorted(tokenizer.special_ids.values())

    def __len__(self) -> int:
        return len(self.items)

    def lengths(self) -> list[int]:
        """Tokens of each sequence, [CLS] and [SEP] included (what a batch pads to), without masking it."""
        return [2 + sum(len(w) for w in ws) for ws in self.items]

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        tok = self.tokenizer
        ids, labels, _ = whole_word_mask(self.items[i], mask_id=tok.mask_id, vocab_size=tok.vocab_size,
                                         special=self.special, cfg=self.cfg, generator=self.generator)
        return {"ids": [tok.cls_id, *ids, tok.sep_id], "labels": [IGNORE, *labels, IGNORE]}


def encode_words(words: Sequence[str], tokenizer) -> list[list[int]]:
    """Token ids of each word (a char tokenizer gives one per character, WordPiece its pieces)."""
    out = [tokenizer.encode(w, add_special=False) for w in words]
    return [ids for ids in out if ids]


def collate(batch: list[dict[str, list[int]]], pad_id: int = 0) -> dict[str, Tensor]:
    """Pad to the longest sequence: ids with pad_id, labels with IGNORE; mask = real tokens."""
    n = max(len(b["ids"]) for b in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), n), IGNORE, dtype=torch.long)
    for row, b in enumerate(batch):
        ids[row, :len(b["ids"])] = torch.tensor(b["ids"])
        labels[row, :len(b["labels"])] = torch.tensor(b["labels"])
    mask = torch.arange(n)[None, :] < torch.tensor([len(b["ids"]) for b in batch])[:, None]
    return {"ids": ids, "labels": labels, "mask": mask}


def mlm_loss(model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
    """L on the selected positions only (logits are computed there only), and the accuracy there."""
    inner = getattr(model, "module", model)  # the RoFormerV2 inside a DDP wrapper
    h = model(batch["ids"], mask=batch["mask"])
    selected = batch["labels"] != IGNORE
    logits = inner.mlm_logits(h[selected]).float()
    target = batch["labels"][selected]
    # L = −mean_{i∈S} log softmax(h_i Eᵀ)[x_i]
    loss = F.cross_entropy(logits, target)
    acc = (logits.argmax(-1) == target).float().mean()
    return loss, {"mlm_acc": float(acc), "tokens": float(batch["mask"].sum())}


def _truncate(words: Sequence[Sequence[int]], budget: int) -> list[list[int]]:
    """Whole words from the start while they fit in `budget` tokens (a longer first word is cut)."""
    out, used = [], 0
    for w in words:
        if used + len(w) > budget:
            if not out:
                out.append(list(w[:budget]))
            break
        out.append(list(w))
        used += len(w)
    return out
