"""Fill-mask with a RoFormerV2: the most probable tokens at each [MASK] of a text.

kexue.fm/archives/8998: the MLM head is the tied token embedding, p(x_i | ·) = softmax(h_i E_tokenᵀ).
The JunnYu/RoFormer_pytorch README shows, for the released base model on
"今天[MASK]很好，我[MASK]去公园玩。", top-1 天 / 想; with an imported checkpoint this reproduces that
check offline.
"""
from __future__ import annotations

from pathlib import Path

import torch

from kexue.roformer.checkpoint import load_pretrained, load_tokenizer

MASK = "[MASK]"


def encode_masked(tokenizer, text: str, max_len: int = 512) -> list[int]:
    """[CLS] text [SEP] with every literal "[MASK]" of the text as the mask id."""
    pieces = text.split(MASK)
    ids = [tokenizer.cls_id]
    for k, piece in enumerate(pieces):
        ids += tokenizer.encode(piece, add_special=False) if piece else []
        if k < len(pieces) - 1:
            ids.append(tokenizer.mask_id)
    ids.append(tokenizer.sep_id)
    if len(ids) > max_len:
        raise ValueError(f"the text is {len(ids)} tokens with [CLS] and [SEP], more than max_len {max_len}")
    return ids


@torch.no_grad()
def fill_mask(folder: str | Path, text: str, top_k: int = 5, model=None, tokenizer=None,
              ) -> list[list[tuple[str, float]]]:
    """For each [MASK] of `text`, left to right, the top_k (token, probability) pairs."""
    if MASK not in text:
        raise ValueError(f"the text has no {MASK}: {text!r}")
    model = model or load_pretrained(folder)
    tokenizer = tokenizer or load_tokenizer(folder)
    ids = torch.tensor([encode_masked(tokenizer, text)])
    # p = softmax(h Eᵀ) at the masked positions
    logits = model.mlm_logits(model(ids))[0]
    logits[:, sorted(tokenizer.special_ids.values())] = float("-inf")  # never propose [MASK], [CLS], ...
    probs = logits.softmax(-1)
    out = []
    for pos in (ids[0] == tokenizer.mask_id).nonzero().flatten().tolist():
        p, idx = probs[pos].topk(top_k)
        out.append([(tokenizer.id_to_token(int(i)), float(q)) for q, i in zip(p, idx)])
    return out
