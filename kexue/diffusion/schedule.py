"""Noise schedules of DDPM in Su's notation, and their mapping to Ho's and diffusers'.

kexue.fm/archives/9119 (DDPM = 拆楼 + 建楼) and kexue.fm/archives/9152 (DDPM = 自回归式VAE).
Su writes one forward ("拆楼") step as

    x_t = α_t x_{t−1} + β_t ε_t,   α_t² + β_t² = 1,

so **α_t and β_t are standard deviations**, not Ho's variances. Composing the steps,

    x_t = ᾱ_t x_0 + β̄_t ε,   ᾱ_t = α_1 ⋯ α_t,   β̄_t = √(1 − ᾱ_t²).

Mapping (Ho 2020 / diffusers `DDPMScheduler`, whose index k = t − 1 runs over 0..T−1):

    Ho β_t = diffusers betas[t−1]               = β_t²   (Su)
    Ho α_t = diffusers alphas[t−1]              = α_t²
    Ho ᾱ_t = diffusers alphas_cumprod[t−1]      = ᾱ_t²
             1 − alphas_cumprod[t−1]            = β̄_t²

Index convention: every tensor of a `Schedule` has length T + 1 and is indexed by Su's t itself,
t = 1..T; entry 0 is the boundary t = 0 of the chain (x_0 is the data): α_0 = 1, β_0 = 0, ᾱ_0 = 1,
β̄_0 = 0. So `schedule.bar_alpha[t]` is ᾱ_t with no off-by-one, and the posterior σ_1 = 0 falls out.

Presets:
- `su`: α_t = √(1 − 0.02 t/T), T = 1000 — the post's "translation" of Ho's schedule (Ho-variance
  0.02 t/T, linear from 2e−5 to 0.02). ᾱ_T = 0.006482, under the post's bound e^{−0.005 (T+1)}.
- `ho2020`: Ho's linear variances β_t² from 1e−4 to 0.02 (the paper's; Su's is approximate to it).
- `cosine`: Nichol & Dhariwal 2021, ᾱ_t² = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2),
  s = 0.008, with each step's variance β_t² capped at 0.999 as in their code. An extra; not in the post.

Everything is float64 (ᾱ_T² ≈ 4e−5 and β̄_1² = 2e−5 lose digits in float32); the sampler reads
Python floats from here and the loss a cached copy on the data's device and dtype.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

PRESETS = ("su", "ho2020", "cosine")
SIGMAS = ("beta", "posterior", "zero")


class Schedule:
    """α_t, β_t, ᾱ_t, β̄_t for t = 0..T (index = t; entry 0 is the t = 0 boundary).

    Built from the per-step variances β_t² (t = 1..T), which is what every preset defines exactly
    and what diffusers calls `betas`. `Schedule.preset(name, T)` gives the named ones.
    """

    def __init__(self, beta_sq: Tensor | list[float], name: str = "custom"):
        beta_sq = torch.as_tensor(beta_sq, dtype=torch.float64).flatten()
        if beta_sq.numel() < 1:
            raise ValueError("Schedule: beta_sq is empty; give β_t² for t = 1..T")
        bad = ~((beta_sq > 0) & (beta_sq < 1))
        if bad.any():
            k = int(bad.nonzero()[0])
            raise ValueError(f"Schedule: beta_sq[{k}] (β_t² at t={k + 1}) = {beta_sq[k].item()} must lie in (0, 1)")
        self.name, self.T = name, beta_sq.numel()
        zero = beta_sq.new_zeros(1)
        # β_t = √(β_t²),  α_t = √(1 − β_t²);  α_0 = 1, β_0 = 0
        self.beta = torch.cat([zero, beta_sq.sqrt()])
        self.alpha = torch.cat([zero + 1, (1 - beta_sq).sqrt()])
        # log ᾱ_t² = Σ_{s≤t} log(1 − β_s²)   (log1p keeps β̄_t² = 1 − ᾱ_t² exact near t = 0)
        log_bar_alpha_sq = torch.cat([zero, torch.cumsum(torch.log1p(-beta_sq), 0)])
        # ᾱ_t = α_1 ⋯ α_t
        self.bar_alpha = torch.exp(0.5 * log_bar_alpha_sq)
        # β̄_t = √(1 − ᾱ_t²)
        self.bar_beta = torch.sqrt(-torch.expm1(log_bar_alpha_sq))
        self._cache: dict[tuple, tuple[Tensor, Tensor]] = {}

    @classmethod
    def preset(cls, name: str, T: int = 1000) -> Schedule:
        """`su` (the post's), `ho2020` (the paper's) or `cosine` (Nichol & Dhariwal), with T steps."""
        if T < 1:
            raise ValueError(f"Schedule.preset: T={T} must be ≥ 1")
        t = torch.arange(1, T + 1, dtype=torch.float64)
        if name == "su":
            # α_t = √(1 − 0.02 t/T)  ⇔  β_t² = 0.02 t/T
            beta_sq = 0.02 * t / T
        elif name == "ho2020":
            # Ho's β_t (a variance) = linspace(1e−4, 0.02, T)  ⇔  Su's β_t² = that
            beta_sq = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
        elif name == "cosine":
            s = 0.008
            f = torch.cos((torch.arange(0, T + 1, dtype=torch.float64) / T + s) / (1 + s) * math.pi / 2) ** 2
            # ᾱ_t² = f(t)/f(0);  β_t² = 1 − ᾱ_t²/ᾱ_{t−1}² = 1 − f(t)/f(t−1), capped at 0.999
            beta_sq = (1 - f[1:] / f[:-1]).clamp(max=0.999)
        else:
            raise ValueError(f"Schedule.preset: unknown name {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(beta_sq, name=name)

    @classmethod
    def from_alpha(cls, alpha: Tensor | list[float], name: str = "custom") -> Schedule:
        """From Su's α_t (standard deviations, t = 1..T)."""
        alpha = torch.as_tensor(alpha, dtype=torch.float64).flatten()
        # β_t² = 1 − α_t²
        return cls(1 - alpha**2, name=name)

    @classmethod
    def from_diffusers_betas(cls, betas: Tensor | list[float], name: str = "custom") -> Schedule:
        """From diffusers' / Ho's `betas` (variances, index k = t − 1): Su's β_t² = betas[t − 1]."""
        return cls(betas, name=name)

    def to_diffusers_betas(self) -> Tensor:
        """diffusers' `betas` (= Ho's β_t), length T, index k = t − 1: betas[t − 1] = β_t² (Su)."""
        return self.beta[1:] ** 2

    def to_diffusers_alphas_cumprod(self) -> Tensor:
        """diffusers' `alphas_cumprod` (= Ho's ᾱ_t), length T, index k = t − 1: alphas_cumprod[t − 1] = ᾱ_t² (Su)."""
        return self.bar_alpha[1:] ** 2

    def sigma(self, kind: str | float, t: int, s: int | None = None) -> float:
        """σ of the reverse step t → s (s = t − 1 by default) for `kind`:

        - "beta": σ = β_{t|s}, Su's default (optimal when the data are N(0, I); Ho's fixed_large),
        - "posterior": σ = β̄_s β_{t|s} / β̄_t (optimal for a single data point; Ho's fixed_small),
        - "zero": σ = 0 (Su's "greedy search"), or a float used as it is,

        where β_{t|s}² = 1 − ᾱ_t²/ᾱ_s² is the variance of the forward jump s → t (β_t² when s = t − 1).
        """
        s = t - 1 if s is None else s
        if isinstance(kind, (int, float)) and not isinstance(kind, bool):
            if kind < 0:
                raise ValueError(f"sigma={kind} must be ≥ 0")
            return float(kind)
        if kind == "zero":
            return 0.0
        beta_ts = self.beta_between(t, s)
        if kind == "beta":
            return beta_ts
        if kind == "posterior":
            # σ = β̄_s β_{t|s} / β̄_t
            return float(self.bar_beta[s]) * beta_ts / float(self.bar_beta[t])
        raise ValueError(f"sigma={kind!r} is not one of {', '.join(SIGMAS)} (or a float)")

    def alpha_between(self, t: int, s: int) -> float:
        """α_{t|s} = ᾱ_t / ᾱ_s, the signal kept by the forward jump s → t (α_t when s = t − 1)."""
        self._check_pair(t, s)
        return float(self.bar_alpha[t] / self.bar_alpha[s])

    def beta_between(self, t: int, s: int) -> float:
        """β_{t|s} = √(1 − ᾱ_t²/ᾱ_s²), the noise of the forward jump s → t (β_t when s = t − 1)."""
        self._check_pair(t, s)
        if s == t - 1:
            return float(self.beta[t])
        # β_{t|s}² = 1 − Π_{s<r≤t} α_r² = −expm1(Σ log(1 − β_r²))
        return math.sqrt(-math.expm1(float(torch.log1p(-self.beta[s + 1:t + 1] ** 2).sum())))

    def on(self, device: torch.device | str, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """(ᾱ, β̄) as tensors of length T + 1 on `device` in `dtype`, cached (for q_sample in the loss)."""
        key = (str(device), dtype)
        if key not in self._cache:
            self._cache[key] = (self.bar_alpha.to(device, dtype), self.bar_beta.to(device, dtype))
        return self._cache[key]

    def _check_pair(self, t: int, s: int) -> None:
        if not (0 <= s < t <= self.T):
            raise ValueError(f"step t={t} → s={s} must satisfy 0 ≤ s < t ≤ T={self.T}")

    def __repr__(self) -> str:
        return f"Schedule({self.name!r}, T={self.T}, bar_alpha_T={float(self.bar_alpha[-1]):.6g})"
