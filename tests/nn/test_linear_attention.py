"""Linear attention (kexue.fm/archives/7546, 8610): chunked and cumsum forms against the formulas."""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from kexue.nn.attention import causal_mask, padding_mask
from kexue.nn.linear_attention import (KINDS, LinearAttention, causal_linear_attention_cumsum, linear_attention,
                                       performer_features, performer_projection, quadratic_linear_attention)

CASES = [(kind, causal) for kind in KINDS for causal in (False, True)]


def _qkv(b=2, h=3, n=23, d=6, e=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, h, n, size, generator=g, dtype=dtype).requires_grad_() for size in (d, d, e)]


def _general(sim, v, causal):
    """out_i = Σ_j sim_ij v_j / Σ_j sim_ij, the sums over j ≤ i when causal (7546's general form)."""
    if causal:
        sim = sim * torch.ones_like(sim).tril()
    return torch.einsum("bhij,bhje->bhie", sim, v) / sim.sum(-1, keepdim=True)


@pytest.mark.parametrize("kind,causal", CASES)
def test_chunked_equals_quadratic_with_gradients(kind, causal):
    q, k, v = _qkv()
    out = linear_attention(q, k, v, kind, causal=causal, chunk=5)  # 23 = 4·5 + 3
    ref = quadratic_linear_attention(q, k, v, kind, causal=causal)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-10)
    w = torch.randn_like(out)
    grads = torch.autograd.grad((out * w).sum(), (q, k, v))
    ref_grads = torch.autograd.grad((ref * w).sum(), (q, k, v))
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_cumsum_form_equals_quadratic(kind):
    q, k, v = _qkv(n=17)
    ref = quadratic_linear_attention(q, k, v, kind, causal=True)
    torch.testing.assert_close(causal_linear_attention_cumsum(q, k, v, kind), ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind,causal", CASES)
def test_float32_chunked_within_1e5(kind, causal):
    q, k, v = (t.detach().float() for t in _qkv(n=70, d=16, e=16, seed=1))
    out = linear_attention(q, k, v, kind, causal=causal)
    ref = quadratic_linear_attention(q.double(), k.double(), v.double(), kind, causal=causal)
    torch.testing.assert_close(out.double(), ref, rtol=0, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 2), h=st.integers(1, 3), n=st.integers(1, 40), d=st.integers(1, 9), e=st.integers(1, 7),
       chunk=st.integers(1, 48), kind=st.sampled_from(KINDS), causal=st.booleans(), seed=st.integers(0, 999))
def test_random_shapes_match_quadratic(b, h, n, d, e, chunk, kind, causal, seed):
    q, k, v = (t.detach() for t in _qkv(b, h, n, d, e, seed))
    out = linear_attention(q, k, v, kind, causal=causal, chunk=chunk)
    torch.testing.assert_close(out, quadratic_linear_attention(q, k, v, kind, causal=causal), rtol=0, atol=1e-10)


@pytest.mark.parametrize("causal", [False, True])
def test_elu_and_cos_are_the_posts_similarities(causal):
    q, k, v = (t.detach() for t in _qkv())
    # sim = (elu(q)+1)ᵀ(elu(k)+1)
    sim = torch.einsum("bhid,bhjd->bhij", F.elu(q) + 1, F.elu(k) + 1)
    torch.testing.assert_close(linear_attention(q, k, v, "elu", causal, chunk=4), _general(sim, v, causal))
    # sim = 1 + cos(q_i, k_j)
    sim = 1 + F.cosine_similarity(q.unsqueeze(-2), k.unsqueeze(-3), dim=-1)
    torch.testing.assert_close(linear_attention(q, k, v, "cos", causal, chunk=4), _general(sim, v, causal))


def test_efficient_is_shen_et_al_and_its_causal_form_normalises_over_the_prefix():
    q, k, v = (t.detach() for t in _qkv())
    # non-causal: softmax₂(Q) softmax₁(K)ᵀ V, no normaliser needed
    shen = torch.softmax(q, -1) @ (torch.softmax(k, dim=-2).transpose(-1, -2) @ v)
    torch.testing.assert_close(linear_attention(q, k, v, "efficient", chunk=4), shen)
    # causal: out_i = softmax(q_i) softmax_{j≤i}(K_{≤i})ᵀ V_{≤i}, query by query
    rows = [torch.softmax(q[..., i:i + 1, :], -1)
            @ (torch.softmax(k[..., :i + 1, :], dim=-2).transpose(-1, -2) @ v[..., :i + 1, :])
            for i in range(q.shape[-2])]
    torch.testing.assert_close(linear_attention(q, k, v, "efficient", causal=True, chunk=4), torch.cat(rows, -2))


@pytest.mark.parametrize("kind", KINDS)
def test_causal_output_has_zero_gradient_to_the_future(kind):
    q, k, v = _qkv(b=1, h=1, n=13)
    out = linear_attention(q, k, v, kind, causal=True, chunk=4)
    for t in (0, 5, 12):
        grads = torch.autograd.grad(out[0, 0, t].sum(), (q, k, v), retain_graph=True)
        for g in grads:
            assert torch.all(g[0, 0, t + 1:] == 0), f"{kind}: out[{t}] depends on a later position"
        # out_t reads q_t and every k_j, v_j with j ≤ t
        grad_q, grad_k, grad_v = (g[0, 0].abs().sum(-1) for g in grads)
        assert torch.all(grad_q[:t] == 0)
        if t > 0:  # with one key, out_0 = v_0 whatever q_0 and k_0 are
            assert grad_q[t] > 0 and torch.all(grad_k[:t + 1] > 0)
        assert torch.all(grad_v[:t + 1] > 0)


@pytest.mark.parametrize("kind,causal", CASES)
def test_key_mask_drops_padding(kind, causal):
    q, k, v = (t.detach() for t in _qkv(b=2, n=20))
    key_mask = torch.arange(20)[None, :] < torch.tensor([[20], [13]])
    out = linear_attention(q, k, v, kind, causal, chunk=6, key_mask=key_mask)
    torch.testing.assert_close(out, quadratic_linear_attention(q, k, v, kind, causal, key_mask=key_mask))
    # the short sequence reads as if its padding were not there
    proj = performer_projection(6, 24)
    short = linear_attention(q[1:, :, :13], k[1:, :, :13], v[1:, :, :13], kind, causal, projection=proj)
    out = linear_attention(q, k, v, kind, causal, key_mask=key_mask, projection=proj)
    torch.testing.assert_close(out[1:, :, :13], short)


def test_performer_features_estimate_exp_qk():
    d, m = 4, 40_000
    omega = performer_projection(d, m, seed=3, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    q, k = 0.5 * torch.randn(2, 6, d, generator=g, dtype=torch.float64)
    estimate = performer_features(q, omega) @ performer_features(k, omega).T
    exact = torch.exp(q @ k.T)
    assert ((estimate / exact - 1).abs() < 0.05).all()
    # a different draw gives a different but equally close estimate
    other = performer_projection(d, m, seed=4, dtype=torch.float64)
    assert not torch.allclose(performer_features(q, other), performer_features(q, omega))


def test_performer_projection_is_orthogonal_gaussian():
    omega = performer_projection(8, 8 * 500, seed=1, dtype=torch.float64)
    block = omega[:, :8]
    gram = block.T @ block
    torch.testing.assert_close(gram - torch.diag(torch.diagonal(gram)), torch.zeros(8, 8, dtype=torch.float64))
    # columns ~ N(0, I): E[ωωᵀ] = I
    torch.testing.assert_close(omega @ omega.T / omega.shape[1], torch.eye(8, dtype=torch.float64),
                               rtol=0, atol=0.1)
    torch.testing.assert_close(performer_projection(8, 20, seed=5), performer_projection(8, 20, seed=5))


@pytest.mark.parametrize("kind,causal", CASES)
def test_module_is_the_formula_on_its_projections(kind, causal):
    torch.manual_seed(0)
    layer = LinearAttention(12, 3, kind=kind, causal=causal).double()
    x = torch.randn(2, 11, 12, dtype=torch.float64)
    lengths = torch.tensor([11, 8])
    q, k = (p(x).view(2, 11, 3, layer.qk_size).transpose(1, 2) for p in (layer.q, layer.k))
    v = layer.v(x).view(2, 11, 3, 4).transpose(1, 2)
    if kind == "performer":
        assert layer.key_size == 16 and layer.projection.shape == (4, 16)
        assert "projection" in layer.state_dict()
        q, k = q / 4 ** 0.25, k / 4 ** 0.25
    key_mask = torch.arange(11)[None, :] < lengths[:, None]
    ref = quadratic_linear_attention(q, k, v, kind, causal, key_mask=key_mask, projection=layer.projection)
    expected = layer.o(ref.transpose(1, 2).reshape(2, 11, 12))
    torch.testing.assert_close(layer(x, mask=padding_mask(lengths, 11)), expected)


def test_module_rejects_masks_other_than_key_padding():
    layer = LinearAttention(8, 2)
    x = torch.randn(2, 5, 8)
    with pytest.raises(ValueError, match="causal=True"):
        layer(x, mask=causal_mask(5))
    with pytest.raises(ValueError, match=r"\[b, 1, 1, n\]"):
        layer(x, mask=padding_mask(torch.tensor([5, 3]), 5).float())
    with pytest.raises(ValueError, match="kind 'relu'"):
        LinearAttention(8, 2, kind="relu")


def test_key_size_sets_the_feature_size():
    assert LinearAttention(16, 2, kind="elu", key_size=32).q.out_features == 64
    performer = LinearAttention(16, 2, kind="performer", key_size=40)
    assert performer.q.out_features == 16 and performer.projection.shape == (8, 40)
    assert math.isclose(LinearAttention(16, 2, kind="performer").key_size, 32)


@pytest.mark.parametrize("kind,causal", CASES)
def test_extreme_keys_and_all_masked_keys_stay_finite(kind, causal):
    q, k, v = (t.detach().float() for t in _qkv(b=2, n=12))
    k[:, :, -1] += 200.0  # a late key far above the rest: early keys underflow against it
    key_mask = torch.tensor([[True] * 12, [False] * 12])
    q, k, v = (t.requires_grad_() for t in (q, k, v))
    out = linear_attention(q, k, v, kind, causal, chunk=5, key_mask=key_mask)
    assert torch.isfinite(out).all() and torch.all(out[1] == 0)
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
