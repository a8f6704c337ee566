"""The verdict rules of post 8610's claims: pure functions from measured numbers to a Decision.

kexue.fm/archives/8610 (quality: 8338, 9529). `measure.py` and `quality.py` measure, `reproduce.py`
asks one rule per claim; `tests/attention/test_claims.py` reaches every branch with synthetic numbers.

The check (an identity, listed apart from the claims):
- `count_matches`: the post's count equals what torch's FLOP counter sees on the real layer, exactly;
  its negative control is the same rule on the count with the n² term once (n²hd, not 2n²hd).

The claims:
1. `crossover_near`: "SA costs more than FFN only beyond n = 2hd" — the measured crossover is of the
   count's order of magnitude: within `CROSSOVER_FACTOR` = √10 of it (half a decade either way), as the
   post asks its bounds to be read ("感知一下范围和数量级就好"). Decided on the interval of the crossover
   (`crossover_interval`), a bootstrap over the timing rounds: held when the whole interval is inside
   [n*/√10, √10·n*], not held when it is wholly outside, else inconclusive. No crossover in the
   measured range counts as beyond it. (The load of a shared machine moves the ratio of two kernels'
   CPU times by up to ~25 % between runs, more than the rounds of one run show; the half-decade band
   leaves that room, a 2× band did not: the measured softmax/linear crossover sits near 2 × 16d.)
2. `near_linear`: "below 2hd a layer is close to linear" — fit t(n) = a + b·n + c·n² to the layer time
   and compare the n² term, relative to the linear one, with the count's: ρ = (c/b) / (2hd / 12h²d²)
   = 6hd·c/b. The count says ρ = 1, the n² term then 25 % of the layer at n = 2hd; "close to linear" is
   read as that share at most one half, ρ ≤ `RHO_BOUND` = 3. The interval of ρ is a bootstrap over the
   repeats. (Our departure: the post argues from the count alone; the fit asks the machine.)
3. `crossover_near` again: "linear attention with key size 4d is cheaper only beyond n = 16d".
4. `lm_close`: linear attention is close to softmax as a causal LM (8338). Non-inferiority on the
   paired per-seed differences L_linear − L_softmax, the margin `LM_CLOSE_SHARE` of what softmax
   learned over the unigram loss (`kexue.verdicts.non_inferior`).
5. `mlm_clearly_worse`: ... and clearly worse as an MLM (8338): the paired difference lies above
   `MLM_WORSE_SHARE` of what the softmax MLM learned over the unigram loss.
Both quality claims count only when every model beats the unigram loss by `FLOOR_MARGIN`.

The timing claims read CPU time of the work itself (`kexue.timing.interleaved_seconds`, one torch
thread, the sides interleaved), and every repeat is kept: a busy machine widens nothing it does not
slow, and a spread that the repeats do show makes the interval wider, not the verdict different.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from kexue.verdicts import LEVEL, Decision, Floor, all_of, close_to, floors, non_inferior, paired_interval

# (post, the post's sentence): every claim on the page quotes one of these, verbatim
QUOTES: dict[str, tuple[int, str]] = {
    "sa_ffn": (8610, "只有当序列长度超过1536时，SA的计算量才大于FFN"),
    "near_linear": (8610, "对于base版来说，当序列长度不超过1536时，Transformer的复杂度都是近乎线性的"),
    "linear_crossover": (8610, "如果线性Attention要比标准Attention快，那么就要n > 16d"),
    "lm_close": (8338, "线性Attention做语言模型或者解码器的时候，效果是跟标准Attention差不了多少的"),
    "mlm_worse": (8338, "如果用不稀疏的双向的线性Attention直接做MLM模型，则掉点会相当明显"),
}

CROSSOVER_FACTOR = math.sqrt(10)  # the count's order of magnitude: within half a decade either way (数量级)
RHO_BOUND = 3.0  # the n² term at most half the layer's time at n = 2hd
LM_CLOSE_SHARE = 0.05  # "close" as a causal LM: linear loses under 5 % of what softmax learned over the unigram
MLM_WORSE_SHARE = 0.10  # "clearly worse" as an MLM: linear loses over 10 % of what softmax learned
FLOOR_MARGIN = 0.1  # nats/char: every model must beat the unigram loss by this much to count
N_BOOT = 2000  # bootstrap resamples of the timing repeats


def count_matches(counted: dict[str, int], formula: dict[str, int]) -> Decision:
    """Every block's counted multiplications equal the formula's, exactly."""
    checks = [close_to(float(counted[k]), float(formula[k]), name=f"counted {k.upper()}") for k in formula]
    return all_of(checks, "the count equals torch's FLOP counter on the real layer, exactly, for every block")


# --- crossovers: an interval over the timing repeats ---

def crossover(ns: Sequence[float], log_ratio: Sequence[float]) -> float | None:
    """The first n at which log(t_a / t_b) turns positive, log-linearly interpolated; None if it never
    does; ns[0] if a is slower already at the shortest length."""
    if log_ratio[0] > 0:
        return float(ns[0])
    for i in range(1, len(ns)):
        if log_ratio[i] > 0:
            # log n at which the log-ratio crosses 0, linear between the two neighbours
            t = -log_ratio[i - 1] / (log_ratio[i] - log_ratio[i - 1])
            return float(math.exp(math.log(ns[i - 1]) + t * (math.log(ns[i]) - math.log(ns[i - 1]))))
    return None


def crossover_interval(ns: Sequence[float], a: Sequence[Sequence[float]], b: Sequence[Sequence[float]],
                       level: float = LEVEL, n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float, float]:
    """Where a overtakes b: (point, low, high). `a[i]`, `b[i]`: seconds of each round at length ns[i],
    round r of a and of b timed in the same interleaved round (so paired). The point is the crossover
    of the mean log-ratio r̄(n); the interval the percentile bootstrap over the rounds, resampled
    within each length. No crossover in range is +inf."""
    # r_ir = log a_ir − log b_ir
    r = np.log(np.asarray(a, dtype=float)) - np.log(np.asarray(b, dtype=float))
    point = crossover(ns, r.mean(axis=1))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, r.shape[1], size=(n_boot, *r.shape))
    means = np.take_along_axis(r[None], idx, axis=2).mean(axis=2)  # [n_boot, lengths]
    xs = np.array([x if (x := crossover(ns, m)) is not None else math.inf for m in means])
    lo = float(np.quantile(xs, (1 - level) / 2, method="lower"))
    hi = float(np.quantile(xs, (1 + level) / 2, method="higher"))
    return (point if point is not None else math.inf), lo, hi


def crossover_near(interval: tuple[float, float, float], predicted: float, n_max: float,
                   factor: float = CROSSOVER_FACTOR, name: str = "crossover") -> Decision:
    """A measured crossover within [predicted / factor, predicted · factor], decided on its interval."""
    x, lo, hi = interval
    band = (predicted / factor, predicted * factor)
    rule = (f"{name}: held when the {LEVEL:.0%} bootstrap interval (over the timing rounds) of the measured n "
            f"lies within {factor:.3g}× of the count's "
            f"{predicted:g} ([{band[0]:.0f}, {band[1]:.0f}]); not held when it lies wholly outside (no "
            f"crossover up to n_max = {n_max:g} counts as beyond it only if n_max > {band[1]:.0f}); else "
            "inconclusive")
    fmt = lambda v: f"{v:.0f}" if math.isfinite(v) else f"none up to {n_max:g}"
    why = f"measured n ≈ {fmt(x)}, interval [{fmt(lo)}, {fmt(hi)}]"
    if band[0] <= lo and hi <= band[1]:
        return Decision("held", rule, why)
    if hi < band[0] or (lo > band[1] and n_max > band[1]):
        return Decision("not held", rule, why)
    return Decision("inconclusive", rule, why)


# --- the layer's n² term against the count's ---

def quadratic_fit(ns: Sequence[float], times: Sequence[float]) -> np.ndarray:
    """Least squares t(n) = a + b·n + c·n², weighted by 1/t (timing noise is relative): (a, b, c)."""
    n, t = np.asarray(ns, dtype=float), np.asarray(times, dtype=float)
    if n.size < 4:
        raise ValueError(f"quadratic_fit needs ≥ 4 lengths, got {n.size}")
    X = np.stack([np.ones_like(n), n, n**2], axis=1) / t[:, None]
    coef, *_ = np.linalg.lstsq(X, np.ones_like(t), rcond=None)  # minimise Σ ((a + bn + cn²)/t − 1)²
    return coef


def rho(ns: Sequence[float], times: Sequence[float], hd: int) -> float:
    """ρ = 6hd·c/b of the fit: the n² term against the count's (1); inf when there is no linear term."""
    _, b, c = quadratic_fit(ns, times)
    return 6 * hd * c / b if b > 0 else math.inf


def rho_interval(ns: Sequence[float], times: Sequence[Sequence[float]], hd: int, level: float = LEVEL,
                 n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float, float]:
    """(ρ, low, high): ρ of the fit to the mean time per length, and its percentile bootstrap interval
    over the repeats (`times[i]`: the layer's seconds in each repeat at length ns[i])."""
    t = np.asarray(times, dtype=float)
    point = rho(ns, t.mean(axis=1), hd)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, t.shape[1], size=(n_boot, *t.shape))
    boots = np.array([rho(ns, m, hd) for m in np.take_along_axis(t[None], idx, axis=2).mean(axis=2)])
    lo = float(np.quantile(boots, (1 - level) / 2, method="lower"))
    hi = float(np.quantile(boots, (1 + level) / 2, method="higher"))
    return point, lo, hi


def near_linear(interval: tuple[float, float, float], bound: float = RHO_BOUND) -> Decision:
    """"Close to linear below 2hd": the interval of ρ = 6hd·c/b lies below `bound` (the count's is 1)."""
    x, lo, hi = interval
    share = lambda r: 2 * r / (6 + 2 * r) if math.isfinite(r) else 1.0  # the n² share of the layer at n = 2hd
    rule = (f"fit t(n) = a + b·n + c·n² to the layer time; ρ = 6hd·c/b is the n² term against the count's "
            f"(ρ = 1: 25 % of the layer at n = 2hd); held when the {LEVEL:.0%} bootstrap interval of ρ over "
            f"the repeats lies below {bound:g} (the n² term at most {share(bound):.0%} of the layer at 2hd), "
            "not held when it lies above, else inconclusive")
    why = f"ρ = {x:.2f} in [{lo:.2f}, {hi:.2f}] (n² share at 2hd ≈ {share(x):.0%})"
    if hi < bound:
        return Decision("held", rule, why)
    if lo > bound:
        return Decision("not held", rule, why)
    return Decision("inconclusive", rule, why)


# --- quality: paired per-seed losses, bands a share of what was learned ---



def paired_differences(linear: Sequence[float], softmax: Sequence[float]) -> list[float]:
    """Per seed Δ = L_linear − L_softmax (nats/char)."""
    if len(linear) != len(softmax):
        raise ValueError(f"one linear and one softmax loss per seed, got {len(linear)} and {len(softmax)}")
    return [lin - soft for lin, soft in zip(linear, softmax)]


def _floors(task: str, sides: dict[str, Sequence[float]], unigram: float, decision: Decision) -> Decision:
    checks = [Floor(f"{task} {side} loss", float(np.mean(v)), unigram, higher_is_better=False, margin=FLOOR_MARGIN)
              for side, v in sides.items()]
    return floors(checks, decision)


def lm_close(lm: dict[str, Sequence[float]], unigram: float, share: float = LM_CLOSE_SHARE) -> Decision:
    """`lm`: {"softmax": per-seed losses, "linear": per-seed losses}, seed i paired. Linear as good as
    softmax up to δ = share · (unigram − L_softmax), on the interval of the paired Δ."""
    interval = paired_interval(paired_differences(lm["linear"], lm["softmax"]))
    d = non_inferior(lm["linear"], lm["softmax"], floor=unigram, share=share, higher_is_better=False,
                     interval=interval, names=("linear", "softmax"))
    if not math.isfinite(interval[0]):
        d = Decision(d.verdict, d.rule, d.why + " (one seed)")
    return _floors("LM", lm, unigram, d)


def mlm_clearly_worse(mlm: dict[str, Sequence[float]], unigram: float, share: float = MLM_WORSE_SHARE) -> Decision:
    """Linear loses more than δ = share · (unigram − L_softmax) as an MLM: held when the interval of the
    paired Δ = L_linear − L_softmax lies above δ, not held when it lies below δ (the loss is within what
    a reader would not call clear), else inconclusive."""
    lo, hi = paired_interval(paired_differences(mlm["linear"], mlm["softmax"]))
    gain = unigram - float(np.mean(mlm["softmax"]))
    delta = share * gain
    rule = (f"linear clearly worse than softmax: margin δ = {share:g} × the gain of softmax over the unigram "
            f"loss {unigram:.4g} (gain {gain:.4g}, δ = {delta:.4g}); held when the {LEVEL:.0%} interval of the "
            "paired L_linear − L_softmax lies above δ; not held when it lies below δ; else inconclusive")
    fmt = lambda v: f"{v:+.4g}" if math.isfinite(v) else ("∞" if v > 0 else "−∞")
    why = f"L_linear − L_softmax in [{fmt(lo)}, {fmt(hi)}]"
    if lo > delta:
        d = Decision("held", rule, why)
    elif hi < delta:
        d = Decision("not held", rule, why)
    else:
        d = Decision("inconclusive", rule, why + (" (one seed)" if not math.isfinite(lo) else ""))
    return _floors("MLM", mlm, unigram, d)
