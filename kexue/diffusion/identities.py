"""The exact statements of posts 9119 and 9152, measured on kexue's own code: ᾱ_T of Su's schedule,
the variance-reduction identity of 9119, and the two "optimal σ_t" cases of 9152.

kexue.fm/archives/9119 ("超参设置", "降低方差") and kexue.fm/archives/9152 ("超参设置"). Each function
returns numbers only; `kexue/diffusion/claims.py` decides them, and `reproduce.py` shows them as checks
beside a deliberately wrong variant (the negative control) measured by the same function.

- `bar_alpha_T_formula`: the post's own formula log ᾱ_T = ½ Σ_{t=1}^T log(1 − 0.02t/T), summed exactly
  in Python (math.fsum), to compare with `Schedule.preset("su").bar_alpha[T]`.
- `variance_identity`: both sides of 9119's identity by Monte Carlo on common draws.
- `chain_law`: the exact mean and variance of what the sampler returns when ε is the exact ε of 1-d
  Gaussian data (or of one data point). The reverse chain is then affine in (x_T, z_T, …, z_1), so one
  run of `sample` on a batch of unit inputs gives every coefficient: no Monte Carlo error at all.
"""
from __future__ import annotations

import math

import torch

from kexue.diffusion.ddpm import GaussianEps, q_sample, sample, sampling_timesteps
from kexue.diffusion.schedule import Schedule


def bar_alpha_T_formula(T: int = 1000, shift: int = 0) -> float:
    """ᾱ_T = exp(½ Σ_{t=1}^T log(1 − 0.02(t + shift)/T)), the post's formula (shift = 0)."""
    # log ᾱ_T = ½ Σ_{t=1}^T log(1 − 0.02 t/T)
    return math.exp(0.5 * math.fsum(math.log1p(-0.02 * (t + shift) / T) for t in range(1, T + 1)))


def su_bound(T: int = 1000) -> float:
    """The post's bound: log ᾱ_T < ½ Σ (−0.02t/T) = −0.005(T + 1)."""
    return math.exp(-0.005 * (T + 1))


def wrong_schedules(T: int = 1000) -> dict[str, Schedule]:
    """Two schedules a slip gives, for the negative control of ᾱ_T: one step off (β_t² = 0.02(t+1)/T),
    and 0.02t/T taken as β_t instead of β_t² (Ho's variance read as Su's standard deviation)."""
    t = torch.arange(1, T + 1, dtype=torch.float64)
    return {"one step off, β_t² = 0.02(t+1)/T": Schedule(0.02 * (t + 1) / T, name="su+1"),
            "β_t = 0.02t/T (β_t² read as β_t)": Schedule((0.02 * t / T) ** 2, name="su-beta")}


def variance_identity(s: Schedule, t: int, n: int, seed: int, d: int = 16) -> dict:
    """Both sides of 9119's identity at t, from one set of draws, and the wrong identity.

    x_t = ᾱ_t x_0 + α_t β̄_{t−1} ε̄_{t−1} + β_t ε_t, and ε = (α_t β̄_{t−1} ε̄_{t−1} + β_t ε_t)/β̄_t is the merged
    N(0, I) noise of the *same* x_t (x_t = ᾱ_t x_0 + β̄_t ε): the two sides are estimated on common draws,
    and "diff" is the mean and standard error of their per-draw difference (0 in expectation).
    """
    g = torch.Generator().manual_seed(seed * 1000 + t)
    x0 = torch.randn(n, d, generator=g, dtype=torch.float64) * 0.5 + 0.3
    w = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)

    def f(z: torch.Tensor) -> torch.Tensor:
        # a fixed map of x_t that correlates with the noise (so the wrong identity differs from the right one)
        return torch.tanh(1.5 * z) + 0.5 * torch.tanh(z @ w)

    alpha, beta = float(s.alpha[t]), float(s.beta[t])
    bar_beta, bar_beta_prev = float(s.bar_beta[t]), float(s.bar_beta[t - 1])
    e_prev = torch.randn(n, d, generator=g, dtype=torch.float64)
    e_t = torch.randn(n, d, generator=g, dtype=torch.float64)
    # ε = (α_t β̄_{t−1} ε̄_{t−1} + β_t ε_t) / β̄_t
    eps = (alpha * bar_beta_prev * e_prev + beta * e_t) / bar_beta
    # x_t = ᾱ_t x_0 + β̄_t ε  (= ᾱ_t x_0 + α_t β̄_{t−1} ε̄_{t−1} + β_t ε_t)
    x_t = q_sample(x0, t, eps, s)
    fx = f(x_t)
    two = (e_t - fx).pow(2).sum(1)
    # (β_t/β̄_t)² ‖ε − (β̄_t/β_t) f‖² + d α_t² β̄_{t−1}²/β̄_t²
    one = (beta / bar_beta) ** 2 * (eps - bar_beta / beta * fx).pow(2).sum(1) \
        + d * alpha**2 * bar_beta_prev**2 / bar_beta**2
    wrong = (eps - fx).pow(2).sum(1)

    def mean_se(v: torch.Tensor) -> tuple[float, float]:
        return float(v.mean()), float(v.std() / math.sqrt(len(v)))

    return {"two_noises": float(two.mean()), "one_noise_plus_constant": float(one.mean()), "wrong": float(wrong.mean()),
            "diff": mean_se(two - one), "wrong_diff": mean_se(two - wrong), "n": n}


def chain_law(s: Schedule, sigma: str | float, mu: float, std: float, steps: int | None = None) -> dict[str, float]:
    """The exact mean and variance of x_0 from the full reverse chain run by `sample`, with the exact ε
    of the 1-d data N(mu, std²) (std = 0: the single data point x_* = mu), x_T ~ N(0, 1).

    With that ε each step x_{t−1} = a_t x_t + b_t + σ_t z_t is affine, so x_0 = m + c_T x_T + Σ_t c_t z_t
    with x_T, z_t independent N(0, 1): mean m, variance c_T² + Σ c_t². Row 0 of the batch (x_T = 0, every
    z = 0) gives m; row 1 (x_T = 1) gives m + c_T; row 1 + j (z of step j = 1) gives m + c_j.
    """
    times = sampling_timesteps(s.T, steps)
    b = len(times) + 2
    x_T = torch.zeros(b, 1, dtype=torch.float64)
    x_T[1] = 1.0
    noise = [torch.zeros(b, 1, dtype=torch.float64) for _ in times]
    for j, z in enumerate(noise):
        z[2 + j] = 1.0
    eps = GaussianEps(torch.tensor(mu, dtype=torch.float64), torch.tensor(std, dtype=torch.float64), s)
    x0 = sample(eps, s, None, sigma, steps, x_T=x_T, noise=noise, dtype=torch.float64)[:, 0]
    m = x0[0]
    # Var x_0 = c_T² + Σ_t c_t²
    var = (x0[1:] - m).pow(2).sum()
    return {"mean": float(m), "var": float(var), "mu": mu, "std": std, "sigma": str(sigma)}
