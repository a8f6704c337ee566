"""The metrics of the GPLinker posts, computed as the posts' code computes them.

- Events (kexue.fm/archives/8926, duee_v1.py `evaluate`), predictions decoded with trigger=False:
  event level: R = the deduplicated predicted events that contain a trigger, T = the deduplicated
  gold events; an event is right iff it equals a gold event exactly (every (type, role, text, start)).
  argument level: R, T = the deduplicated (type, role, text, start) tuples of all events, triggers left
  out. Both sums run over sentences: X += |R ∩ T|, Y += |R|, Z += |T|.
- Relations (kexue.fm/archives/8888, duie_v1.py): the same X, Y, Z over sets of (s, p, o) texts.
- NER (kexue.fm/archives/8373): the same over sets of (start, end, type).
P = X/Y, R = X/Z, F1 = 2X/(Y + Z), every count starting at 1e-10 as in the posts' code.

Where we depart: the DuEE leaderboard (千言) scores arguments softly, and the post's 81.47 is that
number; its script is not in the post. `soft_argument_prf` is our restatement: per sentence, each
predicted (type, role, text) earns the character-level F1 (case-insensitive, multiset of characters)
of the best still-unmatched gold argument of the same type and role (its text or an alias), greedily,
P = Σ score / #pred, R = Σ score / #gold. Every output names its metric.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

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
    common = sum((p & g).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(p.values()), common / sum(g.values())
    return 2 * precision * recall / (precision + recall)


def soft_argument_prf(pred: Sequence[list[Event]], gold: Sequence[list[Event]],
                      aliases: Sequence[dict[tuple[str, str, str], list[str]]] | None = None) -> dict[str, float]:
    """The DuEE leaderboard-style soft argument P/R/F1 (our restatement; see the module docstring)."""
    score, n_pred, n_gold = 0.0, 0, 0
    for k, (p_events, g_events) in enumerate(zip(pred, gold)):
        p_args = _dedup((a[0], a[1], a[2]) for e in p_events for a in e if a[1] != TRIGGER)
        g_args = _dedup((a[0], a[1], a[2]) for e in g_events for a in e if a[1] != TRIGGER)
        n_pred, n_gold = n_pred + len(p_args), n_gold + len(g_args)
        free = list(g_args)
        for t, r, text in p_args:
            best, best_i = 0.0, None
            for i, g in enumerate(free):
                if g[:2] == (t, r):
                    names = [g[2], *((aliases[k].get(g, []) if aliases else []))]
                    s = max(char_f1(text, name) for name in names)
                    if s > best:
                        best, best_i = s, i
            if best_i is not None:
                score += best
                free.pop(best_i)
    p, r = score / max(n_pred, EPS), score / max(n_gold, EPS)
    return {"soft_argument/precision": p, "soft_argument/recall": r,
            "soft_argument/f1": 2 * p * r / max(p + r, EPS)}


def _dedup(items: Iterable) -> list:
    return list(dict.fromkeys(items))
