"""The verdict rules of post 8610's claims: pure functions from measured numbers to a Decision.

kexue.fm/archives/8610 (quality: 8338, 9529). `reproduce.py` measures; each function here turns its
numbers into held / not held / inconclusive, with the rule in words, and `tests/attention/test_claims.py`
reaches every branch with synthetic numbers (a wrong formula and a 7× larger n² term among them).

1. `count_matches`: the post's count equals what torch's FLOP counter sees on the real layer. An exact
   identity, so any difference is "not held".
2. `crossover_near`: a measured crossover lands within a factor of `factor` of the count's. The post
   calls its bounds orders of magnitude ("感知一下范围和数量级就好"), so 2× either way; no crossover in the
   measured range is "not held" when the range reached past `factor` × the prediction, else inconclusive.
3. `near_linear`: fit t(n) = a + b·n + c·n² to the measured layer time and compare the n² coefficient,
   relative to the linear one, with the count's: ρ = (c/b) / (2hd / 12h²d²) = 6hd·c/b. The count says
   ρ = 1; the n² term's share of the layer at n = 2hd is then 2ρ/(6 + 2ρ) = 25 %. "Close to linear below
   2hd" is read as: that share is at most one half, i.e. ρ ≤ 3 (`RHO_BOUND`). Held when the 95 % interval
   of ρ lies below 3, not held when it lies above, else inconclusive. (Our departure: the post argues
   from the count alone; the fit asks the machine.)
4. `lm_close_mlm_not`: linear attention is close to softmax as a causal LM but clearly worse as an MLM.
   Per seed, the relative gap g = (L_linear − L_softmax) / L_softmax of held-out loss (the two share the
   seed's init, data order and evaluation mask, so the gaps are paired). "Close" is |g| within `close`
   (2 % by default); the LM part holds when the interval of g_LM lies below `close`, the MLM part when
   the interval of g_MLM lies above it. Floors: every model's loss is below the unigram baseline by
   `floor_margin` nats, or the claim is "inconclusive: did not learn at this preset".
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from kexue.verdicts import LEVEL, Decision, Floor, all_of, close_to, floors

RHO_BOUND = 3.0  # the n² term is at most half the layer's time at n = 2hd
CLOSE = 0.02  # "close": a relative loss gap of at most 2 %
FLOOR_MARGIN = 0.1  # nats/char below the unigram baseline


def count_matches(counted: dict[str, int], formula: dict[str, int]) -> Decision:
    """Every block's counted multiplications equal the formula's, exactly."""
    checks = [close_to(float(counted[k]), float(formula[k]), name=f"counted {k.upper()}") for k in formula]
    return all_of(checks, "the count equals torch's FLOP counter on the real layer, exactly, for every block")


def crossover_near(measured: float | None, predicted: float, n_max: float, factor: float = 2.0,
                   name: str = "crossover") -> Decision:
    """A measured crossover n within [predicted / factor, predicted · factor]."""
    rule = (f"{name}: held when the measured n lies within {factor:g}× of the count's {predicted:g}; "
            f"not held outside; no crossover up to n_max = {n_max:g} is not held only if n_max > "
            f"{factor:g}·{predicted:g}, else inconclusive")
    if measured is None:
        why = f"no crossover up to n = {n_max:g}"
        return Decision("not held" if n_max > factor * predicted else "inconclusive", rule, why)
    ok = predicted / factor <= measured <= predicted * factor
    return Decision("held" if ok else "not held", rule, f"measured n ≈ {measured:.0f}")


def quadratic_fit(ns: Sequence[float], times: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Least squares t(n) = a + b·n + c·n², weighted by 1/t (timing noise is relative): (a, b, c), cov."""
    n, t = np.asarray(ns, dtype=float), np.asarray(times, dtype=float)
    if n.size < 4:
        raise ValueError(f"quadratic_fit needs ≥ 4 lengths to estimate its noise, got {n.size}")
    X = np.stack([np.ones_like(n), n, n**2], axis=1) / t[:, None]
    y = np.ones_like(t)  # t / t
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    dof = n.size - 3
    # cov = s² (XᵀX)⁻¹,  s² = ‖r‖² / (m − 3)
    cov = float(resid @ resid) / dof * np.linalg.inv(X.T @ X)
    return coef, cov


def rho_interval(ns: Sequence[float], times: Sequence[float], hd: int,
                 level: float = LEVEL) -> tuple[float, float, float]:
    """ρ = 6hd·c/b and its `level` interval by the delta method with Student's t on m − 3 dof."""
    from scipy.stats import t as student_t

    (_, b, c), cov = quadratic_fit(ns, times)
    if b <= 0:  # no linear term to compare with: the n² term is all there is
        return math.inf, math.inf, math.inf
    rho = 6 * hd * c / b
    # ∂ρ/∂b = −6hd·c/b², ∂ρ/∂c = 6hd/b
    grad = np.array([0.0, -6 * hd * c / b**2, 6 * hd / b])
    se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
    half = float(student_t.ppf((1 + level) / 2, len(ns) - 3)) * se
    return rho, rho - half, rho + half


def near_linear(ns: Sequence[float], times: Sequence[float], hd: int, bound: float = RHO_BOUND) -> Decision:
    """"Close to linear below 2hd": the fitted ρ = 6hd·c/b is at most `bound` (the count's is 1)."""
    rho, lo, hi = rho_interval(ns, times, hd)
    share = lambda r: 2 * r / (6 + 2 * r)  # the n² share of the layer at n = 2hd
    rule = (f"fit t(n) = a + b·n + c·n² to the layer time; ρ = 6hd·c/b is the n² term against the count's "
            f"(ρ = 1: 25 % of the layer at n = 2hd); held when the {LEVEL:.0%} interval of ρ lies below "
            f"{bound:g} (the n² term at most {share(bound):.0%} of the layer at 2hd), not held above, "
            "else inconclusive")
    why = f"ρ = {rho:.2f} in [{lo:.2f}, {hi:.2f}] (n² share at 2hd ≈ {share(rho) if math.isfinite(rho) else 1:.0%})"
    if hi < bound:
        return Decision("held", rule, why)
    if lo > bound:
        return Decision("not held", rule, why)
    return Decision("inconclusive", rule, why)


def mean_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """Student's t interval of the mean of paired differences; (−inf, inf) for fewer than 2."""
    from scipy.stats import t as student_t

    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return -math.inf, math.inf
    half = float(student_t.ppf((1 + level) / 2, x.size - 1)) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean() - half), float(x.mean() + half)


def relative_gaps(linear: Sequence[float], softmax: Sequence[float]) -> list[float]:
    """Per seed g = (L_linear − L_softmax) / L_softmax."""
    if len(linear) != len(softmax):
        raise ValueError(f"one linear and one softmax loss per seed, got {len(linear)} and {len(softmax)}")
    return [(lin - soft) / soft for lin, soft in zip(linear, softmax)]


def lm_close_mlm_not(lm: dict[str, Sequence[float]], mlm: dict[str, Sequence[float]], unigram: float,
                     close: float = CLOSE, floor_margin: float = FLOOR_MARGIN) -> Decision:
    """`lm`, `mlm`: {"softmax": per-seed losses, "linear": per-seed losses} (seed i paired across sides)."""
    g_lm, g_mlm = relative_gaps(lm["linear"], lm["softmax"]), relative_gaps(mlm["linear"], mlm["softmax"])
    lm_lo, lm_hi = mean_interval(g_lm)
    mlm_lo, mlm_hi = mean_interval(g_mlm)

    def part(lo: float, hi: float, want_below: bool, what: str) -> Decision:
        why = f"{what} gap in [{100 * lo:+.2f} %, {100 * hi:+.2f} %]"
        below, above = hi < close, lo > close
        if (below and want_below) or (above and not want_below):
            return Decision("held", "", why)
        if below or above:
            return Decision("not held", "", why)
        return Decision("inconclusive", "", why + (" (one seed)" if not math.isfinite(lo) else ""))

    rule = (f"per seed g = (L_linear − L_softmax)/L_softmax; held when the {LEVEL:.0%} interval of g_LM lies "
            f"below {100 * close:g} % and that of g_MLM above it; not held when either lies wholly on the "
            "wrong side; else inconclusive")
    decision = all_of([part(lm_lo, lm_hi, True, "LM"), part(mlm_lo, mlm_hi, False, "MLM")], rule)
    checks = [Floor(f"{task} {side} loss", float(np.mean(v)), unigram, higher_is_better=False, margin=floor_margin)
              for task, sides in (("LM", lm), ("MLM", mlm)) for side, v in sides.items()]
    return floors(checks, decision)
