"""The sequence mixers the deep model can hold: the LRU, the steps of the paper's ablation, the baselines.

kexue.fm/archives/9554; the paper's Table 1 (dense RNNs in the deep block) and Table 2 (from a dense
linear RNN to the LRU, one change at a time):

    dense         x_k = A x_{k−1} + B u_k, A ∈ R^{N×N} Glorot, y_k = C x_k + D u_k   (Table 1 "Lin")
    diag_reim     x_k = Λ x_{k−1} + B u_k, Λ = diag(a + ib), a and b trained as they are (Table 2 "re+im")
    diag_exp      Λ = exp(−ν + iθ), ν and θ trained as they are                      (Table 2 "exp")
    stable_exp    Λ = exp(−exp(ν_log) + i exp(θ_log))                                (Table 2 "stable exp")
    lru           stable_exp + ring init [r_min, r_max] + γ normalisation             (the LRU)
    slru          Su's real variant; real states, so comparisons give it 2N of them to match the LRU's
                  4NH parameters, as Su's bojone/rnn does (`lm.matched`, `reproduce.ablation_config`)
    rnn, lstm     torch.nn.RNN (tanh) and torch.nn.LSTM
    transformer   softmax multi-head attention with RoPE (kexue.nn.attention)

Every diagonal variant starts from the same spectrum (uniform on the disk |λ| ≤ r_max, the Glorot
spectrum, unless the ring is asked for) and the same complex B, C of the paper's variances, so the
ablation changes one thing at a time. Where we depart: the dense RNN runs as a Python loop over time
(it has no diagonal form to scan), so we keep it to the short tasks.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from kexue.nn.attention import MultiHeadAttention, causal_mask
from kexue.nn.lru import LRU, SLRU, ring_init
from kexue.nn.scan import linear_scan

MIXERS: tuple[str, ...] = ("lru", "slru", "stable_exp", "diag_exp", "diag_reim", "dense", "rnn", "lstm",
                           "transformer")


def build_mixer(kind: str, d_model: int, d_state: int, *, r_min: float, r_max: float, max_phase: float,
                bidirectional: bool, causal: bool, heads: int, scan: str) -> nn.Module:
    if kind == "lru":
        return LRU(d_model, d_state, r_min, r_max, max_phase, bidirectional=bidirectional, scan=scan)
    if kind == "slru":
        return SLRU(d_model, d_state, r_min, r_max, bidirectional=bidirectional, scan=scan)
    if kind in ("stable_exp", "diag_exp", "diag_reim"):
        return DiagonalRNN(d_model, d_state, kind, r_max=r_max, max_phase=max_phase, scan=scan)
    if kind == "dense":
        return DenseLinearRNN(d_model, d_state)
    if kind in ("rnn", "lstm"):
        return TorchRNN(d_model, kind)
    if kind == "transformer":
        return Attention(d_model, heads, causal)
    raise ValueError(f"model={kind!r} is not one of {', '.join(MIXERS)}")


class DiagonalRNN(nn.Module):
    """A complex diagonal linear RNN without γ and ring init, in one of three parameterisations of Λ."""

    def __init__(self, d_model: int, d_state: int, param: str = "stable_exp", r_max: float = 1.0,
                 max_phase: float = 2 * math.pi, scan: str = "chunked"):
        super().__init__()
        self.param, self.scan, self.d_state = param, scan, d_state
        # the Glorot spectrum: uniform on the disk |λ| ≤ r_max
        nu_log, theta_log, _ = ring_init(d_state, 0.0, r_max, max_phase)
        nu, theta = torch.exp(nu_log), torch.exp(theta_log)
        if param == "diag_reim":
            lam = torch.polar(torch.exp(-nu), theta)
            self.lambda_re, self.lambda_im = nn.Parameter(lam.real), nn.Parameter(lam.imag)
        elif param == "diag_exp":
            self.nu, self.theta = nn.Parameter(nu), nn.Parameter(theta)
        elif param == "stable_exp":
            self.nu_log, self.theta_log = nn.Parameter(nu_log), nn.Parameter(theta_log)
        else:
            raise ValueError(f"DiagonalRNN: param={param!r} is not diag_reim, diag_exp or stable_exp")
        self.B_re = nn.Parameter(torch.randn(d_state, d_model) / math.sqrt(2 * d_model))
        self.B_im = nn.Parameter(torch.randn(d_state, d_model) / math.sqrt(2 * d_model))
        self.C_re = nn.Parameter(torch.randn(d_model, d_state) / math.sqrt(d_state))
        self.C_im = nn.Parameter(torch.randn(d_model, d_state) / math.sqrt(d_state))
        self.D = nn.Parameter(torch.randn(d_model))

    @property
    def Lambda(self) -> Tensor:
        if self.param == "diag_reim":
            # Λ = a + ib
            return torch.complex(self.lambda_re, self.lambda_im)
        if self.param == "diag_exp":
            # Λ = exp(−ν + iθ)
            return torch.exp(torch.complex(-self.nu, self.theta))
        # Λ = exp(−exp(ν_log) + i exp(θ_log))
        return torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))

    def forward(self, u: Tensor) -> Tensor:
        # B u, complex
        b = torch.complex(u @ self.B_re.T, u @ self.B_im.T)
        # x_k = Λ x_{k−1} + B u_k (the scans take any λ; outside the unit disk x grows, as it should)
        x = linear_scan(self.Lambda, b, method=self.scan)
        # y = Re(C x) + D ⊙ u
        return x.real @ self.C_re.T - x.imag @ self.C_im.T + self.D * u


class DenseLinearRNN(nn.Module):
    """x_k = A x_{k−1} + B u_k, y_k = C x_k + D ⊙ u_k, all real, A with Glorot N(0, 1/N) entries."""

    def __init__(self, d_model: int, d_state: int):
        super().__init__()
        self.A = nn.Parameter(torch.randn(d_state, d_state) / math.sqrt(d_state))
        self.B = nn.Parameter(torch.randn(d_state, d_model) / math.sqrt(d_model))
        self.C = nn.Parameter(torch.randn(d_model, d_state) / math.sqrt(d_state))
        self.D = nn.Parameter(torch.randn(d_model))

    def forward(self, u: Tensor) -> Tensor:
        bu = u @ self.B.T
        x, xs = torch.zeros_like(bu[..., 0, :]), []
        for bu_k in bu.unbind(-2):
            # x_k = A x_{k−1} + B u_k
            x = x @ self.A.T + bu_k
            xs.append(x)
        return torch.stack(xs, -2) @ self.C.T + self.D * u


class TorchRNN(nn.Module):
    """torch.nn.RNN (tanh) or torch.nn.LSTM with hidden size H, as a mixer."""

    def __init__(self, d_model: int, kind: str):
        super().__init__()
        cls = nn.LSTM if kind == "lstm" else nn.RNN
        self.rnn = cls(d_model, d_model, batch_first=True)

    def forward(self, u: Tensor) -> Tensor:
        return self.rnn(u)[0]


class Attention(nn.Module):
    """Softmax multi-head self-attention with RoPE positions; causal for per-token tasks."""

    def __init__(self, d_model: int, heads: int, causal: bool):
        super().__init__()
        self.attn, self.causal = MultiHeadAttention(d_model, heads, rope=True), causal

    def forward(self, u: Tensor) -> Tensor:
        mask = causal_mask(u.shape[-2], u.device) if self.causal else None
        return self.attn(u, mask)
