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
triples come out (caps.py), so an untrained model's decoding stays fast.
"""
from __future__ import annotations

import torch
from torch import Tensor

from kexue.gplinker.caps import MAX_ENTITIES, MAX_ITEMS, DecodeCount, count_sentence
from kexue.gplinker.data import RelationSample, Triple
from kexue.gplinker.events import Span, token_maps


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


def decode_relations(entity: Tensor, head: Tensor, tail: Tensor, text: str, offsets: list[tuple[int, int]],
                     predicates: list[str], threshold: float = 0.0, max_entities: int = MAX_ENTITIES,
                     max_items: int = MAX_ITEMS, count: DecodeCount | None = None) -> set[Triple]:
    """One sentence's logits (entity [2, n, n], head/tail [P, n, n]) → {(subject, predicate, object)}, at most
    `max_items` of them (the strongest by min(head, tail) first); `count` records whether a cap cut it."""
    n = entity.shape[-1]
    real = torch.tensor([e > s for s, e in offsets] + [False] * (n - len(offsets)))
    keep = (entity > threshold) & real[None, :, None] & real[None, None, :]
    # an untrained model scores everything > 0: keep the `max_entities` strongest of each kind
    spans = []
    for k in (0, 1):
        cells = keep[k].nonzero()
        spans.append(cells[entity[k, cells[:, 0], cells[:, 1]].argsort(descending=True, stable=True)[:max_entities]])
    hit = any(int(keep[k].sum()) > max_entities for k in (0, 1))
    (sh, st), (oh, ot) = spans[0].T, spans[1].T
    # p with S(s_h, o_h | p) > 0 and S(s_t, o_t | p) > 0, for every subject × object pair at once: [P, S, O]
    h, t = head[:, sh][:, :, oh], tail[:, st][:, :, ot]
    link = torch.minimum(h, t)
    found = (link > threshold).nonzero()
    if len(found) > max_items:
        hit = True
        found = found[link[found[:, 0], found[:, 1], found[:, 2]].topk(max_items).indices]
    count_sentence(count, hit)
    out = set()
    for p, a, b in found.tolist():
        s_h, s_t, o_h, o_t = int(sh[a]), int(st[a]), int(oh[b]), int(ot[b])
        out.add((text[offsets[s_h][0]:offsets[s_t][1]], predicates[p], text[offsets[o_h][0]:offsets[o_t][1]]))
    return out
