"""RMSNorm (kexue.fm/archives/8998): y = x / sqrt(mean(x²) + ε) · g."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
import numpy as np

from kexue.nn.norm import RMSNorm


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=9),
                  elements=st.floats(-1e3, 1e3)))
def test_gain_free_output_has_unit_rms(x):
    x = torch.from_numpy(x)
    rms = x.pow(2).mean(dim=-1).sqrt()
    y = RMSNorm(x.shape[-1], gain=False)(x)
    y_rms = y.pow(2).mean(dim=-1).sqrt()
    # RMS(y) = RMS(x) / sqrt(RMS(x)² + ε): 1 for rows well above √ε; all-zero rows stay zero
    torch.testing.assert_close(y_rms, rms / (rms.pow(2) + 1e-12).sqrt(), rtol=1e-9, atol=1e-12)
    big = rms > 1e-2
    torch.testing.assert_close(y_rms[big], torch.ones_like(y_rms[big]), rtol=1e-8, atol=0)
    assert torch.all(y[(x == 0).all(dim=-1)] == 0)


def test_known_vector():
    y = RMSNorm(2, gain=False)(torch.tensor([3.0, 4.0], dtype=torch.float64))
    r = math.sqrt((9 + 16) / 2)
    torch.testing.assert_close(y, torch.tensor([3 / r, 4 / r], dtype=torch.float64))


def test_gain_scales_each_channel():
    x = torch.randn(4, 5, 6)
    norm = RMSNorm(6)
    with torch.no_grad():
        norm.gain.copy_(torch.arange(1.0, 7.0))
    torch.testing.assert_close(norm(x), RMSNorm(6, gain=False)(x) * torch.arange(1.0, 7.0))
    assert set(norm.state_dict()) == {"gain"}
    assert RMSNorm(6, gain=False).state_dict() == {}


def test_eps_is_bert4keras_and_matters_only_for_tiny_inputs():
    assert RMSNorm(4).eps == 1e-12
    x = torch.full((4,), 1e-6, dtype=torch.float64)
    # mean(x²) = 1e-12 = ε, so y = x / sqrt(2e-12)
    torch.testing.assert_close(RMSNorm(4, gain=False)(x), x / math.sqrt(2e-12))


def test_half_precision_is_computed_in_float32():
    x = torch.randn(3, 64) * 300
    y = RMSNorm(64, gain=False)(x.to(torch.bfloat16))
    assert y.dtype == torch.bfloat16
    ref = RMSNorm(64, gain=False)(x.to(torch.bfloat16).float())
    torch.testing.assert_close(y.float(), ref.to(torch.bfloat16).float(), rtol=0, atol=0)
    # float16 would overflow computing x² = 9e4² in its own dtype
    assert torch.isfinite(RMSNorm(64, gain=False)(x.half())).all()


def test_wrong_dim_raises():
    try:
        RMSNorm(8)(torch.randn(2, 7))
    except ValueError as e:
        assert "dim 8" in str(e)
    else:
        raise AssertionError("wrong last dimension accepted")


def _autograd_formula(x, eps):
    # y = x / sqrt(mean(x²) + ε), differentiated by autograd
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
@pytest.mark.parametrize("eps", [1e-12, 1e-2])
def test_written_out_backward_equals_autograd_of_the_formula(dtype, tol, eps):
    # ∂L/∂x = r · (g − y · mean(g · y)), r = 1/sqrt(mean(x²) + ε): the same as autograd's, ε included
    torch.manual_seed(0)
    x0 = torch.randn(3, 5, 24, dtype=dtype) * torch.linspace(0.5, 4.0, 5, dtype=dtype)[:, None]
    g = torch.randn(3, 5, 24, dtype=dtype)
    for gain in (False, True):
        norm = RMSNorm(24, eps=eps, gain=gain).to(dtype)
        if gain:
            with torch.no_grad():
                norm.gain.uniform_(0.5, 2.0)
        x, x_ref = x0.clone().requires_grad_(), x0.clone().requires_grad_()
        y = norm(x)
        expected = _autograd_formula(x_ref, eps) * (norm.gain.detach() if gain else 1.0)
        torch.testing.assert_close(y, expected, rtol=0, atol=tol)
        (y * g).sum().backward()
        (expected * g).sum().backward()
        torch.testing.assert_close(x.grad, x_ref.grad, rtol=0, atol=tol)
        if gain:
            torch.testing.assert_close(norm.gain.grad, (g * _autograd_formula(x0, eps)).sum((0, 1)), rtol=tol, atol=tol)
    assert torch.autograd.gradcheck(lambda t: RMSNorm(24, eps=eps, gain=False)(t), x0.double().requires_grad_())


def test_float32_gradient_is_as_accurate_as_autograds_at_any_scale():
    # against float64: the error relative to each row's largest gradient stays at float32 rounding
    torch.manual_seed(1)
    x0 = torch.randn(64, 384) * torch.logspace(-3, 1, 64)[:, None]
    g = torch.randn(64, 384)
    x64 = x0.double().requires_grad_()
    (_autograd_formula(x64, 1e-12) * g.double()).sum().backward()
    x = x0.clone().requires_grad_()
    (RMSNorm(384, gain=False)(x) * g).sum().backward()
    row_max = x64.grad.abs().amax(dim=-1, keepdim=True)
    assert ((x.grad.double() - x64.grad) / row_max).abs().max() < 1e-6


def test_half_precision_gradients_flow_through_float32():
    x = (torch.randn(4, 32) * 300).to(torch.bfloat16).requires_grad_()
    RMSNorm(32, gain=False)(x).float().sum().backward()
    assert x.grad.dtype == torch.bfloat16 and torch.isfinite(x.grad).all()
    x32 = x.detach().float().requires_grad_()
    _autograd_formula(x32, 1e-12).sum().backward()
    torch.testing.assert_close(x.grad.float(), x32.grad.to(torch.bfloat16).float(), rtol=1e-2, atol=1e-4)
