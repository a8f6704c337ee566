"""GlobalPointer NER: spans of every type, nested allowed (kexue.fm/archives/8373).

Labels: head α ∋ (i, j) for an entity of type α on tokens i..j; decoding: every (α, i, j) with
s_α(i, j) > 0 off [CLS]/[SEP]/padding, mapped back to (start, end_exclusive, type) in characters.
Where we depart: at most `max_items` entities a sentence, the strongest (caps.py): an untrained head
scores half of the n²/2 spans positive.
"""
from __future__ import annotations

import torch
from torch import Tensor

from kexue.gplinker.caps import MAX_ITEMS, DecodeCount, count_sentence
from kexue.gplinker.data import Entity, NERSample
from kexue.gplinker.events import Span, token_maps


def encode_entities(sample: NERSample, types: list[str], offsets: list[tuple[int, int]]) -> list[set[Span]]:
    index = {t: k for k, t in enumerate(types)}
    starts, ends = token_maps(offsets)
    out = [set() for _ in types]
    for start, end, kind in sample.entities:
        if kind in index and start in starts and end - 1 in ends:
            out[index[kind]].add((starts[start], ends[end - 1]))
    return out


def decode_entities(logits: Tensor, offsets: list[tuple[int, int]], types: list[str],
                    threshold: float = 0.0, max_items: int = MAX_ITEMS, count: DecodeCount | None = None) -> set[Entity]:
    """logits [types, n, n] of one sentence → {(start, end_exclusive, type)}, the `max_items` strongest."""
    n = logits.shape[-1]
    real = torch.tensor([e > s for s, e in offsets] + [False] * (n - len(offsets)))
    keep = (logits > threshold) & real[None, :, None] & real[None, None, :]
    cells = keep.nonzero()
    count_sentence(count, len(cells) > max_items)
    if len(cells) > max_items:  # an untrained head: keep the strongest
        cells = cells[logits[cells[:, 0], cells[:, 1], cells[:, 2]].topk(max_items).indices]
    return {(offsets[i][0], offsets[j][1], types[a]) for a, i, j in cells.tolist()}
