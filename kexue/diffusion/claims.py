"""The verdict rules of the diffusion claims (kexue.fm/archives/9119, 9152): pure functions of numbers.

Each rule takes what `reproduce.py` measured and returns a `kexue.verdicts.Decision`; the tests table-
test every branch with synthetic numbers. Three kinds of rule:

- exact math (the schedule's ᾱ_T, the variance-reduction identity, the Gaussian sampler check):
  held when the measurement equals the prediction within its Monte Carlo standard error (z = 4) plus a
  stated allowance; the identity's wrong variant is decided by the same rule and shown beside it.
- "samples look like the data": both floors (the loss fell; the samples' FD beats pure noise's FD by a
  factor 2) and a precision of at least 0.5 beyond the spread over sample draws.
- comparisons of samplers/weights (σ choices, EMA vs raw): FD per sample draw (≥ 3 draws of n images
  each) on each side, Welch's interval of the difference, and the *data-vs-data* FD — the FD that n
  real images held out from the reference have at this n — as the size of a difference that matters:
  two sides closer than real data is to itself are "similar"; farther apart with confidence, not.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from kexue.verdicts import (Decision, Floor, all_of, at_least, at_most, close_to, equivalent, floors, no_better,
                            not_checkable)

Z = 4.0  # standard errors allowed to a Monte Carlo estimate (two-sided p ≈ 6e−5 per check)
NOISE_FACTOR = 0.5  # floor: a model's samples must have FD ≤ this × the FD of N(0, I) noise images
MIN_PRECISION = 0.5  # "samples look like the data": at least half of them inside the data's manifold


def schedule(bar_alpha_T: float, T: int) -> Decision:
    """ᾱ_T of α_t = √(1 − 0.02t/T) is below e^{−0.005(T+1)} (the post's bound) and ≈ e^{−5} (within 5 %)."""
    bound = math.exp(-0.005 * (T + 1))
    return all_of([at_most(bar_alpha_T, bound, name="ᾱ_T"), close_to(bar_alpha_T, math.exp(-5), rtol=0.05, name="ᾱ_T")],
                  rule=f"held when ᾱ_T ≤ e^(−0.005(T+1)) = {bound:.6f} and |ᾱ_T − e^−5| ≤ 5 % of e^−5")


def identity(diffs: Mapping[int, tuple[float, float]], name: str = "two-noise − one-noise loss") -> Decision:
    """{t: (mean, standard error)} of the per-draw difference of the identity's two sides: held when
    every mean is 0 within Z standard errors, not held when any is not."""
    checks = []
    for t, (mean, se) in sorted(diffs.items()):
        d = close_to(mean, 0.0, stderr=se, z=Z, name=f"{name} at t={t}")
        checks.append(Decision(d.verdict, d.rule, f"t={t}: {d.why}"))
    ts = ", ".join(str(t) for t in sorted(diffs))
    return all_of(checks, rule=f"held when the mean difference is 0 within {Z:g} Monte Carlo standard errors at "
                               f"every t in {{{ts}}}; not held when it is not at any t")


def gaussian(rows: Mapping[str, Mapping[str, float]], allowance: float = 0.01) -> Decision:
    """rows: {σ: {"mu", "s", "mean", "std", "n"}} of the chain run with the exact ε of N(μ, s²): held when
    mean = μ and std = s within Z standard errors (s/√n, s/√(2n)) plus `allowance`·s (the discretised
    chain's own bias, T = 1000 steps)."""
    checks = []
    for sigma, r in sorted(rows.items()):
        n, s = r["n"], r["s"]
        checks.append(close_to(r["mean"], r["mu"], stderr=s / math.sqrt(n), z=Z, atol=allowance * s,
                               name=f"mean (σ={sigma})"))
        checks.append(close_to(r["std"], s, stderr=s / math.sqrt(2 * n), z=Z, atol=allowance * s,
                               name=f"std (σ={sigma})"))
    return all_of(checks, rule=f"held when every σ's sample mean and std equal μ and s within {Z:g} standard "
                               f"errors + {allowance:g}·s; not held otherwise")


def learned_floors(name: str, fd: Sequence[float], fd_noise: float) -> Floor:
    """The floor of one side: its mean FD beats N(0, I) noise images' FD by the factor NOISE_FACTOR."""
    return Floor(f"FD of {name}", float(np.mean(fd)), NOISE_FACTOR * fd_noise, higher_is_better=False)


def samples_look_like_data(first_loss: float, final_loss: float, precision: Sequence[float],
                           fd: Sequence[float], fd_noise: float) -> Decision:
    """Floors: the loss fell by half and the FD beats noise; rule: precision ≥ MIN_PRECISION beyond the
    spread over draws (2 standard errors of the mean)."""
    p = np.asarray(precision, dtype=float)
    noise = 2 * float(p.std(ddof=1)) / math.sqrt(p.size) if p.size > 1 else 0.0
    d = at_least(float(p.mean()), MIN_PRECISION, noise=noise, name="mean precision over draws")
    return floors([Floor("final loss / first loss", final_loss / first_loss, 0.5, higher_is_better=False),
                   learned_floors("the samples", fd, fd_noise)], d)


def similar(fd_a: Sequence[float], fd_b: Sequence[float], fd_data: Sequence[float], fd_noise: float,
            names: tuple[str, str] = ("σ=β", "σ=posterior")) -> Decision:
    """A ≈ B: Welch's interval of FD_A − FD_B inside ± the mean data-vs-data FD; floors: both beat noise."""
    tol = float(np.mean(fd_data))
    d = equivalent(fd_a, fd_b, tolerance=tol, names=names)
    d = Decision(d.verdict, d.rule + f" (the tolerance {tol:.3g} is the mean FD of held-out real images at "
                                     "this n: a gap smaller than real data's own cannot be told apart)", d.why)
    return floors([learned_floors(names[0], fd_a, fd_noise), learned_floors(names[1], fd_b, fd_noise)], d)


def at_least_as_good(fd_a: Sequence[float], fd_b: Sequence[float], fd_data: Sequence[float], fd_noise: float,
                     names: tuple[str, str] = ("EMA", "raw")) -> Decision:
    """A at least as good as B: B's FD advantage over A is below the mean data-vs-data FD with confidence;
    not held when B is better by more than that with confidence; floors: both beat noise."""
    tol = float(np.mean(fd_data))
    d = no_better(fd_b, fd_a, higher_is_better=False, tolerance=tol, names=(names[1], names[0]))
    d = Decision(d.verdict, d.rule + f" (FD, lower is better; {tol:.3g} is the mean FD of held-out real images "
                                     "at this n)", d.why)
    return floors([learned_floors(names[0], fd_a, fd_noise), learned_floors(names[1], fd_b, fd_noise)], d)


def not_checkable_celeba() -> Decision:
    return not_checkable("CelebA-HQ is not available offline and Su's run takes days on a GPU")
