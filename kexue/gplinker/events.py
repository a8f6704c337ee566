"""GPLinker for events: the label codec, the decoder and the post's two metrics.

kexue.fm/archives/8926 and bojone/GPLinker duee_v1.py. Labels of one sentence, in token positions:
- argu[ℓ] ∋ (h, t) for every argument of label ℓ = (event_type, role), the trigger being the role
  "触发词" (nested spans allowed);
- head ∋ (min(h₁, h₂), max(h₁, h₂)) and tail ∋ (min(t₁, t₂), max(t₁, t₂)) for every pair of
  arguments of one gold event (untyped, undirected, upper triangle, the diagonal allowed);
- an empty set gets (0, 0), the [CLS] cell that the sparse loss leaves out.
Decoding (threshold 0): arguments with argu > 0 (never on [CLS]/[SEP]/padding); u, v linked iff
head[min h, max h] > 0 and tail[min t, max t] > 0; per event type the maximal cliques (cliques.py).

The one thing the codec cannot carry (the post's design, tested in tests/gplinker/test_events.py):
decoding returns *maximal* cliques, so a gold event whose arguments all lie in another event of the
same type — a subset, or more generally a set whose every pair is linked by other events (three
events {A, B}, {B, C}, {A, C} read back as {A, B, C}) — is absorbed. `recoverable` tells whether a
sample survives encode → decode. DuEE-fin enum roles (start −1) are carried on the trigger's span.
The logits are NumPy arrays (cells.py): the torch Extractor and the ONNX runtime decode alike.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kexue.gplinker.caps import MAX_ITEMS, MAX_NODES, MAX_STEPS, DecodeCount, count_sentence
from kexue.gplinker.cells import Span, above, strongest, token_maps
from kexue.gplinker.cliques import members, maximal_cliques
from kexue.gplinker.data import TRIGGER, Event, EventSample, EventSchema


@dataclass
class EventLabels:
    argu: list[set[Span]]  # per label
    head: set[Span]
    tail: set[Span]


def encode_events(sample: EventSample, labels: list[tuple[str, str]], offsets: list[tuple[int, int]]) -> EventLabels:
    """The post's labels; an argument not at its start index, or whose span does not fall on token
    boundaries (or was cut), is left out (duee_v1.py's data generator: `if start in start_mapping ...`)."""
    index = {lab: k for k, lab in enumerate(labels)}
    starts, ends = token_maps(offsets)
    out = EventLabels([set() for _ in labels], set(), set())
    for event in sample.events:
        nodes = []
        trigger = next(((s, len(a)) for _, r, a, s in event if r == TRIGGER), None)
        for t, r, a, s in event:
            if s < 0:  # an enum value rides on the trigger's span (post 8926, DuEE-fin)
                if trigger is None:
                    continue
                (s, length), r = trigger, f"{r}={a}"
            else:
                length = len(a)
                if sample.text[s:s + length] != a:  # an unplaced label (data.py): gold for evaluation only
                    continue
            lab = index.get((t, r))
            if lab is None or s not in starts or s + length - 1 not in ends:
                continue
            h, tt = starts[s], ends[s + length - 1]
            out.argu[lab].add((h, tt))
            nodes.append((h, tt))
        for a, (h1, t1) in enumerate(nodes):
            for h2, t2 in nodes[a + 1:]:
                out.head.add((min(h1, h2), max(h1, h2)))
                out.tail.add((min(t1, t2), max(t1, t2)))
    return out


def decode_events(argu: np.ndarray, head: np.ndarray, tail: np.ndarray, text: str, offsets: list[tuple[int, int]],
                  labels: list[tuple[str, str]], threshold: float = 0.0, trigger: bool = True,
                  max_nodes: int = MAX_NODES, max_steps: int = MAX_STEPS, max_items: int = MAX_ITEMS,
                  count: DecodeCount | None = None) -> list[Event]:
    """One sentence's logits (argu [L, n, n], head [n, n], tail [n, n]) → events, as duee_v1.py's
    extract_events; trigger=True drops events without a trigger (its `trigger` flag).

    Where we depart: duee_v1.py searches every graph to the end, which never finishes on an untrained
    model's (GPLinker_pytorch #3). We bound the search's work, not what it may find: every argument with
    a positive score goes into the graph unless one event type has more than `max_nodes` of them (then
    its max_nodes² links would not fit: the strongest are kept), and the clique searches of one sentence
    stop after `max_steps` steps in all (cliques.py). Both bounds are far above any real sentence's (a
    128-token DuEE sentence has a few dozen arguments; ten events of seven arguments need 125 steps); an all-positive
    untrained model meets the first, a dense random graph the second. And at most `max_items` events
    come out (caps.py); `count` records whether any of the three bounds cut this sentence.
    """
    argu, head, tail = np.asarray(argu), np.asarray(head), np.asarray(tail)
    # never on [CLS], [SEP] or padding
    cells = np.argwhere(above(argu, offsets, threshold))
    type_names = sorted({t for t, _ in labels})
    type_of = np.array([type_names.index(t) for t, _ in labels])  # label → its event type's index
    events: list[Event] = []
    seen: set[Event] = set()
    steps, hit = 0, False  # steps of the clique search, over all event types; whether a bound cut it
    for k in np.unique(type_of[cells[:, 0]]).tolist():
        if len(events) >= max_items:
            hit = True
            break
        nodes = cells[type_of[cells[:, 0]] == k]
        if len(nodes) > max_nodes:  # an untrained model scores everything > 0: keep the strongest
            hit = True
            score = argu[nodes[:, 0], nodes[:, 1], nodes[:, 2]]
            nodes = nodes[np.sort(strongest(score, max_nodes))]
        group = [tuple(u) for u in nodes.tolist()]
        h, t = nodes[:, 1], nodes[:, 2]
        # link(u, v) ⟺ head[min h, max h] > 0 and tail[min t, max t] > 0, for all pairs at once
        link = ((head[np.minimum(h[:, None], h[None]), np.maximum(h[:, None], h[None])] > threshold)
                & (tail[np.minimum(t[:, None], t[None]), np.maximum(t[:, None], t[None])] > threshold))
        # the neighbour bitset of each node (self links off)
        np.fill_diagonal(link, False)
        adj = [int.from_bytes(np.packbits(row, bitorder="little").tobytes(), "little") for row in link]
        found = maximal_cliques(adj, max_steps - steps, max_items - len(events))
        steps, hit = steps + found.steps, hit or not found.complete
        for clique in ([group[b] for b in members(c)] for c in found.cliques):
            if len(events) >= max_items:
                hit = True
                break
            args = []
            for lab, h, t in clique:
                etype, role = labels[lab]
                start, end = offsets[h][0], offsets[t][1]
                if "=" in role:
                    # an enum label (type, "role=value") back to the argument (type, role, value, −1)
                    role, value = role.split("=", 1)
                    args.append((etype, role, value, -1))
                else:
                    args.append((etype, role, text[start:end], start))
            event = tuple(sorted(set(args)))
            if trigger and not any(r == TRIGGER for _, r, _, _ in event):
                continue
            if event not in seen:
                seen.add(event)
                events.append(event)
    count_sentence(count, hit)
    return events


def drop_subset_events(events: list[Event]) -> list[Event]:
    """Su's leaderboard post-processing (duee_v1.py `predict_to_file`, `isin`): an event whose arguments
    (trigger left out, as (role, text)) all lie in another event of the same type is dropped. In order: a
    new event removes the kept ones it contains, and is kept unless a kept one contains it. Not used when
    scoring dev (his `evaluate` does not); an option of prediction and of the full preset."""
    def args(e: Event) -> set:
        return {(r, a) for _, r, a, _ in e if r != TRIGGER}

    def isin(a: Event, b: Event) -> bool:
        return a[0][0] == b[0][0] and args(a) <= args(b)

    kept: list[Event] = []
    for event in events:
        kept = [e for e in kept if not isin(e, event)]
        if not any(isin(event, e) for e in kept):
            kept.append(event)
    return kept


def oracle_logits(lab: EventLabels, n: int, big: float = 1e4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """±big logits (float32) that encode `lab` exactly: what a perfect model would output."""
    argu = np.full((len(lab.argu), n, n), -big, dtype=np.float32)
    for k, spans in enumerate(lab.argu):
        for h, t in spans:
            argu[k, h, t] = big
    head, tail = np.full((n, n), -big, dtype=np.float32), np.full((n, n), -big, dtype=np.float32)
    for (i, j) in lab.head:
        head[i, j] = big
    for (i, j) in lab.tail:
        tail[i, j] = big
    return argu, head, tail


def recoverable(sample: EventSample, schema: EventSchema, offsets: list[tuple[int, int]]) -> bool:
    """Whether encode → ±big logits → decode gives the gold events back (see the module docstring)."""
    labels = schema.labels()
    got = decode_events(*oracle_logits(encode_events(sample, labels, offsets), len(offsets)), sample.text,
                        offsets, labels, trigger=False)
    return sorted(got) == sorted(set(sample.events))
