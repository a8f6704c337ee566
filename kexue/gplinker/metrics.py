"""The metrics of the GPLinker posts, computed as the posts' code computes them.

- Events (kexue.fm/archives/8926, duee_v1.py `evaluate`), predictions decoded with trigger=False:
  event level: R = the deduplicated predicted events that contain a trigger, T = the deduplicated
  gold events; an event is right iff it equals a gold event exactly (every (type, role, text, start)).
  argument level: R, T = the deduplicated (type, role, text, start) tuples of all events, triggers left
  out. Both sums run over sentences: X += |R ∩ T|, Y += |R|, Z += |T|.
  Arguments are compared after Su's normalisation (duee_fin.py's ' '.join(x.split()), and lower case as
  his tokenizer reads them); a DuEE-fin enum argument (start −1) is scored with its event's trigger span,
  as duee_fin.py carries it on the trigger as (type, value, trigger, trigger_start).
- Relations (kexue.fm/archives/8888, duie_v1.py): the same X, Y, Z over sets of (s, p, o), compared as
  duie_v1.py's `SPO` compares them, by the tokenised subject and object (`spo_key`: lower case, accents
  stripped, split into the basic tokens of a BERT tokenizer — every CJK character and punctuation mark
  its own token, whitespace a boundary only). Where we depart: duie_v1.py tokenises with the run's
  WordPiece vocabulary; WordPiece splits each basic token the same way for both sides, so equal basic
  tokens give equal word pieces, and the metric needs no tokenizer.
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

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from kexue.gplinker.data import TRIGGER, Event

EPS = 1e-10  # the posts' smoothing


def prf(x: float, y: float, z: float) -> dict[str, float | None]:
    """P = X/Y, R = X/Z, F1 = 2X/(Y + Z) of the ε-smoothed counts, where a ratio with nothing behind it is
    undefined (None, printed "n/a"): with nothing predicted the posts' ε/ε gives precision 1.0, which an
    untrained model or another task's file would report as perfect. F1 with gold but no prediction is 0."""
    predicted, gold = y - EPS >= 0.5, z - EPS >= 0.5
    return {"precision": x / y if predicted else None, "recall": x / z if gold else None,
            "f1": 2 * x / (y + z) if predicted or gold else None}


def set_prf(pred: Iterable[Iterable], gold: Iterable[Iterable], key=None, prefix: str = "") -> dict[str, float]:
    """Micro P/R/F1 of per-sentence sets (relations' (s, p, o), NER's (start, end, type)), each item
    compared as key(item); with a prefix, the counts (predicted, gold, correct) come with them."""
    x = y = z = EPS
    for r, t in zip(pred, gold):
        r, t = set(map(key, r) if key else r), set(map(key, t) if key else t)
        x, y, z = x + len(r & t), y + len(r), z + len(t)
    if not prefix:
        return prf(x, y, z)
    return {**{f"{prefix}/{k}": v for k, v in prf(x, y, z).items()}, **counts(prefix, x, y, z)}


def event_prf(pred: Sequence[list[Event]], gold: Sequence[list[Event]]) -> dict[str, float]:
    """Event-level and argument-level P/R/F1, keys `event_level/f1`, `argument_level/f1`, ..., with the
    counts behind each (`event_level/predicted`, `/gold`, `/correct`, the same for arguments)."""
    ex = ey = ez = EPS
    ax = ay = az = EPS
    for p_events, g_events in zip(pred, gold):
        # event level: predicted events with a trigger against all gold events
        r = _dedup(_event_key(e) for e in p_events if any(a[1] == TRIGGER for a in e))
        t = set(_event_key(e) for e in g_events)
        ex, ey, ez = ex + sum(e in t for e in r), ey + len(r), ez + len(set(t))
        # argument level: (type, role, text, start), triggers left out
        r = _dedup(_arg_key(a, e) for e in p_events for a in e if a[1] != TRIGGER)
        t = set(_arg_key(a, e) for e in g_events for a in e if a[1] != TRIGGER)
        ax, ay, az = ax + sum(a in t for a in r), ay + len(r), az + len(t)
    out = {f"event_level/{k}": v for k, v in prf(ex, ey, ez).items()}
    out.update({f"argument_level/{k}": v for k, v in prf(ax, ay, az).items()})
    out.update(counts("event_level", ex, ey, ez))
    out.update(counts("argument_level", ax, ay, az))
    return out


def counts(prefix: str, x: float, y: float, z: float) -> dict[str, int]:
    """The whole counts behind P/R/F1 (the ε of the posts taken off): predicted, gold, correct."""
    return {f"{prefix}/predicted": round(y - EPS), f"{prefix}/gold": round(z - EPS),
            f"{prefix}/correct": round(x - EPS)}


def normalize_argument(text: str) -> str:
    """Su's normalisation of an argument: ' '.join(text.split()), lower case."""
    return " ".join(text.split()).lower()


def _arg_key(a: tuple, event: Event) -> tuple:
    etype, role, text, start = a
    if start == -1:  # an enum value: scored with the trigger's span, as duee_fin.py carries it
        trig = next(((normalize_argument(x[2]), x[3]) for x in event if x[1] == TRIGGER), None)
        return etype, role, text, trig
    return etype, role, normalize_argument(text), start


def _event_key(event: Event) -> tuple:
    return tuple(sorted(_arg_key(a, event) for a in event))


def spo_key(triple: tuple[str, str, str]) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """(s, p, o) as duie_v1.py's SPO compares it: subject and object as their basic tokens."""
    s, p, o = triple
    return basic_tokens(s), p, basic_tokens(o)


def basic_tokens(text: str) -> tuple[str, ...]:
    """A BERT basic tokenizer's tokens: lower case, accents stripped, every CJK character and
    punctuation mark its own token, other runs split at whitespace."""
    text = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")
    spaced = "".join(f" {c} " if _cjk_or_punct(c) else c for c in text)
    return tuple(spaced.split())


def _cjk_or_punct(c: str) -> bool:
    cp = ord(c)
    if (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2FA1F or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F):
        return True
    return (33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126
            or unicodedata.category(c).startswith("P"))


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
    from scipy.optimize import linear_sum_assignment  # the reproduce extra: a lean install trains without it

    rows, cols = linear_sum_assignment(s, maximize=True)
    return float(s[rows, cols].sum())


def _dedup(items: Iterable) -> list:
    return list(dict.fromkeys(items))
