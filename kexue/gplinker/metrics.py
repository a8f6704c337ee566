"""The metrics of the GPLinker posts, computed as the posts' code computes them.

- Events (kexue.fm/archives/8926, duee_v1.py `evaluate`), predictions decoded with trigger=False:
  event level: R = the deduplicated predicted events that contain a trigger, T = the deduplicated
  gold events; an event is right iff it equals a gold event exactly (every (type, role, text, start)).
  argument level: R, T = the deduplicated (type, role, text, start) tuples of all events, triggers left
  out. Both sums run over sentences: X += |R ∩ T|, Y += |R|, Z += |T|.
- Relations (kexue.fm/archives/8888, duie_v1.py): the same X, Y, Z over sets of (s, p, o) texts.
- NER (kexue.fm/archives/8373): the same over sets of (start, end, type).
P = X/Y, R = X/Z, F1 = 2X/(Y + Z), every count starting at 1e-10 as in the posts' code.

The DuEE leaderboard (千言, LIC2020/2021) scores arguments softly, and the post's 81.47 is that
number; its script is not in the post, and we found no public copy of the scorer. Its definition is
written in PaddleNLP's DuEE example (PaddlePaddle/PaddleNLP, examples/information_extraction/DuEE/README.md,
"评测方法"): a predicted argument scores [event type right] × [role right] × the character-level F1 of
its text against the gold argument's (c = characters in common, counted with multiplicity; p = c / the
predicted length, r = c / the gold length, F1 = 2pr/(p + r)), case-insensitive, the best over the gold
argument's expressions (its text and its aliases); P = Σ score / #predicted arguments,
R = Σ score / #gold arguments, F1 = 2PR/(P + R).
`soft_argument_prf` computes exactly that. What the README leaves open, and our choice: which gold
argument a prediction is scored against. We pair predictions and gold arguments of one sentence and one
(type, role) one to one, maximising the summed score (an assignment problem; so a gold argument is never
credited twice, R ≤ 1, and the order of the predictions does not matter); arguments are deduplicated per
sentence as (type, role, text), triggers left out, as the argument-level metric above does.
Every output names its metric.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from kexue.gplinker.data import TRIGGER, Event

EPS = 1e-10  # the posts' smoothing


def prf(x: float, y: float, z: float) -> dict[str, float]:
    # P = X/Y, R = X/Z, F1 = 2X/(Y + Z)
    return {"precision": x / y, "recall": x / z, "f1": 2 * x / (y + z)}


def set_prf(pred: Iterable[Iterable], gold: Iterable[Iterable]) -> dict[str, float]:
    """Micro P/R/F1 of per-sentence sets (relations' (s, p, o), NER's (start, end, type))."""
    x = y = z = EPS
    for r, t in zip(pred, gold):
        r, t = set(r), set(t)
        x, y, z = x + len(r & t), y + len(r), z + len(t)
    return prf(x, y, z)


def event_prf(pred: Sequence[list[Event]], gold: Sequence[list[Event]]) -> dict[str, float]:
    """Event-level and argument-level P/R/F1, keys `event_level/f1`, `argument_level/f1`, ..."""
    ex = ey = ez = EPS
    ax = ay = az = EPS
    for p_events, g_events in zip(pred, gold):
        # event level: predicted events with a trigger against all gold events
        r = _dedup(tuple(sorted(e)) for e in p_events if any(a[1] == TRIGGER for a in e))
        t = _dedup(tuple(sorted(e)) for e in g_events)
        ex, ey, ez = ex + sum(e in t for e in r), ey + len(r), ez + len(t)
        # argument level: (type, role, text, start), triggers left out
        r = _dedup(a for e in p_events for a in e if a[1] != TRIGGER)
        t = _dedup(a for e in g_events for a in e if a[1] != TRIGGER)
        ax, ay, az = ax + sum(a in t for a in r), ay + len(r), az + len(t)
    out = {f"event_level/{k}": v for k, v in prf(ex, ey, ez).items()}
    out.update({f"argument_level/{k}": v for k, v in prf(ax, ay, az).items()})
    return out


def char_f1(pred: str, gold: str) -> float:
    """Character-level F1 of two strings (case-insensitive, characters as a multiset)."""
    p, g = Counter(pred.lower()), Counter(gold.lower())
    # c = Σ_ch min(#ch in pred, #ch in gold); p = c/|pred|, r = c/|gold|, F1 = 2pr/(p + r)
    common = sum((p & g).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(p.values()), common / sum(g.values())
    return 2 * precision * recall / (precision + recall)


def soft_argument_prf(pred: Sequence[list[Event]], gold: Sequence[list[Event]],
                      aliases: Sequence[dict[tuple[str, str, str], list[str]]] | None = None) -> dict[str, float]:
    """The DuEE leaderboard's soft argument P/R/F1 (see the module docstring); aliases[k] maps a gold
    (type, role, text) of sentence k to its other expressions (EventSample.aliases)."""
    score, n_pred, n_gold = 0.0, 0, 0
    for k, (p_events, g_events) in enumerate(zip(pred, gold)):
        p_args = _dedup((a[0], a[1], a[2]) for e in p_events for a in e if a[1] != TRIGGER)
        g_args = _dedup((a[0], a[1], a[2]) for e in g_events for a in e if a[1] != TRIGGER)
        n_pred, n_gold = n_pred + len(p_args), n_gold + len(g_args)
        names = aliases[k] if aliases else {}
        for label in _dedup(a[:2] for a in p_args):  # a wrong type or role scores 0: only same-label pairs
            texts = [a[2] for a in p_args if a[:2] == label]
            golds = [[g[2], *names.get(g, [])] for g in g_args if g[:2] == label]
            if golds:
                score += best_pairing(texts, golds)
    p, r = score / max(n_pred, EPS), score / max(n_gold, EPS)
    return {"soft_argument/precision": p, "soft_argument/recall": r,
            "soft_argument/f1": 2 * p * r / max(p + r, EPS)}


def best_pairing(texts: list[str], golds: list[list[str]]) -> float:
    """The largest Σ score over one-to-one pairings of predicted texts with gold arguments (each a list of
    its expressions), score(t, g) = max over g's expressions of char_f1."""
    s = np.array([[max(char_f1(t, name) for name in g) for g in golds] for t in texts])
    # max over pairings π of Σ_i s[i, π(i)] (the Hungarian method)
    rows, cols = linear_sum_assignment(s, maximize=True)
    return float(s[rows, cols].sum())


def _dedup(items: Iterable) -> list:
    return list(dict.fromkeys(items))
