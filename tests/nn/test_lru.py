"""The LRU and SLRU (kexue.fm/archives/9554): the paper's formulas, init statistics, Prop. 3, streaming."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue.nn.lru import LRU, SLRU, ring_init
from kexue.nn.scan import METHODS, linear_scan


def _ks_uniform(samples: torch.Tensor, low: float, high: float) -> float:
    """The Kolmogorov–Smirnov distance between the samples and U[low, high]."""
    s = ((samples.double().sort().values - low) / (high - low)).clamp(0, 1)
    n = s.numel()
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return max((i / n - s).max().item(), (s - (i - 1) / n).max().item())


def test_ring_init_is_uniform_in_area():
    """|λ|² ~ U[r_min², r_max²] and arg λ ~ U[0, max_phase] (Lemma 2; the post's dxdy = ½ d(r²) dθ)."""
    n, r_min, r_max, max_phase = 20000, 0.4, 0.9, math.pi / 10
    nu_log, theta_log, gamma_log = ring_init(n, r_min, r_max, max_phase, torch.Generator().manual_seed(0))
    modulus2 = torch.exp(-2 * torch.exp(nu_log.double()))
    bound = 1.95 / math.sqrt(n)  # the KS test at 0.1 %
    assert _ks_uniform(modulus2, r_min**2, r_max**2) < bound
    assert _ks_uniform(torch.exp(theta_log), 0.0, max_phase) < bound
    # γ = √(1 − |λ|²)
    torch.testing.assert_close(torch.exp(2 * gamma_log.double()), 1 - modulus2, rtol=1e-5, atol=1e-6)


def test_glorot_spectrum_is_the_unit_disk():
    """The post: a real N×N matrix with N(0, 1/N) entries has eigenvalues uniform on the unit disk,
    so P(|λ| < r) ≈ r², which ring_init(r_min=0, r_max=1) reproduces."""
    g = torch.Generator().manual_seed(0)
    eig = torch.linalg.eigvals(torch.randn(400, 400, generator=g, dtype=torch.float64) / 20).abs()
    nu_log, _, _ = ring_init(400, 0.0, 1.0, generator=g)
    ring = torch.exp(-torch.exp(nu_log.double()))
    for r in (0.3, 0.5, 0.8):
        assert abs((eig < r).double().mean().item() - r**2) < 0.06
        assert abs((ring < r).double().mean().item() - r**2) < 0.08


@settings(max_examples=200, deadline=None)
@given(nu_log=st.floats(-15.0, 60.0), theta_log=st.floats(-60.0, 60.0))
def test_lambda_is_inside_the_unit_circle_for_any_parameters(nu_log, theta_log):
    lru = LRU(2, 1)
    with torch.no_grad():
        lru.nu_log.fill_(nu_log)
        lru.theta_log.fill_(theta_log)
    assert lru.Lambda.abs().item() < 1.0


@settings(max_examples=50, deadline=None)
@given(nu_log=st.floats(-1e30, 1e30), theta_log=st.floats(-60.0, 60.0))
def test_lambda_never_leaves_the_closed_disk(nu_log, theta_log):
    """Below ν_log ≈ −16.6, exp(−ν) rounds to 1 in float32: |λ| = 1 then, never more."""
    lru = LRU(2, 1)
    with torch.no_grad():
        lru.nu_log.fill_(nu_log)
        lru.theta_log.fill_(theta_log)
    assert lru.Lambda.abs().item() <= 1.0 + 1e-7


def test_ring_average_of_the_blow_up_is_the_papers_log_formula():
    """Prop. 3: E over the ring of 1/(1 − |λ|²) = log((1 − r_min²)/(1 − r_max²)) / (r_max² − r_min²)."""
    r_min, r_max = 0.5, 0.95
    nu_log, _, gamma_log = ring_init(200_000, r_min, r_max, generator=torch.Generator().manual_seed(1))
    blow_up = 1 / (1 - torch.exp(-2 * torch.exp(nu_log.double())))
    expected = math.log((1 - r_min**2) / (1 - r_max**2)) / (r_max**2 - r_min**2)
    assert blow_up.mean().item() == pytest.approx(expected, rel=0.01)


def test_white_noise_state_norm_follows_the_posts_formula():
    """E|x_t|² = (1 − r^{2(t+1)}) / (1 − r²) · E|u|² for x_t = λ x_{t−1} + u_t, λ = r e^{iθ}."""
    r, steps = 0.9, 30
    lam = torch.polar(torch.tensor([r], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64))
    g = torch.Generator().manual_seed(0)
    u = torch.complex(*torch.randn(2, 40000, steps, 1, generator=g, dtype=torch.float64)) / math.sqrt(2)
    measured = linear_scan(lam, u).abs().pow(2).mean(0).squeeze(-1)
    t = torch.arange(steps, dtype=torch.float64)
    expected = (1 - r ** (2 * (t + 1))) / (1 - r**2)
    torch.testing.assert_close(measured, expected, rtol=0.03, atol=0)


def test_gamma_keeps_the_state_at_the_input_scale():
    """With white-noise u, E|x_∞|² = γ² E|Bu|² / (1 − |λ|²) = E|Bu|² per channel (Prop. 3)."""
    torch.manual_seed(0)
    lru = LRU(16, 64, r_min=0.5, r_max=0.95).double()
    u = torch.randn(256, 300, 16, dtype=torch.float64)
    with torch.no_grad():
        b = torch.view_as_complex(lru.input_projection(u).unflatten(-1, (64, 2)))  # γ ⊙ B u
        x = linear_scan(lru.Lambda, b)
        bu_power = (b / lru.gamma).abs().pow(2).mean((0, 1))  # E|(Bu)_n|²
        x_power = x[:, 200:].abs().pow(2).mean((0, 1))  # E|x_n|² after the transient
        raw_power = linear_scan(lru.Lambda, b / lru.gamma)[:, 200:].abs().pow(2).mean((0, 1))
    ratio = x_power / bu_power
    assert ratio.mean().item() == pytest.approx(1.0, abs=0.05)
    assert (ratio - 1).abs().max().item() < 0.35  # per channel, Monte Carlo noise only
    # without γ the state is 1/(1 − |λ|²) times bigger: up to ~10× at r = 0.95
    blow_up = 1 / (1 - lru.Lambda.abs().pow(2)).detach()
    torch.testing.assert_close(raw_power / bu_power, blow_up, rtol=0.35, atol=0)


def _naive_lru(lru: LRU, u: torch.Tensor) -> torch.Tensor:
    """The paper's App. A formula with complex matrices and a Python loop, one direction at a time."""
    B = torch.complex(lru.B_re, lru.B_im)
    C = torch.complex(lru.C_re, lru.C_im)
    Bu = torch.einsum("nh,blh->bln", B, u.to(B.dtype))
    n = lru.d_state

    def run(seq):
        x, xs = torch.zeros_like(seq[:, 0]), []
        for k in range(seq.shape[1]):
            x = lru.Lambda * x + lru.gamma * seq[:, k]
            xs.append(x)
        return torch.stack(xs, 1)

    y = torch.einsum("hn,bln->blh", C[:, :n], run(Bu)).real
    if lru.bidirectional:
        y = y + torch.einsum("hn,bln->blh", C[:, n:], run(Bu.flip(1)).flip(1)).real
    return y + lru.D * u


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("scan", METHODS)
def test_lru_is_the_papers_formula(scan, bidirectional):
    torch.manual_seed(0)
    lru = LRU(6, 5, r_min=0.5, r_max=0.99, bidirectional=bidirectional, scan=scan).double()
    u = torch.randn(2, 11, 6, dtype=torch.float64)
    torch.testing.assert_close(lru(u), _naive_lru(lru, u), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cls", [LRU, SLRU])
def test_step_equals_the_parallel_form(cls):
    torch.manual_seed(0)
    layer = cls(6, 8, r_min=0.8, r_max=0.999).double()
    u = torch.randn(3, 25, 6, dtype=torch.float64)
    full = layer(u)
    state, ys = None, []
    for k in range(10):
        y, state = layer.step(u[:, k], state)
        ys.append(y)
    # the rest as one parallel call from the streamed state: chunked streaming continues exactly
    rest = layer(u[:, 10:], state)
    torch.testing.assert_close(torch.cat([torch.stack(ys, 1), rest], 1), full, rtol=1e-10, atol=1e-10)


def test_slru_is_a_real_decay_with_the_ring_init():
    torch.manual_seed(0)
    slru = SLRU(4, 4000, r_min=0.9, r_max=0.999)
    lam = slru.Lambda.detach().double()
    assert lam.dtype.is_floating_point and ((lam > 0) & (lam < 1)).all()
    assert _ks_uniform(lam**2, 0.81, 0.999**2) < 1.95 / math.sqrt(4000)
    u = torch.randn(2, 7, 4, dtype=torch.float64)
    slru = slru.double()
    x, xs = torch.zeros(2, 4000, dtype=torch.float64), []
    for k in range(7):
        # x_k = λ x_{k−1} + γ B u_k;  y_k = C x_k + D u_k
        x = slru.Lambda * x + torch.exp(slru.gamma_log) * (u[:, k] @ slru.B.T)
        xs.append(x @ slru.C.T + slru.D * u[:, k])
    torch.testing.assert_close(slru(u), torch.stack(xs, 1), rtol=1e-10, atol=1e-10)


def test_gradients_reach_every_parameter_through_each_scan():
    torch.manual_seed(0)
    u = torch.randn(2, 9, 4, dtype=torch.float64)
    grads = {}
    for scan in METHODS:
        torch.manual_seed(1)  # the same initial parameters for every scan
        lru = LRU(4, 3, r_min=0.5, r_max=0.9, scan=scan).double()
        lru(u).pow(2).sum().backward()
        grads[scan] = {k: p.grad for k, p in lru.named_parameters()}
    for scan in METHODS:
        for k, g in grads[scan].items():
            assert g is not None and g.abs().sum() > 0, (scan, k)
            torch.testing.assert_close(g, grads["sequential"][k], rtol=1e-9, atol=1e-10)


def test_bad_input_is_one_clear_error():
    lru = LRU(4, 3)
    with pytest.raises(ValueError, match="input u has shape"):
        lru(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="cannot stream"):
        LRU(4, 3, bidirectional=True).step(torch.randn(2, 4))
    with pytest.raises(ValueError, match="r_min"):
        LRU(4, 3, r_min=0.9, r_max=0.5)
    with pytest.raises(ValueError, match="scan"):
        LRU(4, 3, scan="fft")


def test_streaming_under_no_grad_follows_parameter_updates():
    """`step` keeps its projection weights between tokens without autograd; an update must reach it."""
    torch.manual_seed(0)
    lru = LRU(4, 3).double()
    u = torch.randn(2, 4, dtype=torch.float64)
    with torch.no_grad():
        y0, _ = lru.step(u)
        lru.B_re.mul_(2.0)  # an in-place optimizer-style update
        y1, x1 = lru.step(u)
        torch.testing.assert_close(y1, lru(u[:, None])[:, 0], rtol=1e-12, atol=1e-12)
    assert (y1 - y0).abs().max() > 1e-6
