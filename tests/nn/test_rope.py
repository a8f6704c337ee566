"""RoPE (kexue.fm/archives/8265): interleaved pair rotation, relative positions, streaming offsets."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue.nn.rope import RoPE, apply_rope, rope_tables


def test_one_pair_is_a_hand_written_2x2_rotation():
    d, m, base = 6, 3, 10000.0
    x = torch.randn(d, dtype=torch.float64)
    # position m is row m of a length-(m+1) sequence
    y = apply_rope(torch.zeros(m + 1, d, dtype=torch.float64).index_copy(0, torch.tensor([m]), x[None]))[m]
    for k in range(d // 2):
        theta = base ** (-2 * k / d)
        c, s = math.cos(m * theta), math.sin(m * theta)
        rotation = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
        expected = rotation @ x[2 * k:2 * k + 2]
        torch.testing.assert_close(y[2 * k:2 * k + 2], expected, rtol=0, atol=1e-12)


def test_pairs_are_interleaved_not_halves():
    # e_0 at position 1 must move into coordinate 1 (its pair), not coordinate d/2
    d = 8
    x = torch.zeros(2, d)
    x[1, 0] = 1.0
    y = apply_rope(x)[1]
    assert abs(y[1].item() - math.sin(1.0)) < 1e-6
    assert y[d // 2].item() == 0.0


@settings(max_examples=60, deadline=None)
@given(i=st.integers(0, 300), j=st.integers(0, 300), shift=st.integers(0, 300),
       half=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_score_depends_only_on_relative_position(i, j, shift, half, seed):
    d = 2 * half
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(2, 1, d, generator=g, dtype=torch.float64)
    # ⟨R_i q, R_j k⟩ = ⟨R_{i+s} q, R_{j+s} k⟩
    score = (apply_rope(q, offset=i) * apply_rope(k, offset=j)).sum()
    shifted = (apply_rope(q, offset=i + shift) * apply_rope(k, offset=j + shift)).sum()
    assert abs(score.item() - shifted.item()) < 1e-9
    # and both equal ⟨q, R_{j−i} k⟩ when j ≥ i
    if j >= i:
        relative = (q * apply_rope(k, offset=j - i)).sum()
        assert abs(score.item() - relative.item()) < 1e-9


def test_rotation_preserves_norm_and_position_zero_is_identity():
    x = torch.randn(2, 3, 50, 16, dtype=torch.float64)
    y = RoPE(16)(x)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(y[..., 0, :], x[..., 0, :])
    assert not torch.allclose(y[..., 1:, :], x[..., 1:, :])


def test_offset_streaming_equals_slicing_the_full_rotation():
    rope = RoPE(12)
    x = torch.randn(2, 4, 40, 12)
    full = rope(x)
    pieces, start = [], 0
    for size in (1, 7, 3, 16, 13):  # grows the cache several times
        pieces.append(rope(x[..., start:start + size, :], offset=start))
        start += size
    torch.testing.assert_close(torch.cat(pieces, dim=-2), full, rtol=0, atol=1e-6)
    torch.testing.assert_close(apply_rope(x[..., 10:, :], offset=10), full[..., 10:, :], rtol=0, atol=1e-6)


def test_module_matches_function_and_keeps_no_state():
    rope = RoPE(10, base=500.0)
    x = torch.randn(3, 25, 10)
    torch.testing.assert_close(rope(x, offset=4), apply_rope(x, offset=4, base=500.0))
    assert rope.state_dict() == {}


def test_large_positions_keep_float32_precision():
    # angles are computed in float64; a float32 table must agree with a float64 one
    x = torch.randn(1, 64)
    y32 = apply_rope(x, offset=100_000)
    y64 = apply_rope(x.double(), offset=100_000)
    torch.testing.assert_close(y32.double(), y64, rtol=0, atol=1e-5)


def test_bad_head_size_and_offset_raise():
    for bad in (0, 7):
        try:
            RoPE(bad)
        except ValueError as e:
            assert "head_size" in str(e)
        else:
            raise AssertionError("odd head_size accepted")
    try:
        RoPE(8)(torch.randn(3, 6))
    except ValueError as e:
        assert "head_size 8" in str(e)
    else:
        raise AssertionError("mismatched last dimension accepted")


def _real_formula(x, cos, sin):
    # y_2k = x_2k cos − x_2k+1 sin ;  y_2k+1 = x_2k+1 cos + x_2k sin, written out on the real pairs
    even, odd = x[..., 0::2], x[..., 1::2]
    y = torch.empty_like(x)
    y[..., 0::2] = even * cos - odd * sin
    y[..., 1::2] = odd * cos + even * sin
    return y


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_complex_multiply_equals_the_real_rotation_with_gradients(dtype, tol):
    # float32/float64 rotate as z_k · e^{i mθ_k}; the same numbers and gradients as the real formula
    torch.manual_seed(0)
    d, n, offset = 16, 40, 5
    cos, sin = rope_tables(offset + n, d, 10000.0, dtype=dtype)
    cos, sin = cos[offset:], sin[offset:]
    base = torch.randn(2, n, 3, 2 * d, dtype=dtype)
    # [2, 3, n, d] three ways: contiguous, a transposed view (as attention's q, k), and every other
    # coordinate (a layout that cannot be viewed as complex numbers without a copy)
    layouts = {"contiguous": lambda t: t[..., :d].transpose(1, 2).contiguous(),
               "transposed": lambda t: t[..., d:].transpose(1, 2),
               "strided": lambda t: t[..., 0::2].transpose(1, 2)}
    g = torch.randn(2, 3, n, d, dtype=dtype)
    for name, layout in layouts.items():
        x, x_ref = base.clone().requires_grad_(), base.clone().requires_grad_()
        y, expected = RoPE(d)(layout(x), offset=offset), _real_formula(layout(x_ref), cos, sin)
        torch.testing.assert_close(y, expected, rtol=0, atol=tol, msg=name)
        torch.testing.assert_close(apply_rope(layout(base), offset=offset), expected.detach(), rtol=0, atol=tol)
        (y * g).sum().backward()
        (expected * g).sum().backward()
        torch.testing.assert_close(x.grad, x_ref.grad, rtol=0, atol=tol, msg=name)


def test_half_precision_keeps_the_real_path():
    x = torch.randn(2, 9, 8)
    for dtype in (torch.bfloat16, torch.float16):
        y = apply_rope(x.to(dtype), offset=3)
        assert y.dtype == dtype
        torch.testing.assert_close(y.float(), apply_rope(x, offset=3), rtol=0, atol=3e-2)
