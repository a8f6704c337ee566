"""The layer-level identities and timings of post 9554, measured: init, γ, the closed form, the scans, streaming.

kexue.fm/archives/9554. Each function returns plain numbers (for results.json), and where a check needs
one, the same number for its negative control (a deliberately wrong variant); `figures.py` draws them
and `claims.py` decides. Timings are taken with `kexue.timing.interleaved_seconds` (the sides in turn,
on the work's own CPU clock), so a busy machine does not decide a verdict.
"""
from __future__ import annotations

import math
import time

import torch
from torch import Tensor

from kexue.lru.measure_scan import scan_cells, scan_depth, scan_speed, scan_time_vs_length
from kexue.nn.lru import LRU, ring_init
from kexue.nn.scan import METHODS, linear_scan, scan_closed_form, scan_sequential

__all__ = ["ks_uniform", "ring_and_disk", "gamma_effect", "closed_form_overflow", "scans_vs_loop",
           "streaming_parity", "scan_cells", "scan_depth", "scan_speed", "scan_time_vs_length"]


def ks_uniform(samples: Tensor, low: float, high: float) -> float:
    """Kolmogorov–Smirnov distance between the samples and U[low, high]."""
    s = ((samples.double().sort().values - low) / (high - low)).clamp(0, 1)
    i = torch.arange(1, s.numel() + 1, dtype=torch.float64)
    return max((i / s.numel() - s).max().item(), (s - (i - 1) / s.numel()).max().item())


def ring_and_disk(n: int, r_min: float, r_max: float, max_phase: float) -> tuple[dict, Tensor, Tensor]:
    """The ring init against uniform-in-area, and the Glorot spectrum against the disk law P(|eig| < r) = r².

    Controls: r ~ U[r_min, r_max] (uniform in radius, not in area) under the same KS test of |λ|², and the
    Glorot spectrum read against P(|eig| < r) = r. Returns (numbers, λ of the ring init, Glorot eigenvalues)."""
    g = torch.Generator().manual_seed(0)
    nu_log, theta_log, _ = ring_init(n, r_min, r_max, max_phase, g)
    # λ = exp(−exp(ν_log) + i exp(θ_log))
    lam = torch.polar(torch.exp(-torch.exp(nu_log.double())), torch.exp(theta_log.double()))
    r_naive = r_min + (r_max - r_min) * torch.rand(n, generator=g, dtype=torch.float64)
    glorot_n = min(n, 500)
    # eigenvalues of a Glorot matrix, entries N(0, 1/n)
    eig = torch.linalg.eigvals(torch.randn(glorot_n, glorot_n, generator=g, dtype=torch.float64) / math.sqrt(glorot_n))
    radii = (0.25, 0.5, 0.75)
    inside = [(eig.abs() < r).double().mean().item() for r in radii]
    out = {"n": n, "ks_modulus2": ks_uniform(lam.abs() ** 2, r_min**2, r_max**2),
           "ks_phase": ks_uniform(lam.angle() % (2 * math.pi), 0.0, max_phase),
           "control_ks_modulus2_uniform_radius": ks_uniform(r_naive**2, r_min**2, r_max**2),
           "glorot_n": glorot_n,
           "glorot_disk_max_error": max(abs(p - r**2) for p, r in zip(inside, radii)),
           "control_disk_max_error_uniform_radius": max(abs(p - r) for p, r in zip(inside, radii))}
    return out, lam, eig


def gamma_effect(r_min: float, r_max: float, d_state: int, batch: int, length: int) -> tuple[dict, dict]:
    """E|x_n|² / E|(Bu)_n|² under white noise, with and without γ, against 1/(1 − |λ_n|²) (Prop. 3); the
    control reads the same ratio against 1/(1 − |λ_n|) (the modulus, not its square). Returns (numbers,
    the per-channel curves for the figure)."""
    torch.manual_seed(0)
    lru = LRU(16, d_state, r_min=r_min, r_max=r_max).double()
    u = torch.randn(batch, length, 16, dtype=torch.float64)
    with torch.no_grad():
        b = torch.view_as_complex(lru.input_projection(u).unflatten(-1, (d_state, 2)))  # γ ⊙ B u
        bu = b / lru.gamma
        tail = length // 2
        power_bu = bu.abs().pow(2).mean((0, 1))
        with_gamma = linear_scan(lru.Lambda, b)[:, tail:].abs().pow(2).mean((0, 1)) / power_bu
        without = linear_scan(lru.Lambda, bu)[:, tail:].abs().pow(2).mean((0, 1)) / power_bu
        modulus = lru.Lambda.abs()
    # E|x|² / E|Bu|² = 1 / (1 − |λ|²) at large t
    predicted = 1 / (1 - modulus**2)
    wrong = 1 / (1 - modulus)
    out = {"with_gamma_mean": with_gamma.mean().item(), "without_gamma_mean": without.mean().item(),
           "without_gamma_max": without.max().item(),
           "without_vs_prediction_rel_error": ((without - predicted) / predicted).abs().mean().item(),
           "control_without_vs_1_over_1_minus_r_rel_error": ((without - wrong) / wrong).abs().mean().item()}
    return out, {"modulus": modulus, "predicted": predicted, "without": without, "with_gamma": with_gamma}


def closed_form_overflow(length: int = 1000, radius: float = 0.9, control_length: int = 100) -> dict:
    """λ^t Σ λ^{−k} b_k in complex64: where it turns inf/nan at `length`; the control is the same closed
    form at `control_length`, where |λ|^{−L} is still finite (0.9^{−100} ≈ 3.8e4)."""
    out = {"length": length, "radius": radius, "control_length": control_length}
    for key, n in (("", length), ("control_", control_length)):
        lam, b = _recurrence_inputs(n, radius)
        closed = scan_closed_form(lam, b)
        bad = ~torch.isfinite(closed)
        first = bad.any(0).any(-1).nonzero()
        out[f"{key}closed_form_nonfinite"] = int(bad.sum())
        out[f"{key}closed_form_first_nonfinite_t"] = int(first[0]) if len(first) else None
    return out


def scans_vs_loop(length: int = 1000, radius: float = 0.9) -> dict:
    """Every scan of `kexue.nn.scan` against the loop, complex64; the control is the loop one step off,
    x_t = Σ_k λ^{t−k+1} b_k (λ^t where λ^{t−k} belongs), against the same loop."""
    lam, b = _recurrence_inputs(length, radius)
    ref = scan_sequential(lam, b)
    errors = {m: (linear_scan(lam, b, method=m) - ref).abs().max().item() for m in METHODS if m != "sequential"}
    # the control: x_t = λ x_{t−1} + λ b_t, a power of λ too many
    control = (scan_sequential(lam, lam * b) - ref).abs().max().item()
    return {"length": length, "scan_max_abs_error": errors, "control_off_by_one_max_abs_error": control,
            "reference_max_abs": ref.abs().max().item()}


def streaming_parity(length: int = 300) -> dict:
    """LRU.step token by token against the parallel forward, float32, and the step cost; the control is
    the parallel form one token late (y_{t−1} where y_t belongs)."""
    torch.manual_seed(0)
    lru = LRU(32, 64, r_min=0.9, r_max=0.999)
    u = torch.randn(4, length, 32)
    with torch.no_grad():
        full = lru(u)
        state, ys = None, []
        t = time.thread_time()
        for k in range(length):
            y, state = lru.step(u[:, k], state)
            ys.append(y)
        us = 1e6 * (time.thread_time() - t) / length
    stream = torch.stack(ys, 1)
    return {"max_abs_diff": (stream - full).abs().max().item(), "output_max_abs": full.abs().max().item(),
            "control_one_token_late_max_abs_diff": (stream[:, 1:] - full[:, :-1]).abs().max().item(),
            "us_per_step": us}


def _recurrence_inputs(length: int, radius: float) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    lam = torch.polar(torch.full((8,), radius), 6.28 * torch.rand(8, generator=g))
    b = torch.complex(torch.randn(2, length, 8, generator=g), torch.randn(2, length, 8, generator=g))
    return lam, b
