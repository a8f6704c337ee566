"""GPLinker's decoders and scores on NumPy arrays, for the ONNX runtime (onnx_runtime.py): no torch.

kexue.fm/archives/8926 (events), 8888 (relations), 8373 (NER). The same decoding, step for step, as the
torch decoders that `Extractor` runs (events.py `decode_events`, relations.py `decode_relations`, ner.py
`decode_entities`, and scores.py's JSON with σ of the weakest logit): threshold on the logits, never on
[CLS]/[SEP]/padding, maximal cliques of the link graph per event type (cliques.py), the same caps on an
untrained model's work (MAX_NODES, MAX_STEPS; caps.py's MAX_ENTITIES and MAX_ITEMS), the same JSON. Only the array library differs.

Where we depart: this is a second copy of the decoding written for NumPy, so that a served ONNX graph needs
neither torch nor a GPU; tests/gplinker/test_onnx_runtime.py holds it to the torch decoders' JSON on the
fixture set (events, relations, NER, long texts in windows). The day the torch decoders take NumPy arrays
this module goes, and both runtimes call them.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from kexue.gplinker.caps import MAX_ENTITIES, MAX_ITEMS
from kexue.gplinker.cliques import maximal_cliques, members
from kexue.gplinker.data import TRIGGER

MAX_NODES = 256  # events.py: candidate arguments of one event type beyond which only the strongest are kept
MAX_STEPS = 1024  # events.py: steps of the clique search of one sentence

Offsets = list[tuple[int, int]]


def sigmoid(x: float) -> float:
    """σ(x) = 1 / (1 + e^{−x}), rounded for JSON, as scores.py."""
    if x >= 0:
        return round(1.0 / (1.0 + math.exp(-x)), 6)
    e = math.exp(x)
    return round(e / (1.0 + e), 6)


def token_maps(offsets: Offsets) -> tuple[dict[int, int], dict[int, int]]:
    """char start → token and char last → token ((0, 0) = special), as events.py."""
    starts = {s: i for i, (s, e) in enumerate(offsets) if e > s}
    ends = {e - 1: i for i, (s, e) in enumerate(offsets) if e > s}
    return starts, ends


def _kept(logits: np.ndarray, offsets: Offsets, threshold: float) -> np.ndarray:
    """logits > threshold off [CLS], [SEP] and padding: a bool array of logits' shape [heads, n, n]."""
    n = logits.shape[-1]
    real = np.array([e > s for s, e in offsets] + [False] * (n - len(offsets)))
    return (logits > threshold) & real[None, :, None] & real[None, None, :]


def _strongest(scores: np.ndarray, k: int) -> np.ndarray:
    """The indices of the k largest scores (torch's topk)."""
    return np.argsort(-scores, kind="stable")[:k]


# --- NER ---

def entities_json(out: list[np.ndarray], text: str, offsets: Offsets, types: list[str],
                  threshold: float = 0.0) -> dict[str, Any]:
    """scores.py `score_entities`: every (α, i, j) with s_α(i, j) > threshold, with σ(s_α(i, j))."""
    logits = out[0]
    cells = np.argwhere(_kept(logits, offsets, threshold))
    if len(cells) > MAX_ITEMS:  # an untrained head: keep the strongest (ner.py)
        cells = cells[_strongest(logits[cells[:, 0], cells[:, 1], cells[:, 2]], MAX_ITEMS)]
    found = {(offsets[i][0], offsets[j][1], types[a]) for a, i, j in cells.tolist()}
    index = {t: k for k, t in enumerate(types)}
    starts, ends = token_maps(offsets)
    return {"text": text, "entities": [
        {"start": a, "end": b, "type": kind, "text": text[a:b],
         "score": sigmoid(float(logits[index[kind], starts[a], ends[b - 1]]))} for a, b, kind in sorted(found)]}


# --- events ---

def decode_events(argu: np.ndarray, head: np.ndarray, tail: np.ndarray, text: str, offsets: Offsets,
                  labels: list[tuple[str, str]], threshold: float = 0.0) -> list[tuple]:
    """events.py `decode_events` (trigger=True): arguments with argu > threshold; u, v linked iff
    head[min h, max h] > threshold and tail[min t, max t] > threshold; per event type the maximal cliques."""
    cells = np.argwhere(_kept(argu, offsets, threshold))
    type_names = sorted({t for t, _ in labels})
    type_of = np.array([type_names.index(t) for t, _ in labels])
    events: list[tuple] = []
    seen: set[tuple] = set()
    steps = 0
    for k in np.unique(type_of[cells[:, 0]]).tolist():
        if len(events) >= MAX_ITEMS:
            break
        nodes = cells[type_of[cells[:, 0]] == k]
        if len(nodes) > MAX_NODES:  # an untrained model scores everything > 0: keep the strongest
            score = argu[nodes[:, 0], nodes[:, 1], nodes[:, 2]]
            nodes = nodes[np.sort(np.argsort(-score, kind="stable")[:MAX_NODES])]
        group = [tuple(u) for u in nodes.tolist()]
        h, t = nodes[:, 1], nodes[:, 2]
        # link(u, v) ⟺ head[min h, max h] > 0 and tail[min t, max t] > 0, for all pairs at once
        link = ((head[np.minimum(h[:, None], h[None]), np.maximum(h[:, None], h[None])] > threshold)
                & (tail[np.minimum(t[:, None], t[None]), np.maximum(t[:, None], t[None])] > threshold))
        np.fill_diagonal(link, False)
        adj = [int.from_bytes(np.packbits(row, bitorder="little").tobytes(), "little") for row in link]
        found = maximal_cliques(adj, MAX_STEPS - steps, MAX_ITEMS - len(events))
        steps += found.steps
        for clique in ([group[b] for b in members(c)] for c in found.cliques):
            if len(events) >= MAX_ITEMS:
                break
            event = tuple(sorted(set(_argument(labels[lab], h, t, text, offsets) for lab, h, t in clique)))
            if not any(r == TRIGGER for _, r, _, _ in event):
                continue
            if event not in seen:
                seen.add(event)
                events.append(event)
    return events


def _argument(label: tuple[str, str], h: int, t: int, text: str, offsets: Offsets) -> tuple:
    etype, role = label
    if "=" in role:  # an enum label (type, "role=value") back to the argument (type, role, value, −1)
        role, value = role.split("=", 1)
        return etype, role, value, -1
    start, end = offsets[h][0], offsets[t][1]
    return etype, role, text[start:end], start


def events_json(out: list[np.ndarray], text: str, offsets: Offsets, labels: list[tuple[str, str]],
                threshold: float = 0.0) -> dict[str, Any]:
    """scores.py `score_events`: DuEE form, each event with σ(weakest link), each argument with σ(argu)."""
    argu, head, tail = out[0], out[1][0], out[2][0]
    index = {lab: k for k, lab in enumerate(labels)}
    starts, ends = token_maps(offsets)
    result = []
    for event in decode_events(argu, head, tail, text, offsets, labels, threshold):
        trig = next((a for a in event if a[1] == TRIGGER), None)
        trig_span = (starts[trig[3]], ends[trig[3] + len(trig[2]) - 1]) if trig else None
        nodes, args = [], []
        for etype, role, arg, start in event:
            if start < 0:
                lab, (h, t) = index[(etype, f"{role}={arg}")], trig_span
            else:
                lab, (h, t) = index[(etype, role)], (starts[start], ends[start + len(arg) - 1])
            logit = float(argu[lab, h, t])
            nodes.append((h, t, logit))
            if role != TRIGGER:
                args.append({"role": role, "argument": arg, "argument_start_index": start, "score": sigmoid(logit)})
        # the weakest of every argument and every head / tail link between two of them
        weakest = min([x for _, _, x in nodes]
                      + [min(float(head[min(h1, h2), max(h1, h2)]), float(tail[min(t1, t2), max(t1, t2)]))
                         for k, (h1, t1, _) in enumerate(nodes) for h2, t2, _ in nodes[k + 1:]])
        result.append({"event_type": event[0][0], "trigger": trig[2] if trig else None,
                       "trigger_start_index": trig[3] if trig else None, "score": sigmoid(weakest),
                       "arguments": args})
    return {"text": text, "event_list": result}


# --- relations ---

def relations_json(out: list[np.ndarray], text: str, offsets: Offsets, predicates: list[str],
                   threshold: float = 0.0) -> dict[str, Any]:
    """relations.py `decode_relations` with scores.py `score_relations`: every subject × object pair of the
    MAX_ENTITIES strongest spans of each kind gives (s, p, o) for each p with head > 0 and tail > 0; each
    triple with σ(weakest of its four logits), at the occurrence whose weakest link is strongest."""
    entity, head, tail = out
    keep = _kept(entity, offsets, threshold)
    # the MAX_ENTITIES strongest subjects and objects (sorted stably by score, from the row-major cells)
    cells = [sorted(np.argwhere(keep[k]).tolist(), key=lambda c, k=k: -float(entity[k, c[0], c[1]]))[:MAX_ENTITIES]
             for k in (0, 1)]
    (sh, st), (oh, ot) = (np.array(c, dtype=np.int64).reshape(-1, 2).T for c in cells)
    # p with S(s_h, o_h | p) > 0 and S(s_t, o_t | p) > 0, for every subject × object pair at once: [P, S, O]
    link = np.minimum(head[:, sh][:, :, oh], tail[:, st][:, :, ot])
    found = np.argwhere(link > threshold)
    if len(found) > MAX_ITEMS:  # the strongest by min(head, tail) (relations.py)
        found = found[_strongest(link[found[:, 0], found[:, 1], found[:, 2]], MAX_ITEMS)]
    triples = {(text[offsets[sh[a]][0]:offsets[st[a]][1]], predicates[p], text[offsets[oh[b]][0]:offsets[ot[b]][1]])
               for p, a, b in found.tolist()}
    spans: list[dict[str, list[tuple[int, int]]]] = [{}, {}]
    for k in (0, 1):
        for h, t in cells[k]:
            spans[k].setdefault(text[offsets[h][0]:offsets[t][1]], []).append((h, t))
    index = {p: k for k, p in enumerate(predicates)}
    result = []
    for s, p, o in sorted(triples):
        q, best = index[p], None
        for sh, st in spans[0][s]:
            for oh, ot in spans[1][o]:
                # S(s_h, s_t) + S(o_h, o_t) + S(s_h, o_h | p) + S(s_t, o_t | p): the weakest of the four
                links = [float(entity[0, sh, st]), float(entity[1, oh, ot]), float(head[q, sh, oh]),
                         float(tail[q, st, ot])]
                if min(links[2:]) > threshold and (best is None or min(links) > best[0]):
                    best = (min(links), offsets[sh][0], offsets[oh][0])
        weakest, s_start, o_start = best
        result.append({"subject": s, "subject_start_index": s_start, "predicate": p, "object": o,
                       "object_start_index": o_start, "score": sigmoid(weakest)})
    return {"text": text, "spo_list": result}


TO_JSON = {"events": events_json, "relations": relations_json, "ner": entities_json}
