"""The verdict rules of the diffusion claims and checks (kexue.fm/archives/9119, 9152): pure functions
of numbers, the bands they use as named constants, and the posts' sentences they test (QUOTES).

Each rule takes what `reproduce.py` measured and returns a `kexue.verdicts.Decision`; the tests table-
test every branch with synthetic numbers. Two kinds:

- checks (exact statements; `Decision.to_check` with a negative control measured the same way):
  ᾱ_T of Su's schedule against the post's formula, the variance-reduction identity of 9119 (Monte
  Carlo, within Z standard errors), and 9152's two optimal σ_t (the sampler's exact law, to CHAIN_ATOL).
- claims about a trained model: "easy to train, clear samples" (a diverging run is "not held"; else
  floors and a precision threshold), and two comparisons of sampling choices (σ_t; EMA vs raw weights)
  read on FD per sample draw. The draws of two sides share x_T and every z, so the interval is the
  paired one over draws; its band is a declared share of the data-vs-data FD at the same n (the FD that
  two sets of n real images have from sampling noise alone): a gap below that cannot be told apart.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from kexue.verdicts import (LEVEL, Decision, Floor, all_of, at_least, at_most, close_to, equivalent, floors,
                            no_better, not_checkable, paired_interval)

Quote = tuple[int, str]

# the posts' own sentences, one per claim or check (tests/test_quotes.py finds each verbatim)
QUOTES: dict[str, Quote] = {
    "bar_alpha_T": (9119, "代入$T=1000$大致是$\\bar{\\alpha}_T\\approx e^{-5}$，这个其实就刚好达到$\\approx 0$的标准。"),
    "variance_identity": (9119, "所以我们可以展开然后将它的期望直接算出来"),
    "sigma_point": (9152, "假设训练集只有一个样本"),
    "sigma_normal": (9152, "服从标准正态分布，这时候可以推出最优的$\\sigma_t = \\beta_t$。"),
    "samples": (9152, "DDPM的优点很明显，就是容易训练，并且生成的图片也清晰。"),
    "similar": (9152, "实验结果显示两个选择的表现是相似的，因此可以选择任意一个进行采样。"),
    "ema": (9152, "下面提供笔者的参考实现"),
    "celeba": (9152, "经测试，在单张24G显存的3090下，以`blocks=1,batch_size=64`训练128*128大小的CelebA HQ"
                     "人脸数据集，半天就能初见成效。"),
}

# --- bands, declared before the runs that they judge ---
EXACT_RTOL = 1e-12  # ᾱ_T: the code's value equals the post's formula to float64 rounding (a 1 % slip fails)
CHAIN_ATOL = 1e-9   # the sampler's exact mean and variance equal the optimal-σ prediction (rounding ≈ 1e−14)
Z = 4.0  # standard errors allowed to a Monte Carlo estimate (two-sided p ≈ 6e−5 per check)
NOISE_FACTOR = 0.5  # floor: a model's samples must have FD ≤ this × the FD of N(0, I) noise images
MIN_PRECISION = 0.5  # "clear samples": at least half of them inside the data's manifold
SIGMA_MARGIN_SHARE = 1.0  # σ = β ≈ σ = posterior: |ΔFD| < this × the data-vs-data FD at the same n
EMA_MARGIN_SHARE = 1.0  # EMA ≥ raw: raw's FD advantage < this × the data-vs-data FD at the same n


# --- checks ---

def bar_alpha_T(code: float, formula: float, bound: float) -> Decision:
    """ᾱ_T computed by the code equals the post's formula exp(½ Σ log(1 − 0.02t/T)) to EXACT_RTOL, and
    lies below the post's bound e^{−0.005(T+1)}."""
    return all_of([close_to(code, formula, rtol=EXACT_RTOL, name="ᾱ_T"), at_most(code, bound, name="ᾱ_T")],
                  rule=f"held when |ᾱ_T − exp(½ Σ log(1 − 0.02t/T))| ≤ {EXACT_RTOL:g} × the formula's value and "
                       f"ᾱ_T ≤ e^(−0.005(T+1)) = {bound:.6f}; not held otherwise")


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


def chain_law(law: Mapping[str, float], mean: float, var: float) -> Decision:
    """The sampler's exact law {"mean", "var"} equals (mean, var) within CHAIN_ATOL each."""
    return all_of([close_to(law["mean"], mean, atol=CHAIN_ATOL, name="mean of x_0"),
                   close_to(law["var"], var, atol=CHAIN_ATOL, name="variance of x_0")],
                  rule=f"held when the exact mean and variance of the chain's x_0 equal {mean:g} and {var:g} "
                       f"within {CHAIN_ATOL:g}; not held otherwise")


def every_rejected(controls: Mapping[str, Decision]) -> Decision:
    """Several negative controls as one: "not held" only when the rule rejected every one of them;
    else the verdict of the first that was not rejected (a control that passes means the check
    could not have failed)."""
    why = "; ".join(f"{name}: {d.verdict} ({d.why})" for name, d in controls.items())
    rule = "every control rejected"
    for d in controls.values():
        if d.verdict != "not held":
            return Decision(d.verdict, rule, why)
    return Decision("not held", rule, why)


# --- claims ---



def learned_floors(name: str, fd: Sequence[float], fd_noise: float) -> Floor:
    """The floor of one side: its mean FD beats N(0, I) noise images' FD by the factor NOISE_FACTOR."""
    return Floor(f"FD of {name}", float(np.mean(fd)), NOISE_FACTOR * fd_noise, higher_is_better=False)


def samples_look_like_data(first_loss: float, final_loss: float, precision: Sequence[float],
                           fd: Sequence[float], fd_noise: float, diverged: str = "") -> Decision:
    """"Easy to train, clear samples": not held when the run diverged (`diverged` says how: a NaN/inf
    loss or samples); else floors (the loss fell by half, the FD beats noise) and the rule: mean
    precision over draws ≥ MIN_PRECISION beyond 2 standard errors."""
    p = np.asarray(precision, dtype=float)
    values = [first_loss, final_loss, *p, *fd]
    if diverged or not all(math.isfinite(v) for v in values):
        rule = ("not held when training or sampling diverged (a NaN or inf loss or sample): the post's 'easy to "
                "train' (a plain regression) fails")
        return Decision("not held", rule, diverged or "a loss, FD or precision is not finite")
    noise = 2 * float(p.std(ddof=1)) / math.sqrt(p.size) if p.size > 1 else 0.0
    d = at_least(float(p.mean()), MIN_PRECISION, noise=noise, name="mean precision over draws")
    return floors([Floor("final loss / first loss", final_loss / first_loss, 0.5, higher_is_better=False),
                   learned_floors("the samples", fd, fd_noise)], d)


def similar(fd_a: Sequence[float], fd_b: Sequence[float], fd_data: Sequence[float], fd_noise: float,
            names: tuple[str, str] = ("σ=β", "σ=posterior")) -> Decision:
    """A ≈ B: the paired interval of FD_A − FD_B over draws inside ± SIGMA_MARGIN_SHARE × the mean
    data-vs-data FD; floors: both beat noise."""
    tol = SIGMA_MARGIN_SHARE * float(np.mean(fd_data))
    if not np.isfinite([*fd_a, *fd_b]).all():
        return _diverged(names)
    d = equivalent(fd_a, fd_b, tolerance=tol, names=names, interval=paired_interval(np.subtract(fd_a, fd_b)))
    d = Decision(d.verdict, d.rule + f" (paired over draws with the same x_T and z; the band {tol:.3g} is "
                                     f"{SIGMA_MARGIN_SHARE:g} × the mean FD of held-out real images at this n: "
                                     "a gap smaller than real data's own cannot be told apart)", d.why)
    return floors([learned_floors(names[0], fd_a, fd_noise), learned_floors(names[1], fd_b, fd_noise)], d)


def at_least_as_good(fd_a: Sequence[float], fd_b: Sequence[float], fd_data: Sequence[float], fd_noise: float,
                     names: tuple[str, str] = ("EMA", "raw")) -> Decision:
    """A at least as good as B: B's FD advantage over A (paired over draws) is below EMA_MARGIN_SHARE ×
    the mean data-vs-data FD with confidence; not held when it is above with confidence; floors: both
    beat noise."""
    tol = EMA_MARGIN_SHARE * float(np.mean(fd_data))
    if not np.isfinite([*fd_a, *fd_b]).all():
        return _diverged(names)
    # the advantage of B is FD_A − FD_B (lower FD is better)
    lo, hi = paired_interval(np.subtract(fd_a, fd_b))
    d = no_better(fd_b, fd_a, higher_is_better=False, tolerance=tol, names=(names[1], names[0]),
                  interval=(-hi, -lo))
    d = Decision(d.verdict, d.rule + f" (FD, lower is better, paired over draws with the same x_T and z; the band "
                                     f"{tol:.3g} is {EMA_MARGIN_SHARE:g} × the mean FD of held-out real images at "
                                     "this n)", d.why)
    return floors([learned_floors(names[0], fd_a, fd_noise), learned_floors(names[1], fd_b, fd_noise)], d)


def _diverged(names: tuple[str, str]) -> Decision:
    return Decision("inconclusive", f"{names[0]} vs {names[1]} compares two finite sets of samples",
                    "the model diverged (an FD is not finite): nothing to compare")


def not_checkable_celeba() -> Decision:
    return not_checkable("CelebA-HQ is not available offline and Su's run takes days on a GPU")
