"""The scans of x_t = a_t x_{t−1} + b_t (kexue.fm/archives/9554 §并行化): every one equals the loop."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue.nn.scan import METHODS, linear_scan, scan_closed_form, scan_sequential

CONSTANT_ONLY = ("upper_lower", "chunked")
TOL = {torch.complex64: dict(rtol=1e-4, atol=1e-5), torch.complex128: dict(rtol=1e-10, atol=1e-10),
       torch.float64: dict(rtol=1e-10, atol=1e-10)}


def _inputs(shape, dtype, radius=0.95, time_varying=False, seed=0):
    """b [*shape] and a with |a| ≤ radius: constant [N] or time-varying [*shape]."""
    g = torch.Generator().manual_seed(seed)
    real = torch.float64 if dtype in (torch.complex128, torch.float64) else torch.float32
    a_shape = shape if time_varying else shape[-1:]
    r = radius * torch.rand(a_shape, generator=g, dtype=real) ** 0.5
    if dtype.is_complex:
        a = torch.polar(r, 6.3 * torch.rand(a_shape, generator=g, dtype=real))
        b = torch.complex(torch.randn(shape, generator=g, dtype=real), torch.randn(shape, generator=g, dtype=real))
        x0 = torch.complex(*torch.randn(2, *shape[:-2], shape[-1], generator=g, dtype=real))
    else:
        a, b, x0 = r, torch.randn(shape, generator=g, dtype=real), torch.randn(*shape[:-2], shape[-1], generator=g,
                                                                                dtype=real)
    return a.requires_grad_(), b.requires_grad_(), x0.requires_grad_()


def _value_and_grads(method, a, b, x0, w):
    x = linear_scan(a, b, x0, method)
    # a real loss L = Re Σ conj(w) x, so that the complex gradients are defined
    grads = torch.autograd.grad((x * w.conj()).real.sum(), (a, b, x0))
    return x, grads


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128, torch.float64])
@pytest.mark.parametrize("length", [1, 2, 7, 33, 100])
def test_every_scan_equals_the_loop_forwards_and_in_gradients(method, dtype, length):
    a, b, x0 = _inputs((3, length, 5), dtype)
    w = torch.randn_like(b)
    x_ref, g_ref = _value_and_grads("sequential", a, b, x0, w)
    x, g = _value_and_grads(method, a, b, x0, w)
    torch.testing.assert_close(x, x_ref, **TOL[dtype])
    for got, want, name in zip(g, g_ref, ("a", "b", "x0")):
        torch.testing.assert_close(got, want, **TOL[dtype], msg=f"grad {name}")


@pytest.mark.parametrize("method", [m for m in METHODS if m not in CONSTANT_ONLY])
@pytest.mark.parametrize("length", [5, 64])
def test_time_varying_a_equals_the_loop(method, length):
    a, b, x0 = _inputs((2, 4, length, 3), torch.complex128, time_varying=True)
    w = torch.randn_like(b)
    x_ref, g_ref = _value_and_grads("sequential", a, b, x0, w)
    x, g = _value_and_grads(method, a, b, x0, w)
    torch.testing.assert_close(x, x_ref, rtol=1e-10, atol=1e-10)
    for got, want in zip(g, g_ref):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(length=st.integers(1, 80), radius=st.floats(0.0, 0.999), chunk_seed=st.integers(0, 10_000))
def test_all_scans_agree_for_any_length_and_radius(length, radius, chunk_seed):
    a, b, _ = _inputs((2, length, 3), torch.complex128, radius=radius, seed=chunk_seed)
    ref = scan_sequential(a, b)
    for method in METHODS:
        torch.testing.assert_close(linear_scan(a, b, method=method), ref, rtol=1e-9, atol=1e-9)


def test_scan_is_the_sum_formula():
    """x_t = Σ_{k≤t} λ^{t−k} b_k (the post's eq. for a diagonal linear RNN)."""
    a, b, _ = _inputs((1, 9, 4), torch.complex128)
    t = torch.arange(9)
    powers = a.detach() ** (t[:, None, None] - t[None, :, None]).clamp_min(0)  # [t, k, N]
    mask = (t[:, None] >= t[None, :])[..., None]
    expected = (torch.where(mask, powers, 0) * b.detach()[0][None]).sum(1)
    torch.testing.assert_close(linear_scan(a, b)[0].detach(), expected, rtol=1e-12, atol=1e-12)


def test_the_closed_form_overflows_where_the_scans_do_not():
    """The post: x_t = λ^t Σ λ^{−k} u_k "理论上没有问题，实际上却没什么价值": λ^{−k} explodes."""
    a = torch.polar(torch.full((4,), 0.9), torch.tensor([0.0, 0.5, 1.0, 3.0]))
    b = torch.randn(1, 1000, 4, dtype=torch.complex64)
    closed = scan_closed_form(a, b)
    assert not torch.isfinite(closed).all()  # 0.9^{−1000} ≈ 1e45 > float32's 3e38
    ref = scan_sequential(a, b)
    assert torch.isfinite(ref).all()
    for method in METHODS:
        torch.testing.assert_close(linear_scan(a, b, method=method), ref, rtol=1e-4, atol=1e-4)
    # short sequences are exact: the form is right in real numbers, wrong in floating point
    torch.testing.assert_close(scan_closed_form(a, b[:, :20]), ref[:, :20], rtol=1e-4, atol=1e-4)
    # and float64 only moves the wall: 0.9^{−k} passes 1.8e308 at k ≈ 6700
    b64 = torch.randn(1, 8000, 1, dtype=torch.complex128)
    assert not torch.isfinite(scan_closed_form(torch.tensor([0.9 + 0j], dtype=torch.complex128), b64)).all()


def test_bad_arguments_are_one_line_errors():
    a, b, _ = _inputs((2, 6, 3), torch.complex64, time_varying=True)
    for method in CONSTANT_ONLY:
        with pytest.raises(ValueError, match="constant"):
            linear_scan(a, b, method=method)
    with pytest.raises(ValueError, match="method"):
        linear_scan(a[0, 0], b, method="fft")
    with pytest.raises(ValueError, match="time steps"):
        linear_scan(torch.ones(2, 5, 3), b)
