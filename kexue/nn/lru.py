"""The Linear Recurrent Unit (LRU) and Su's real variant SLRU.

kexue.fm/archives/9554; Orvieto et al., "Resurrecting Recurrent Neural Networks for Long Sequences"
(ICML 2023, arXiv 2303.06349), App. A. Input u_k ∈ R^H, state x_k ∈ C^N, x_{−1} = 0:

    x_k = Λ ⊙ x_{k−1} + exp(γ_log) ⊙ (B u_k),     y_k = Re(C x_k) + D ⊙ u_k
    Λ = exp(−exp(ν_log) + i·exp(θ_log))           (|λ| = exp(−exp(ν_log)) < 1 for every ν_log)

Ring initialisation (the paper's Lemma 2, the post's §初始化): |λ|² ~ U[r_min², r_max²] and
arg λ ~ U[0, max_phase], so λ is uniform in area on the ring; γ = √(1 − |λ|²) cancels the growth
E|x_∞|² = E|Bu|² / (1 − |λ|²) of white-noise input (the paper's Prop. 3, the post's E|x_t|² formula).
B_re, B_im ~ N(0, 1/(2H)), C_re, C_im ~ N(0, 1/N), D ~ N(0, 1): the paper's variances.

`SLRU` is Su's "Simpler LRU" (bojone/rnn slru.py): λ = exp(−exp(ν_log)) real, no phase, B and C real.

Where we depart, and why:
- The complex projections are computed as Su does (§复数化): B u is one real matmul whose output is
  read as interleaved (re, im) pairs, and Re(C x) = [C_re, −C_im]·[Re x; Im x] is one real matmul of
  the interleaved state. Same numbers as the complex product, no complex matmul, no extra copies.
- The scan is our `kexue.nn.scan.linear_scan` (default "chunked"; the paper uses
  jax.lax.associative_scan). All methods give the same x to rounding; tests check it.
- Su's Keras LRU has no D term and a bias on the output; we follow the paper (D, no bias). For SLRU we
  keep D too, so that LRU and SLRU differ only in the recurrence.
- Bidirectional (the paper uses it for Pathfinder/PathX, as S5 does): the same Λ and B run a second
  scan backwards in time, with its own C; y = Re(C_fwd x_fwd + C_bwd x_bwd) + D u.
- Initial draws u ~ U[0, 1) are clamped away from 0, so that ν_log and θ_log are never ±∞.
- In floating point exp(−ν) rounds to exactly 1 when ν < 2⁻²⁴ (float32), i.e. ν_log < −16.6; |λ| ≤ 1
  still holds there, so the recurrence never grows, but it no longer decays.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from kexue.nn.scan import METHODS, Method, linear_scan

TINY = 1e-12  # the smallest uniform draw of the ring initialisation


def ring_init(d_state: int, r_min: float = 0.0, r_max: float = 1.0, max_phase: float = 2 * math.pi,
              generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """(ν_log, θ_log, γ_log) with λ uniform on the ring r_min ≤ |λ| ≤ r_max, 0 ≤ arg λ ≤ max_phase."""
    if not 0.0 <= r_min < r_max <= 1.0:
        raise ValueError(f"ring_init: need 0 ≤ r_min < r_max ≤ 1, got r_min={r_min}, r_max={r_max}")
    if not max_phase > 0:
        raise ValueError(f"ring_init: max_phase={max_phase} must be positive")
    u1 = torch.rand(d_state, generator=generator, dtype=torch.float64).clamp_min(TINY)
    u2 = torch.rand(d_state, generator=generator, dtype=torch.float64).clamp_min(TINY)
    # ν = −½ log(u1 (r_max² − r_min²) + r_min²), so |λ|² = e^{−2ν} ~ U[r_min², r_max²]
    nu = -0.5 * torch.log(u1 * (r_max**2 - r_min**2) + r_min**2)
    # θ = max_phase · u2
    theta = max_phase * u2
    # γ = √(1 − |λ|²)
    gamma = torch.sqrt(1 - torch.exp(-2 * nu))
    return torch.log(nu).float(), torch.log(theta).float(), torch.log(gamma).float()


class LRU(nn.Module):
    """The LRU: u [..., L, H] → y [..., L, H]. `step` is the same map one token at a time, and
    `forward(u, state)` continues from a state that `step` returned (chunked streaming)."""

    def __init__(self, d_model: int, d_state: int, r_min: float = 0.0, r_max: float = 1.0,
                 max_phase: float = 2 * math.pi, bidirectional: bool = False, scan: Method = "chunked"):
        super().__init__()
        if scan not in METHODS:
            raise ValueError(f"LRU: scan={scan!r} is not one of {', '.join(METHODS)}")
        self.d_model, self.d_state, self.bidirectional, self.scan = d_model, d_state, bidirectional, scan
        self.r_min, self.r_max, self.max_phase = r_min, r_max, max_phase
        nu_log, theta_log, gamma_log = ring_init(d_state, r_min, r_max, max_phase)
        self.nu_log = nn.Parameter(nu_log)
        self.theta_log = nn.Parameter(theta_log)
        self.gamma_log = nn.Parameter(gamma_log)
        # B_re, B_im ~ N(0, 1/(2H))
        self.B_re = nn.Parameter(torch.randn(d_state, d_model) / math.sqrt(2 * d_model))
        self.B_im = nn.Parameter(torch.randn(d_state, d_model) / math.sqrt(2 * d_model))
        # C_re, C_im ~ N(0, 1/N), one pair per direction
        directions = 2 if bidirectional else 1
        self.C_re = nn.Parameter(torch.randn(d_model, directions * d_state) / math.sqrt(d_state))
        self.C_im = nn.Parameter(torch.randn(d_model, directions * d_state) / math.sqrt(d_state))
        # D ~ N(0, 1)
        self.D = nn.Parameter(torch.randn(d_model))

    @property
    def Lambda(self) -> Tensor:
        # Λ = exp(−exp(ν_log) + i exp(θ_log))
        return torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))

    @property
    def gamma(self) -> Tensor:
        return torch.exp(self.gamma_log)

    def forward(self, u: Tensor, state: Tensor | None = None) -> Tensor:
        _check_input(u, self.d_model, "LRU")
        if state is not None and self.bidirectional:
            raise ValueError("LRU: a bidirectional LRU has no streaming state; pass state=None")
        # γ ⊙ (B u), as interleaved (re, im) pairs read as complex
        b = torch.view_as_complex(self.input_projection(u).unflatten(-1, (self.d_state, 2)))
        x = linear_scan(self.Lambda, b, state, self.scan)
        if self.bidirectional:
            x_back = linear_scan(self.Lambda, b.flip(-2), None, self.scan).flip(-2)
            x = torch.cat([x, x_back], dim=-1)
        return self.output_projection(x, u)

    def step(self, u_t: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One token: u_t [..., H], state x_{t−1} [..., N] complex (None = 0) → (y_t, x_t)."""
        if self.bidirectional:
            raise ValueError("LRU.step: a bidirectional LRU cannot stream (it reads the future); "
                             "build it with bidirectional=False")
        _check_input(u_t, self.d_model, "LRU.step", time_axis=False)
        w_in, w_out, lam = self._step_weights()
        b_t = torch.view_as_complex((u_t @ w_in.T).unflatten(-1, (self.d_state, 2)))
        # x_t = Λ ⊙ x_{t−1} + γ ⊙ B u_t
        x_t = b_t if state is None else lam * state + b_t
        # y_t = Re(C x_t) + D ⊙ u_t
        return torch.view_as_real(x_t).flatten(-2) @ w_out.T + self.D * u_t, x_t

    def input_projection(self, u: Tensor) -> Tensor:
        """γ ⊙ (B u) as interleaved (re, im) pairs: [..., 2N] real."""
        return u @ self._input_weight().T

    def output_projection(self, x: Tensor, u: Tensor) -> Tensor:
        # y = Re(C x) + D ⊙ u
        return torch.view_as_real(x).flatten(-2) @ self._output_weight().T + self.D * u

    def _input_weight(self) -> Tensor:
        # rows (γ_n B_re[n], γ_n B_im[n]) interleaved: u @ W_inᵀ = [Re(γ B u)_0, Im(γ B u)_0, ...]
        return (torch.stack([self.B_re, self.B_im], dim=1) * self.gamma[:, None, None]).flatten(0, 1)

    def _output_weight(self) -> Tensor:
        # Re(C x) = Σ_n C_re[:, n] Re x_n − C_im[:, n] Im x_n: one real matmul of the interleaved state
        return torch.stack([self.C_re, -self.C_im], dim=-1).flatten(-2)

    def _step_weights(self) -> tuple[Tensor, Tensor, Tensor]:
        """(W_in, W_out, Λ), rebuilt under autograd, else kept until a parameter changes (streaming)."""
        if torch.is_grad_enabled():
            return self._input_weight(), self._output_weight(), self.Lambda
        key = tuple((p.data_ptr(), p._version) for p in self.parameters())
        cache = self.__dict__.get("_stream_cache")
        if cache is None or cache[0] != key:
            cache = (key, (self._input_weight(), self._output_weight(), self.Lambda))
            self.__dict__["_stream_cache"] = cache
        return cache[1]

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_state={self.d_state}, r_min={self.r_min}, r_max={self.r_max}, "
                f"max_phase={self.max_phase:.4g}, bidirectional={self.bidirectional}, scan={self.scan!r}")


class SLRU(nn.Module):
    """Su's SLRU: x_k = λ ⊙ x_{k−1} + γ ⊙ (B u_k), λ = exp(−exp(ν_log)) real; y_k = C x_k + D ⊙ u_k."""

    def __init__(self, d_model: int, d_state: int, r_min: float = 0.0, r_max: float = 1.0,
                 bidirectional: bool = False, scan: Method = "chunked"):
        super().__init__()
        if scan not in METHODS:
            raise ValueError(f"SLRU: scan={scan!r} is not one of {', '.join(METHODS)}")
        self.d_model, self.d_state, self.bidirectional, self.scan = d_model, d_state, bidirectional, scan
        self.r_min, self.r_max = r_min, r_max
        nu_log, _, gamma_log = ring_init(d_state, r_min, r_max)
        self.nu_log = nn.Parameter(nu_log)
        self.gamma_log = nn.Parameter(gamma_log)
        # B ~ N(0, 1/H), C ~ N(0, 1/N): the LRU's E|Bu|² and E|Cx|² with real numbers
        self.B = nn.Parameter(torch.randn(d_state, d_model) / math.sqrt(d_model))
        self.C = nn.Parameter(torch.randn(d_model, (2 if bidirectional else 1) * d_state) / math.sqrt(d_state))
        self.D = nn.Parameter(torch.randn(d_model))

    @property
    def Lambda(self) -> Tensor:
        # λ = exp(−exp(ν_log)) ∈ (0, 1)
        return torch.exp(-torch.exp(self.nu_log))

    def forward(self, u: Tensor, state: Tensor | None = None) -> Tensor:
        _check_input(u, self.d_model, "SLRU")
        if state is not None and self.bidirectional:
            raise ValueError("SLRU: a bidirectional SLRU has no streaming state; pass state=None")
        # γ ⊙ (B u)
        b = u @ (self.B * torch.exp(self.gamma_log)[:, None]).T
        x = linear_scan(self.Lambda, b, state, self.scan)
        if self.bidirectional:
            x = torch.cat([x, linear_scan(self.Lambda, b.flip(-2), None, self.scan).flip(-2)], dim=-1)
        # y = C x + D ⊙ u
        return x @ self.C.T + self.D * u

    def step(self, u_t: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if self.bidirectional:
            raise ValueError("SLRU.step: a bidirectional SLRU cannot stream; build it with bidirectional=False")
        _check_input(u_t, self.d_model, "SLRU.step", time_axis=False)
        b_t = u_t @ (self.B * torch.exp(self.gamma_log)[:, None]).T
        # x_t = λ ⊙ x_{t−1} + γ ⊙ B u_t
        x_t = b_t if state is None else self.Lambda * state + b_t
        return x_t @ self.C.T + self.D * u_t, x_t

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_state={self.d_state}, r_min={self.r_min}, r_max={self.r_max}, "
                f"bidirectional={self.bidirectional}, scan={self.scan!r}")


def _check_input(u: Tensor, d_model: int, name: str, time_axis: bool = True) -> None:
    if u.dim() < (2 if time_axis else 1) or u.shape[-1] != d_model:
        want = "[..., L, H]" if time_axis else "[..., H]"
        raise ValueError(f"{name}: input u has shape {tuple(u.shape)}; expected {want} with H = d_model = {d_model}")
    if u.is_complex():
        raise ValueError(f"{name}: input u is complex ({u.dtype}); the LRU reads real inputs")
