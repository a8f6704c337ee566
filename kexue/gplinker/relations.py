"""GPLinker for relations: the label codec and decoder of the three-head model.

kexue.fm/archives/8888 and bojone/GPLinker duie_v1.py. The 5-tuple score factorises as
S(s_h, s_t, p, o_h, o_t) = S(s_h, s_t) + S(o_h, o_t) + S(s_h, o_h | p) + S(s_t, o_t | p), and each
term is one GlobalPointer: `entity` (2 heads: subject, object; RoPE, upper triangle), `head` and
`tail` (one head per predicate; no RoPE, no triangle mask, since s_h may come after o_h). Labels of
one sentence: entity[0] ∋ (s_h, s_t), entity[1] ∋ (o_h, o_t), head[p] ∋ (s_h, o_h), tail[p] ∋ (s_t, o_t);
empty sets get (0, 0). Decoding: every subject × object pair of spans with entity > 0 (never on
[CLS]/[SEP]/padding) gives (s, p, o) for each p with head[p, s_h, o_h] > 0 and tail[p, s_t, o_t] > 0.
Triples are compared as (subject text, predicate, object text), as duie_v1.py does. Where we depart:
at most `max_entities` subjects and objects (the highest-scoring) are paired, and at most `max_items`
triples come out (caps.py), so an untrained model's decoding stays fast. The logits are NumPy arrays
(cells.py): the torch Extractor and the ONNX runtime decode alike.
"""
from __future__ import annotations

import numpy as np

from kexue.gplinker.caps import MAX_ENTITIES, MAX_ITEMS, DecodeCount, count_sentence
from kexue.gplinker.cells import Span, above, strongest, token_maps
from kexue.gplinker.data import RelationSample, Triple


def encode_relations(sample: RelationSample, predicates: list[str],
                     offsets: list[tuple[int, int]]) -> tuple[list[set[Span]], list[set[Span]], list[set[Span]]]:
    """(entity [2 sets], head [P sets], tail [P sets]); triples whose spans miss token boundaries are dropped."""
    index = {p: k for k, p in enumerate(predicates)}
    starts, ends = token_maps(offsets)
    entity = [set(), set()]
    head = [set() for _ in predicates]
    tail = [set() for _ in predicates]
    for s, s_start, p, o, o_start in sample.triples:
        s_end, o_end = s_start + len(s) - 1, o_start + len(o) - 1
        if p not in index or min(s_start, o_start) < 0 or not {s_start, o_start} <= starts.keys() \
                or not {s_end, o_end} <= ends.keys():  # unplaced (start −1, data.py) or off token boundaries
            continue
        sh, st, oh, ot = starts[s_start], ends[s_end], starts[o_start], ends[o_end]
        entity[0].add((sh, st))
        entity[1].add((oh, ot))
        head[index[p]].add((sh, oh))
        tail[index[p]].add((st, ot))
    return entity, head, tail


def decode_relations(entity: np.ndarray, head: np.ndarray, tail: np.ndarray, text: str,
                     offsets: list[tuple[int, int]], predicates: list[str], threshold: float = 0.0,
                     max_entities: int = MAX_ENTITIES, max_items: int = MAX_ITEMS,
                     count: DecodeCount | None = None) -> set[Triple]:
    """One sentence's logits (entity [2, n, n], head/tail [P, n, n]) → {(subject, predicate, object)}, at most
    `max_items` of them (the strongest by min(head, tail) first); `count` records whether a cap cut it."""
    entity, head, tail = np.asarray(entity), np.asarray(head), np.asarray(tail)
    spans, hit = paired_spans(entity, offsets, threshold, max_entities)
    (sh, st), (oh, ot) = spans[0].T, spans[1].T
    # p with S(s_h, o_h | p) > 0 and S(s_t, o_t | p) > 0, for every subject × object pair at once: [P, S, O]
    link = np.minimum(head[:, sh][:, :, oh], tail[:, st][:, :, ot])
    found = np.argwhere(link > threshold)
    if len(found) > max_items:
        hit = True
        found = found[strongest(link[found[:, 0], found[:, 1], found[:, 2]], max_items)]
    count_sentence(count, hit)
    return {(text[offsets[sh[a]][0]:offsets[st[a]][1]], predicates[p], text[offsets[oh[b]][0]:offsets[ot[b]][1]])
            for p, a, b in found.tolist()}


def paired_spans(entity: np.ndarray, offsets: list[tuple[int, int]], threshold: float = 0.0,
                 max_entities: int = MAX_ENTITIES) -> tuple[list[np.ndarray], bool]:
    """The subject spans and the object spans that decoding pairs ([k, 2] (h, t) each, strongest first), and
    whether the cap cut them: an untrained model scores everything > 0, so the `max_entities` strongest
    of each kind are kept (equal scores in row-major order)."""
    keep = above(entity, offsets, threshold)
    spans = []
    for k in (0, 1):
        cells = np.argwhere(keep[k])
        spans.append(cells[strongest(entity[k, cells[:, 0], cells[:, 1]], max_entities)])
    return spans, any(int(keep[k].sum()) > max_entities for k in (0, 1))
