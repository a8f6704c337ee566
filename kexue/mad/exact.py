"""Exact predictions for the Gaussian loops: the moments every Monte Carlo run is checked against.

kexue.fm/archives/9687 (Eq. 2) and Alemohammad et al. 2023, Sec. 3.1 and Appendix A. Write
E[Σ_t] = a_t Σ_0 and E[(μ_t − μ_0)(μ_t − μ_0)ᵀ] = b_t Σ_0 (both stay multiples of Σ_0 in every loop).

Fully synthetic loop (G_1 fitted on n_ini real points, every later generation on n_s points of
N(μ_{t−1}, λΣ_{t−1})): μ_t | G_{t−1} ~ N(μ_{t−1}, λΣ_{t−1}/n_s) and E[Σ_t | G_{t−1}] = λΣ_{t−1}, so
    a_t = λ^{t−1},      b_t = 1/n_ini + Σ_{k=1}^{t−1} λ^k / n_s.
The post writes Cov(μ_t) = (t/n) Σ_0 (λ = 1, n_ini = n_s = n), which is b_t here; the notes' general
Σ_{k≤t} λ^k Σ_0/n and E[Σ_t] = λ^t Σ_0 count the real data as drawn with bias λ too, i.e. shift t by one
and put λ on the first term. Real data are never biased here, hence λ^{t−1} and 1/n_ini.

The mean of tr Σ_t is then constant at λ = 1, yet Σ_t → 0 almost surely (the paper's Proposition):
det Σ_t = λ^d det Σ_{t−1} det W_t/(n_s − 1)^d with W_t ~ Wishart(I, n_s − 1) independent, so
    E[log det Σ_t] = log det Σ_0 + ℓ(n_ini − 1) + (t − 1)(d log λ + ℓ(n_s − 1)),
    ℓ(k) = Σ_{i=0}^{d−1} ψ((k − i)/2) + d log(2/k) < 0,
a random walk with negative drift even at λ = 1 (ψ is the digamma function).

Fresh-data loop (n_r new real points + n_s points of G_{t−1}, pooled, N = n_r + n_s), from the pooled
scatter S_r + S_s + (n_r n_s/N)(x̄_r − x̄_s)(x̄_r − x̄_s)ᵀ:
    a_t = [(n_r − 1 + n_s/N) + λ(n_s − 1 + n_r/N) a_{t−1} + (n_r n_s/N) b_{t−1}] / (N − 1)
    b_t = [n_r + n_s² b_{t−1} + λ n_s a_{t−1}] / N²
a linear map with a fixed point that does not involve n_ini (finding 4 of the paper).
Synthetic augmentation (the fixed real set is G_1's n_ini = n_r points): the same map conditional on
the real set, with f_t = μ_t − x̄_r in place of μ_t − μ_0 and no fresh-mean term; then
b_t = 1/n_r + E[f_t f_tᵀ] coefficient. The accumulating pool and K > 1 previous models have no
closed form here: they are checked by Monte Carlo only.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma

from kexue.mad.loops import Loop, get_loop


def moments(loop: str | Loop, lam: float, generations: int, n_ini: int, n_r: int, n_s: int,
            between_means: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(a_t, b_t) for t = 1..generations: E[Σ_t] = a_t Σ_0 and Cov-about-μ_0(μ_t) = b_t Σ_0.

    `between_means=False` is the negative control of the checks: it drops the pooled scatter's
    between-means term (n_r n_s/N)(x̄_r − x̄_s)(x̄_r − x̄_s)ᵀ, i.e. pools the two sample covariances as if
    their means agreed, a plausible derivation that is wrong."""
    kind = get_loop(loop) if isinstance(loop, str) else loop
    if not kind.real_after_first:
        n_r = 0
    a, b = np.empty(generations), np.empty(generations)
    # G_1 is fitted on n_ini real points: E[Σ_1] = Σ_0; μ_1 − μ_0 ~ N(0, Σ_0/n_ini) (augment: relative to x̄_r, 0)
    a[0], b[0] = 1.0, (0.0 if kind.keeps_real else 1.0 / n_ini)
    N = n_r + n_s
    fresh_mean = n_s / N if (kind.fresh_real and n_r > 0) else 0.0  # the real mean's own spread, Σ_0/n_r
    real_scatter = max(n_r - 1, 0) if n_r > 0 else 0.0
    for t in range(1, generations):
        a_prev, b_prev = a[t - 1], b[t - 1]
        # E of the between-means term: (n_r n_s/N)(Σ_0/n_r + λΣ_{t−1}/n_s + E(μ_{t−1} − μ_0)(…)ᵀ) in units of Σ_0
        between = fresh_mean + lam * (n_r / N) * a_prev + (n_r * n_s / N) * b_prev
        # a_t = [(n_r − 1) + λ(n_s − 1) a_{t−1} + between] / (N − 1)
        a[t] = (real_scatter + lam * (n_s - 1) * a_prev + (between if between_means else 0.0)) / (N - 1)
        b[t] = ((n_r if kind.fresh_real else 0.0) + n_s**2 * b_prev + lam * n_s * a_prev) / N**2
    if kind.keeps_real:
        b = b + 1.0 / n_r  # μ_t − μ_0 = (x̄_r − μ_0) + f_t, the two uncorrelated
    return a, b


def fresh_limit(lam: float, n_r: int, n_s: int) -> tuple[float, float]:
    """The fixed point (a_∞, b_∞) of the fresh-data loop's moment map; n_ini does not enter."""
    N = n_r + n_s
    # a (N − 1) − λ(n_s − 1 + n_r/N) a − (n_r n_s/N) b = n_r − 1 + n_s/N;  b N² − n_s² b − λ n_s a = n_r
    M = np.array([[N - 1 - lam * (n_s - 1 + n_r / N), -n_r * n_s / N],
                  [-lam * n_s, N**2 - n_s**2]], dtype=float)
    rhs = np.array([n_r - 1 + n_s / N, n_r], dtype=float)
    a, b = np.linalg.solve(M, rhs)
    return float(a), float(b)


def wishart_log_det_drift(k: int, d: int) -> float:
    """ℓ(k) = E[log det (W/k)] for W ~ Wishart(I_d, k): Σ_{i<d} ψ((k − i)/2) + d log(2/k), negative."""
    return float(sum(digamma((k - i) / 2) for i in range(d)) + d * math.log(2 / k))


def expected_log_det(lam: float, generations: int, n_ini: int, n_s: int, d: int, log_det0: float = 0.0) -> np.ndarray:
    """E[log det Σ_t], t = 1..generations, in the fully synthetic loop (needs n_ini, n_s ≥ d + 1)."""
    t = np.arange(1, generations + 1)
    step = d * math.log(lam) + wishart_log_det_drift(n_s - 1, d)
    return log_det0 + wishart_log_det_drift(n_ini - 1, d) + (t - 1) * step
