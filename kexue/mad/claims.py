"""The rules that decide post 9687's claims: pure functions of per-seed (per-loop) measurements.

kexue.fm/archives/9687 and the paper's findings (notes-gen.md §4(b)). Each function takes per-seed
values (numpy arrays or lists) and returns a `kexue.verdicts.Decision`; `reproduce` turns it into a
Claim or a Check. Exact statements are read against their Monte Carlo standard error (`close_to`);
a change over the generations of one loop is read on the loop's own (paired) differences, with a t
interval over seeds (`paired_interval`); two loops are compared by Welch intervals over seeds.

Two rules over seeds live here: `paired_interval` (kexue.verdicts' on the per-seed changes), the t interval of a per-seed
change, and `ratio_interval`, the delta-method interval of a ratio of Monte Carlo means.

Every band below is a named constant, written down before the run that it judges.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from kexue import verdicts
from kexue.verdicts import (LEVEL, Decision, Floor, all_of, at_least, better, close_to, equivalent, floors,
                            no_better)

Z = 4.0  # Monte Carlo identities: held within 4 standard errors
SHRINK_TOLERANCE = 0.02  # the measured shrink rate E tr Σ_{t+1} / E tr Σ_t must lie within λ ± 0.02
FRESH_LIMIT_SHARE = 0.05  # two fresh loops "end at the same limit": within 5 % of the limit's W2
GMM_PRECISION_TOLERANCE = 0.02  # "precision holds": it falls by less than 0.02 (data vs data: 0.99)
DEVIATION_TOLERANCE = 0.02  # "the model did not deviate": neither precision nor recall fell by 0.02
TOTAL_VARIANCE_BAND = 0.10  # "the total variance does not show it": its relative change below 10 %
# precision may fall by at most 0.05: 300–400 samples measure a precision to about 0.025 per seed
DIFFUSION_PRECISION_TOLERANCE = 0.05

QUOTES: dict[str, tuple[int, str]] = {
    "mean_walk": (9687, "由于$\\boldsymbol{x}_{t-1}^{(i)}$都是随机采样得到的，所以$\\boldsymbol{\\mu}_t$也是一个随机变量，"
                        "根据正态分布的叠加性，它实际上服从"),
    "shrink": (9687, "于是可以想象，每一代的方差（多样性）都将以$\\lambda$的比率衰减下去，最后变成零（完全丧失多样性）"),
    "collapse": (9687, "如果不使用截断技巧（即$\\lambda=1$）是不是就没事了？并不是。"),
    "w2_grows": (9687, "即便没有截断技巧，在长期有限样本的迭代训练中，生成分布也有可能明显偏离原始的真实分布"),
    "augment": (9687, "第1种方式比较容易实现，但原论文显示它只能减缓退化的速度，无法从根本上解决这个问题"),
    "fresh": (9687, "第2种方式虽然可以解决退化问题"),
    "gmm_unbiased": (9687, "这将导致模型的质量或者多样性越来越差"),
    "gmm_biased": (9687, "如果加入截断技巧的话，多样性将会迅速丧失"),
    "modal_total": (9687, "即使没有截断技巧，经过反复迭代后的模型依然会不可避免地出现一些偏离"),
    "diffusion": (9687, "不管是Classifier-Guidance还是Classifier-Free方案，额外条件的引入也会限制生成结果的多样性"),
}


# --- intervals ---

def se(x: Sequence[float]) -> float:
    """The standard error of a Monte Carlo mean: s/√m (∞ for one value)."""
    x = np.asarray(x, dtype=float)
    return float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.inf


def paired_interval(first: Sequence[float], last: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """The `level` t interval of the mean per-seed change first − last (each seed is one loop, measured at
    both generations): `kexue.verdicts.paired_interval` of δ_s = first_s − last_s."""
    return verdicts.paired_interval(np.subtract(first, last), level)


def ratio_interval(num: Sequence[float], den: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """(r, lo, hi): r = Σ_i num_i / Σ_i den_i over independent loops i, with the delta-method interval
    r ± z se, se = sqrt(Σ_i (num_i − r den_i)² / (m (m − 1))) / mean(den)."""
    from scipy.stats import norm

    a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    r = float(a.sum() / b.sum())
    s = math.sqrt(float(np.sum((a - r * b) ** 2)) / (a.size * (a.size - 1))) / float(b.mean()) if a.size > 1 else math.inf
    z = float(norm.ppf((1 + level) / 2))
    return r, r - z * s, r + z * s


# --- exact statements (Monte Carlo against a formula) ---

def moment_matches(values: Sequence[float], prediction: float, name: str) -> Decision:
    """An exact moment (E tr Σ_t, E‖μ_t − μ_0‖², E log det Σ_t) against its Monte Carlo mean."""
    return close_to(float(np.mean(values)), prediction, stderr=se(values), z=Z, name=name)


def moments_match(checks: Sequence[tuple[Sequence[float], float, str]], rule: str) -> Decision:
    """Several exact moments that must all match."""
    return all_of([moment_matches(v, p, n) for v, p, n in checks], rule)


def shrinks_by(tr_next: Sequence[float], tr_now: Sequence[float], lam: float,
               tolerance: float = SHRINK_TOLERANCE) -> Decision:
    """The shrink rate r = E tr Σ_{t+1} / E tr Σ_t (per loop the sums over the generations read) equals λ:
    held when its 95 % interval lies inside λ ± tolerance, not held when it lies wholly outside, else
    inconclusive (too few loops to tell)."""
    r, lo, hi = ratio_interval(tr_next, tr_now)
    d = equivalent([0.0], [0.0], tolerance=tolerance, interval=(lo - lam, hi - lam), names=("r", "λ"))
    return Decision(d.verdict, f"the shrink rate r = E tr Σ_(t+1) / E tr Σ_t equals λ = {lam:g}: held when its 95 % "
                               f"interval (delta method over loops) lies within {tolerance:g} of λ, not held when it "
                               f"lies wholly farther, else inconclusive", d.why)


def almost_sure_collapse(tr_mid: Sequence[float], tr_first: Sequence[float], tr_last: Sequence[float],
                         tr0: float) -> Decision:
    """λ = 1: E tr Σ_t = tr Σ_0 (read at a middle generation: the mean of a product of many Wishart
    factors has tails too heavy for a Monte Carlo mean at large t), yet most loops shrink (the share of
    loops with tr Σ_T < tr Σ_1 is above ½ beyond its binomial 95 % band)."""
    a, b = np.asarray(tr_first, float), np.asarray(tr_last, float)
    share = float((b < a).mean())
    return all_of([moment_matches(tr_mid, tr0, "mean tr Σ_t (middle generation)"),
                   at_least(share, 0.5, noise=1.96 * math.sqrt(0.25 / b.size), name="share of loops with tr Σ_T < tr Σ_1")],
                  "mean tr Σ_t = tr Σ_0 within 4 SE at a middle generation, and more than half the loops shrank "
                  "(binomial 95 % band)")


# --- comparisons over seeds ---

def degrades(first: Sequence[float], last: Sequence[float], *, higher_is_better: bool, what: str) -> Decision:
    """A metric is worse at the last generation than at the first (paired over seeds)."""
    lo, hi = paired_interval(first, last)
    return better(first, last, higher_is_better=higher_is_better, interval=(lo, hi),
                  names=(f"{what} at t=1", f"{what} at t=T"))


def fixed_real_only_slows(synthetic_last: Sequence[float], augment_last: Sequence[float],
                          augment_first: Sequence[float]) -> Decision:
    """Finding 3: with a fixed real set the distance at T is below the fully synthetic loop's, yet above
    generation 1's (lower W2 is better)."""
    return all_of([better(augment_last, synthetic_last, higher_is_better=False, names=("augment W2_T", "synthetic W2_T")),
                   degrades(augment_first, augment_last, higher_is_better=False, what="augment W2")],
                  "augment's W2 at T below the fully synthetic loop's (Welch 95 %) and above its own at t = 1 "
                  "(paired 95 %)")


def fresh_settles(last_a: Sequence[float], last_b: Sequence[float], first_a: Sequence[float],
                  first_b: Sequence[float], mid_b: Sequence[float], tolerance: float) -> Decision:
    """Fresh data stop the degradation: two loops started from different n_ini (a small, b large) start
    apart, end within `tolerance` of each other, and loop b no longer moves (W2 at T within `tolerance` of
    W2 at T/2, paired). A loop that kept degrading, or whose end depends on its start, fails."""
    apart = better(first_b, first_a, higher_is_better=False, names=("W2_1 (large n_ini)", "W2_1 (small n_ini)"))
    same = equivalent(last_a, last_b, tolerance=tolerance, names=("W2_T (small n_ini)", "W2_T (large n_ini)"))
    lo, hi = paired_interval(last_b, mid_b)
    still = equivalent(last_b, mid_b, tolerance=tolerance, interval=(lo, hi), names=("W2_T", "W2_{T/2}"))
    return all_of([apart, same, still], f"the loops start apart (Welch 95 %), end within {tolerance:.3g} of each "
                                        f"other (95 % interval), and W2 has stopped moving: |W2_T − W2_(T/2)| "
                                        f"< {tolerance:.3g} (paired 95 %)")


def deviates(p_first, p_last, r_first, r_last, tolerance: float = DEVIATION_TOLERANCE,
             floor: Floor | None = None) -> Decision:
    """The post's MAD, "质量或者多样性越来越差": precision (quality) or recall (diversity) is lower at T than
    at t = 1 (paired 95 %): held when either fell; not held when neither fell by more than `tolerance`
    with confidence; else inconclusive."""
    p = better(p_first, p_last, interval=paired_interval(p_first, p_last), names=("precision at t=1", "precision at t=T"))
    r = better(r_first, r_last, interval=paired_interval(r_first, r_last), names=("recall at t=1", "recall at t=T"))
    rule = (f"quality or diversity worse at T: held when precision or recall is lower at T than at t = 1 "
            f"(paired 95 %); not held when neither fell by more than {tolerance:g} (paired 95 %); else inconclusive")
    why = f"{p.why}; {r.why}"
    if "held" in (p.verdict, r.verdict):
        d = Decision("held", rule, why)
    else:
        # the drop first − last below the tolerance with confidence, for both
        kept = [no_better(first, last, tolerance=tolerance, interval=paired_interval(first, last))
                for first, last in ((p_first, p_last), (r_first, r_last))]
        d = Decision("not held" if all(k.verdict == "held" for k in kept) else "inconclusive", rule, why)
    return floors([floor], d) if floor else d


def precision_holds_recall_falls(p_first: Sequence[float], p_last: Sequence[float], r_first: Sequence[float],
                                 r_last: Sequence[float], tolerance: float,
                                 floor: Floor | Sequence[Floor] | None = None) -> Decision:
    """Finding 2 (λ < 1), read per seed: the mean drop of precision p_1 − p_T is below `tolerance` and the
    recall fell (paired 95 % intervals); every floor (generation 1 learned) must be met, else
    "inconclusive"."""
    d = all_of([no_better(p_first, p_last, tolerance=tolerance, interval=paired_interval(p_first, p_last),
                          names=("precision at t=1", "precision at t=T")),
                better(r_first, r_last, interval=paired_interval(r_first, r_last), names=("recall at t=1", "recall at t=T"))],
               f"per seed: precision at T no lower than at t = 1 by more than {tolerance:g}, and recall lower "
               f"(paired 95 % intervals over seeds)")
    if floor is None:
        return d
    return floors([floor] if isinstance(floor, Floor) else list(floor), d)


def modal_not_total(modal_first, modal_last, total_first, total_last, band: float = TOTAL_VARIANCE_BAND) -> Decision:
    """The paper's mixture finding, per seed on log scale: the average modal variance falls
    (log m_1 − log m_T > 0) while the total variance stays within `band` of its generation-1 value
    (|log v_T − log v_1| < log(1 + band)), both paired 95 % intervals."""
    tiny = 1e-300  # a mode-less generation has modal variance 0: log of it is −∞, kept finite
    lm1, lmT = (np.log(np.maximum(np.asarray(x, float), tiny)) for x in (modal_first, modal_last))
    lv1, lvT = np.log(np.asarray(total_first, float)), np.log(np.asarray(total_last, float))
    tol = math.log1p(band)
    return all_of([better(lm1, lmT, interval=paired_interval(lm1, lmT), names=("log modal variance t=1", "at t=T")),
                   equivalent(lvT, lv1, tolerance=tol, interval=paired_interval(lvT, lv1),
                              names=("log total variance t=T", "at t=1"))],
                  f"per seed: the modal variance lower at T (paired 95 %) while the total variance stays within "
                  f"{band:.0%} of generation 1's (|log ratio| < {tol:.3g}, paired 95 %)")

