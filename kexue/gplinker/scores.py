"""Scores of decoded items: each event, triple or entity as JSON with σ of the logits it was decoded from.

kexue.fm/archives/8926 (events), kexue.fm/archives/8888 (relations), kexue.fm/archives/8373 (NER).
Where we depart: the posts decode with a threshold of 0 on the logits and report no confidence. As
PaddleNLP's information-extraction Taskflow reports a probability per item, each item here carries
`score`, the sigmoid of its logit at the positions it was decoded from; an event or a triple is as
sure as its weakest link, so its score is σ(min) of every logit its decoding required:
- an entity: σ(s_α(i, j));
- an event: σ(min(argu of each argument, head[min hᵤ, max hᵥ] and tail[min tᵤ, max tᵥ] of each pair
  of its arguments)), each argument also with its own σ(argu);
- a triple: σ(min(entity₀(s_h, s_t), entity₁(o_h, o_t), head_p(s_h, o_h), tail_p(s_t, o_t))).
The decoders (events.py, relations.py, ner.py) are used as they are; the scores are read back here at
the decoded positions. A triple is decoded as texts (duie_v1.py's comparison); when its subject and
object occur at several places, we report the occurrence whose weakest link is strongest. These are the
JSON forms of tasks.py's registry (`Task.to_json`, `TO_JSON` here): what `predict` writes, `POST /extract`
answers, `Extractor(texts)` and the ONNX runtime's `OnnxExtractor(texts)` return. NumPy arrays in, no torch
(cells.py): both runtimes score with this one module.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from kexue.gplinker.cells import token_maps
from kexue.gplinker.data import TRIGGER
from kexue.gplinker.events import decode_events
from kexue.gplinker.ner import decode_entities
from kexue.gplinker.relations import decode_relations, paired_spans


def sigmoid(x: float) -> float:
    """σ(x) = 1 / (1 + e^{−x}), rounded for JSON (e^x / (1 + e^x) for x < 0, which cannot overflow)."""
    if x >= 0:
        return round(1.0 / (1.0 + math.exp(-x)), 6)
    e = math.exp(x)
    return round(e / (1.0 + e), 6)


def score_events(argu: np.ndarray, head: np.ndarray, tail: np.ndarray, text: str, offsets: list[tuple[int, int]],
                 labels: list[tuple[str, str]], threshold: float = 0.0) -> list[dict[str, Any]]:
    """decode_events' events in DuEE form, each with σ(weakest link) and each argument with σ(argu)."""
    argu, head, tail = np.asarray(argu), np.asarray(head), np.asarray(tail)
    index = {lab: k for k, lab in enumerate(labels)}
    starts, ends = token_maps(offsets)
    out = []
    for event in decode_events(argu, head, tail, text, offsets, labels, threshold=threshold):
        trig = next((a for a in event if a[1] == TRIGGER), None)
        trig_span = (starts[trig[3]], ends[trig[3] + len(trig[2]) - 1]) if trig else None
        nodes, args = [], []
        for etype, role, arg, start in event:
            if start < 0:  # an enum value was decoded on the trigger's span as the label "role=value"
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
        out.append({"event_type": event[0][0], "trigger": trig[2] if trig else None,
                    "trigger_start_index": trig[3] if trig else None, "score": sigmoid(weakest),
                    "arguments": args})
    return out


def score_relations(entity: np.ndarray, head: np.ndarray, tail: np.ndarray, text: str, offsets: list[tuple[int, int]],
                    predicates: list[str], threshold: float = 0.0) -> list[dict[str, Any]]:
    """decode_relations' triples in DuIE form with starts, each with σ(weakest of its four logits)."""
    entity, head, tail = np.asarray(entity), np.asarray(head), np.asarray(tail)
    triples = decode_relations(entity, head, tail, text, offsets, predicates, threshold=threshold)
    if not triples:
        return []
    # the spans decode_relations pairs (the MAX_ENTITIES strongest subjects and objects), by their text
    spans: list[dict[str, list[tuple[int, int]]]] = [{}, {}]
    for k, cells in enumerate(paired_spans(entity, offsets, threshold)[0]):
        for h, t in cells.tolist():
            spans[k].setdefault(text[offsets[h][0]:offsets[t][1]], []).append((h, t))
    index = {p: k for k, p in enumerate(predicates)}
    out = []
    for s, p, o in sorted(triples):
        q = index[p]
        best = None
        for sh, st in spans[0][s]:
            for oh, ot in spans[1][o]:
                # S(s_h, s_t) + S(o_h, o_t) + S(s_h, o_h | p) + S(s_t, o_t | p): the weakest of the four
                links = [float(entity[0, sh, st]), float(entity[1, oh, ot]), float(head[q, sh, oh]),
                         float(tail[q, st, ot])]
                if min(links[2:]) > threshold and (best is None or min(links) > best[0]):
                    best = (min(links), offsets[sh][0], offsets[oh][0])
        weakest, s_start, o_start = best
        out.append({"subject": s, "subject_start_index": s_start, "predicate": p, "object": o,
                    "object_start_index": o_start, "score": sigmoid(weakest)})
    return out


def score_entities(logits: np.ndarray, text: str, offsets: list[tuple[int, int]], types: list[str],
                   threshold: float = 0.0) -> list[dict[str, Any]]:
    """decode_entities' spans with their text and σ(s_α(i, j))."""
    logits = np.asarray(logits)
    index = {t: k for k, t in enumerate(types)}
    starts, ends = token_maps(offsets)
    return [{"start": a, "end": b, "type": kind, "text": text[a:b],
             "score": sigmoid(float(logits[index[kind], starts[a], ends[b - 1]]))}
            for a, b, kind in sorted(decode_entities(logits, offsets, types, threshold=threshold))]


# --- the task's JSON of one text (tasks.py's `Task.to_json`): outputs of the text, text, offsets, labels ---

def events_json(out: Sequence[np.ndarray], text: str, offsets: list, labels: list, threshold: float = 0.0) -> dict:
    return {"text": text, "event_list": score_events(out[0], out[1][0], out[2][0], text, offsets, labels, threshold)}


def relations_json(out: Sequence[np.ndarray], text: str, offsets: list, labels: list, threshold: float = 0.0) -> dict:
    return {"text": text, "spo_list": score_relations(out[0], out[1], out[2], text, offsets, labels, threshold)}


def entities_json(out: Sequence[np.ndarray], text: str, offsets: list, labels: list, threshold: float = 0.0) -> dict:
    return {"text": text, "entities": score_entities(out[0], text, offsets, labels, threshold)}


TO_JSON = {"events": events_json, "relations": relations_json, "ner": entities_json}
