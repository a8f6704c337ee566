"""The verdict rules of post 9554's trained and timed claims: pure functions from numbers to a Decision.

kexue.fm/archives/9554 and Orvieto et al. (2023). `reproduce.py` measures; these decide; every branch
is reached with synthetic numbers in `tests/lru/test_claims.py`.

- `log_depth`: the parallel scan runs O(log L) dependent steps. Counted exactly: the aten ops one call
  dispatches, at L = 2^k. Held when the count rises by the same positive number per doubling of L
  (affine in log₂ L) while the loop's rises in proportion to L; not held otherwise (a loop in
  disguise adds ops in proportion to L).
- `much_faster`: the scan against the loop in every measured cell (batch 1 and 8, forward and forward +
  backward). Per cell the interval of log(t_loop) − log(t_scan) over repeats (Welch); held when every
  cell's interval lies above log `threshold` (2× by default), not held when any cell's lies below it,
  else inconclusive.
- `ablation_steps`: Table 2, every step in the paper's direction: dense → Λ re+im, Λ exp → stable
  exp and stable exp → LRU must each be better (per-seed accuracy, Welch); Λ re+im → Λ exp is, as in
  the paper (86.5 → 85.4), no better by more than 1 point. A tie is inconclusive, not held only when a
  step is clearly on the wrong side. Floors: every model above the majority class by 5 points.
- `ranking`: Su's LM ranking at equal size, SA > LRU > SLRU, in held-out loss per seed.
- `gap_grows`: "RNNs fall further behind as training length grows": the per-seed loss gap
  L_RNN − L_SA is larger at the longer training length.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from kexue.verdicts import LEVEL, Decision, Floor, all_of, better, floors, no_better, welch_interval

# Table 2 of the paper (sCIFAR test accuracy, %), the order of the ablation
TABLE2 = {"dense": 72.2, "diag_reim": 86.5, "diag_exp": 85.4, "stable_exp": 87.2, "lru": 89.0}
RANKING = ("transformer", "lru", "slru")  # Su's LM ranking, the part kexue builds (SA > LRU > SLRU)
STEPS = (("dense", "diag_reim"), ("diag_reim", "diag_exp"), ("diag_exp", "stable_exp"), ("stable_exp", "lru"))


def log_depth(parallel_ops: Mapping[int, int], loop_ops: Mapping[int, int]) -> Decision:
    """`parallel_ops`, `loop_ops`: {L: aten ops dispatched by one scan of length L}, L powers of 2."""
    Ls = sorted(parallel_ops)
    rule = ("ops dispatched by one scan, counted exactly: held when the parallel scan's count rises by the "
            "same positive number per doubling of L (O(log L) steps) while the loop's doubles; else not held")
    if len(Ls) < 3 or any(L & (L - 1) for L in Ls) or any(b != 2 * a for a, b in zip(Ls, Ls[1:])):
        return Decision("inconclusive", rule, f"needs ≥ 3 lengths, each double the last; got {Ls}")
    steps = [parallel_ops[b] - parallel_ops[a] for a, b in zip(Ls, Ls[1:])]
    loop_ratio = [loop_ops[b] / loop_ops[a] for a, b in zip(Ls, Ls[1:])]
    why = (f"parallel: {', '.join(f'{parallel_ops[L]}' for L in Ls)} ops at L = {', '.join(map(str, Ls))} "
           f"(+{'/'.join(map(str, steps))} per doubling); loop ×{min(loop_ratio):.2f}–{max(loop_ratio):.2f}")
    ok = len(set(steps)) == 1 and steps[0] > 0 and all(r > 1.9 for r in loop_ratio)
    return Decision("held" if ok else "not held", rule, why)


def much_faster(cells: Mapping[str, tuple[Sequence[float], Sequence[float]]], threshold: float = 2.0,
                level: float = LEVEL) -> Decision:
    """`cells`: {name: (loop seconds per repeat, scan seconds per repeat)}."""
    rule = (f"per cell the {level:.0%} interval of log(t_loop / t_scan) over repeats: held when every cell's "
            f"lies above log {threshold:g}, not held when any cell's lies below it, else inconclusive")
    parts, verdicts = [], []
    for name, (loop, scan) in cells.items():
        lo, hi = welch_interval(np.log(loop), np.log(scan), level)
        mid = math.exp(float(np.mean(np.log(loop)) - np.mean(np.log(scan))))
        parts.append(f"{name} {mid:.1f}× [{_x(lo)}, {_x(hi)}]")
        verdicts.append("held" if lo > math.log(threshold) else "not held" if hi < math.log(threshold)
                        else "inconclusive")
    why = "; ".join(parts)
    for v in ("not held", "inconclusive"):
        if v in verdicts:
            return Decision(v, rule, why)
    return Decision("held", rule, why)


def _x(log_ratio: float) -> str:
    return f"{math.exp(log_ratio):.2f}×" if math.isfinite(log_ratio) else ("∞" if log_ratio > 0 else "0")


def ablation_steps(acc: Mapping[str, Sequence[float]], majority: float, tolerance: float = 0.01,
                   floor_margin: float = 0.05) -> Decision:
    """`acc`: {model: per-seed test accuracy} for the models of `STEPS`; `majority`: the majority-class rate."""
    decisions, parts = [], []
    for prev, nxt in STEPS:
        if TABLE2[nxt] > TABLE2[prev]:
            d = better(acc[nxt], acc[prev], names=(nxt, prev))
            parts.append(f"{prev} → {nxt} better: {d.verdict} ({d.why})")
        else:
            d = no_better(acc[nxt], acc[prev], tolerance=tolerance, names=(nxt, prev))
            parts.append(f"{prev} → {nxt} no better by > {tolerance:g}: {d.verdict} ({d.why})")
        decisions.append(d)
    rule = ("Table 2 step by step, in the paper's direction (dense → re+im better; re+im → exp no better by "
            f"more than {tolerance:g}; exp → stable exp better; stable exp → LRU better), each by Welch's "
            f"{LEVEL:.0%} interval over seeds; held when every step holds, not held when any is clearly on the "
            "wrong side, else inconclusive")
    verdict = all_of(decisions, rule).verdict
    decision = Decision(verdict, rule, "; ".join(parts))
    checks = [Floor(f"{m} accuracy", float(np.mean(acc[m])), majority, higher_is_better=True, margin=floor_margin)
              for m in TABLE2]
    return floors(checks, decision)


def ranking(loss: Mapping[str, Sequence[float]], unigram: float, order: Sequence[str] = RANKING,
            floor_margin: float = 0.1) -> Decision:
    """Su's ranking (lower held-out LM loss first): each neighbour pair by Welch's interval over seeds."""
    decisions, parts = [], []
    for a, b in zip(order, order[1:]):
        d = better(loss[a], loss[b], higher_is_better=False, names=(a, b))
        decisions.append(d)
        parts.append(f"{a} < {b}: {d.verdict} ({d.why})")
    rule = (f"held-out LM loss, {' < '.join(order)}: each neighbour pair better by Welch's {LEVEL:.0%} interval "
            "over seeds; held when all are, not held when any pair is clearly reversed, else inconclusive")
    decision = Decision(all_of(decisions, rule).verdict, rule, "; ".join(parts))
    checks = [Floor(f"{m} LM loss", float(np.mean(loss[m])), unigram, higher_is_better=False, margin=floor_margin)
              for m in order]
    return floors(checks, decision)


def gap_grows(short: Mapping[str, Sequence[float]], long: Mapping[str, Sequence[float]], rnn: str = "lru",
              attention: str = "transformer") -> Decision:
    """`short`, `long`: {model: per-seed held-out loss} at the shorter and the longer training length;
    the gap g = L_rnn − L_attention per seed must be larger at the longer length."""
    g_short = [r - a for r, a in zip(short[rnn], short[attention])]
    g_long = [r - a for r, a in zip(long[rnn], long[attention])]
    d = better(g_long, g_short, names=("gap at the longer length", "gap at the shorter"))
    rule = f"per seed g = L_{rnn} − L_{attention}; " + d.rule
    return Decision(d.verdict, rule, d.why)
