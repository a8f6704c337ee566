"""GlobalPointer NER: spans of every type, nested allowed (kexue.fm/archives/8373).

Labels: head α ∋ (i, j) for an entity of type α on tokens i..j; decoding: every (α, i, j) with
s_α(i, j) > 0 off [CLS]/[SEP]/padding, mapped back to (start, end_exclusive, type) in characters.
Where we depart: at most `max_items` entities a sentence, the strongest (caps.py): an untrained head
scores half of the n²/2 spans positive. The logits are a NumPy array (cells.py): the torch Extractor
and the ONNX runtime decode alike.
"""
from __future__ import annotations

import numpy as np

from kexue.gplinker.caps import MAX_ITEMS, DecodeCount, count_sentence
from kexue.gplinker.cells import Span, above, strongest, token_maps
from kexue.gplinker.data import Entity, NERSample


def encode_entities(sample: NERSample, types: list[str], offsets: list[tuple[int, int]]) -> list[set[Span]]:
    index = {t: k for k, t in enumerate(types)}
    starts, ends = token_maps(offsets)
    out = [set() for _ in types]
    for start, end, kind in sample.entities:
        if kind in index and start in starts and end - 1 in ends:
            out[index[kind]].add((starts[start], ends[end - 1]))
    return out


def decode_entities(logits: np.ndarray, offsets: list[tuple[int, int]], types: list[str],
                    threshold: float = 0.0, max_items: int = MAX_ITEMS, count: DecodeCount | None = None) -> set[Entity]:
    """logits [types, n, n] of one sentence → {(start, end_exclusive, type)}, the `max_items` strongest."""
    logits = np.asarray(logits)
    cells = np.argwhere(above(logits, offsets, threshold))
    count_sentence(count, len(cells) > max_items)
    if len(cells) > max_items:  # an untrained head: keep the strongest
        cells = cells[strongest(logits[cells[:, 0], cells[:, 1], cells[:, 2]], max_items)]
    return {(offsets[i][0], offsets[j][1], types[a]) for a, i, j in cells.tolist()}
