"""The rules that decide post 9687's claims: pure functions of per-seed measurements.

kexue.fm/archives/9687 and the paper's findings (notes-gen.md §4(b)). Each function takes per-seed
values (numpy arrays or lists) and returns a `kexue.verdicts.Decision`; `reproduce` turns it into a
Claim. Exact statements are read against their Monte Carlo standard error (`close_to`); comparisons
between generations or loops use Welch intervals over seeds (`better`, `no_better`, `equivalent`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from kexue.verdicts import Decision, Floor, all_of, at_least, better, close_to, equivalent, floors, no_better

Z = 4.0  # Monte Carlo identities: held within 4 standard errors


def _se(x: Sequence[float]) -> float:
    x = np.asarray(x, dtype=float)
    return float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.inf


def moment_matches(values: Sequence[float], prediction: float, name: str) -> Decision:
    """An exact moment (E tr Σ_t, E‖μ_t − μ_0‖², E log det Σ_t) against its Monte Carlo mean."""
    return close_to(float(np.mean(values)), prediction, stderr=_se(values), z=Z, name=name)


def moments_match(checks: Sequence[tuple[Sequence[float], float, str]], rule: str) -> Decision:
    """Several exact moments that must all match."""
    return all_of([moment_matches(v, p, n) for v, p, n in checks], rule)


def almost_sure_collapse(tr_mid: Sequence[float], tr_first: Sequence[float], tr_last: Sequence[float], tr0: float,
                         log_det_last: Sequence[float], log_det_pred: float, log_det_first_pred: float) -> Decision:
    """λ = 1: E tr Σ_t = tr Σ_0 (read at a middle generation: the mean of a product of many Wishart
    factors has tails too heavy for a Monte Carlo mean at large t), yet most loops shrink (the share of
    seeds with tr Σ_T < tr Σ_1 is above ½ with confidence) and E log det Σ_T equals its exact value,
    which lies below generation 1's."""
    a, b = np.asarray(tr_first, float), np.asarray(tr_last, float)
    share = float((b < a).mean())
    drift = Decision("held" if log_det_pred < log_det_first_pred else "not held",
                     "the exact E log det Σ_T lies below E log det Σ_1",
                     f"{log_det_pred:.4g} vs {log_det_first_pred:.4g}")
    return all_of([moment_matches(tr_mid, tr0, "mean tr Σ_t (middle generation)"),
                   at_least(share, 0.5, noise=1.96 * math.sqrt(0.25 / b.size), name="share of loops with tr Σ_T < tr Σ_1"),
                   moment_matches(log_det_last, log_det_pred, "mean log det Σ_T"), drift],
                  "mean tr Σ_t = tr Σ_0 within 4 SE at a middle generation, more than half the loops shrank "
                  "(binomial 95 % band), mean log det Σ_T = its exact value within 4 SE and that value is below "
                  "generation 1's")


def degrades(first: Sequence[float], last: Sequence[float], *, higher_is_better: bool, what: str) -> Decision:
    """A metric is worse at the last generation than at the first (over seeds)."""
    return better(first, last, higher_is_better=higher_is_better, names=(f"{what} at t=1", f"{what} at t=T"))


def fixed_real_only_slows(synthetic_last: Sequence[float], augment_last: Sequence[float],
                          augment_first: Sequence[float]) -> Decision:
    """Finding 3: with a fixed real set the distance at T is below the fully synthetic loop's, yet above
    generation 1's (lower W2 is better)."""
    return all_of([better(augment_last, synthetic_last, higher_is_better=False, names=("augment W2_T", "synthetic W2_T")),
                   better(augment_first, augment_last, higher_is_better=False, names=("W2_1", "augment W2_T"))],
                  "augment's W2 at T below the fully synthetic loop's (Welch 95 %) and above its own at t = 1")


def limit_ignores_start(last_a: Sequence[float], last_b: Sequence[float], first_a: Sequence[float],
                        first_b: Sequence[float], tolerance: float) -> Decision:
    """Finding 4: two fresh loops started from different n_ini end within ±tolerance of each other,
    although they started apart (otherwise the check says nothing)."""
    apart = better(first_b, first_a, higher_is_better=False, names=("W2_1 (large n_ini)", "W2_1 (small n_ini)"))
    same = equivalent(last_a, last_b, tolerance=tolerance, names=("W2_T (small n_ini)", "W2_T (large n_ini)"))
    return all_of([apart, same], f"the loops start apart (Welch 95 %) and end within ±{tolerance:.3g} (95 % interval)")


def synthetic_helps(with_synth: Sequence[float], real_only: Sequence[float]) -> Decision:
    """At λ = 1 adding n_s synthetic points to n_r fresh ones lowers the limiting W2."""
    return better(with_synth, real_only, higher_is_better=False, names=("W2 (n_r + n_s)", "W2 (n_r only)"))


def precision_holds_recall_falls(p_first: Sequence[float], p_last: Sequence[float], r_first: Sequence[float],
                                 r_last: Sequence[float], tolerance: float,
                                 floor: Floor | Sequence[Floor] | None = None) -> Decision:
    """Finding 2 (λ < 1): precision does not fall by more than `tolerance`, recall falls; every floor
    (generation 1 learned) must be met, else "inconclusive"."""
    d = all_of([no_better(p_first, p_last, tolerance=tolerance, names=("precision at t=1", "precision at t=T")),
                better(r_first, r_last, names=("recall at t=1", "recall at t=T"))],
               f"precision at T no lower than at t = 1 by more than {tolerance:g} and recall lower (Welch 95 %)")
    if floor is None:
        return d
    return floors([floor] if isinstance(floor, Floor) else list(floor), d)


def both_fall(p_first, p_last, r_first, r_last, floor: Floor | None = None) -> Decision:
    """Finding 1 (λ = 1): precision and recall both fall over the generations."""
    d = all_of([better(p_first, p_last, names=("precision at t=1", "precision at t=T")),
                better(r_first, r_last, names=("recall at t=1", "recall at t=T"))],
               "precision and recall both lower at T than at t = 1 (Welch 95 %)")
    return floors([floor], d) if floor else d


def modal_not_total(modal_first, modal_last, total_first, total_last, total_tolerance: float) -> Decision:
    """The paper's mixture finding: the average modal variance falls while the total variance stays
    within ±tolerance."""
    return all_of([better(modal_first, modal_last, names=("modal variance t=1", "modal variance t=T")),
                   equivalent(total_last, total_first, tolerance=total_tolerance,
                              names=("total variance t=T", "total variance t=1"))],
                  f"modal variance lower at T (Welch 95 %) while total variance stays within ±{total_tolerance:.3g}")
