"""Multi-head attention on SDPA and the masks of kexue.fm/archives/9529."""
import math

import pytest
import torch

from kexue.nn.attention import (Dropout, MultiHeadAttention, attention, backward_mask, bidirectional_mask,
                                causal_mask, combine, drop, mixed_mask, naive_attention, padding_mask, prefix_mask)

B, N, HEADS, HIDDEN = 2, 7, 4, 16


def _reference(q, k, v, mask):
    """softmax(QKᵀ/√d + M)V written out, rows with no visible key set to 0."""
    scores = torch.einsum("bhid,bhjd->bhij", q, k) / math.sqrt(q.shape[-1])
    mask = torch.broadcast_to(mask, scores.shape)
    scores = torch.where(mask, scores, torch.full_like(scores, -1e30))
    weights = torch.exp(scores - scores.amax(-1, keepdim=True)) * mask
    total = weights.sum(-1, keepdim=True)
    return torch.einsum("bhij,bhjd->bhid", weights / torch.where(total > 0, total, 1), v)


MASKS = {
    "bidirectional": lambda: bidirectional_mask(N),
    "causal": lambda: causal_mask(N),
    "backward": lambda: backward_mask(N),
    "prefix_int": lambda: prefix_mask(N, 3),
    "prefix_batch": lambda: prefix_mask(N, torch.tensor([0, 5])),
    "mixed": lambda: mixed_mask(N, [True, False, False, True]),
    "padding": lambda: padding_mask(torch.tensor([7, 4]), N),
    "causal_padding": lambda: combine(causal_mask(N), padding_mask(torch.tensor([3, 6]), N)),
    # rows t ≥ length see nothing at all: backward needs j ≥ t, padding j < length
    "fully_masked_rows": lambda: combine(backward_mask(N), padding_mask(torch.tensor([5, 2]), N)),
}


def test_mask_builders_by_hand():
    T, F_ = True, False
    assert torch.equal(causal_mask(3), torch.tensor([[T, F_, F_], [T, T, F_], [T, T, T]]))
    assert torch.equal(backward_mask(3), torch.tensor([[T, T, T], [F_, T, T], [F_, F_, T]]))
    assert torch.equal(prefix_mask(4, 2), torch.tensor(
        [[T, T, F_, F_], [T, T, F_, F_], [T, T, T, F_], [T, T, T, T]]))
    assert torch.equal(prefix_mask(4, 0), causal_mask(4))
    assert torch.equal(prefix_mask(4, 4), bidirectional_mask(4))
    batch = prefix_mask(4, torch.tensor([2, 0]))
    assert batch.shape == (2, 1, 4, 4)
    assert torch.equal(batch[0, 0], prefix_mask(4, 2)) and torch.equal(batch[1, 0], causal_mask(4))
    mixed = mixed_mask(3, [True, False])
    assert torch.equal(mixed[0], causal_mask(3)) and torch.equal(mixed[1], backward_mask(3))
    pad = padding_mask(torch.tensor([1, 3]), 3)
    assert pad.shape == (2, 1, 1, 3)
    assert pad[:, 0, 0].tolist() == [[T, F_, F_], [T, T, T]]
    assert combine(None, None) is None
    assert torch.equal(combine(causal_mask(3), None, backward_mask(3)), torch.eye(3, dtype=torch.bool))


@pytest.mark.parametrize("name", sorted(MASKS))
def test_sdpa_equals_materialised_softmax(name):
    torch.manual_seed(0)
    mask = MASKS[name]()
    q, k, v = (torch.randn(B, HEADS, N, 8) for _ in range(3))
    expected = _reference(q, k, v, mask)
    torch.testing.assert_close(attention(q, k, v, mask), expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(naive_attention(q, k, v, mask), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("rope", [False, True])
@pytest.mark.parametrize("name", sorted(MASKS))
def test_output_sees_exactly_the_positions_its_mask_allows(name, rope):
    torch.manual_seed(1)
    mask = MASKS[name]()
    mha = MultiHeadAttention(HIDDEN, HEADS, rope=rope).double()
    x = torch.randn(B, N, HIDDEN, dtype=torch.float64, requires_grad=True)
    out = mha(x, mask=mask)
    # position t of sequence b may read key j if any head's mask allows it
    visible = torch.broadcast_to(mask, (B, HEADS, N, N)).any(dim=1)
    for b in range(B):
        for t in range(N):
            (grad,) = torch.autograd.grad(out[b, t] @ torch.randn(HIDDEN, dtype=torch.float64), x,
                                          retain_graph=True)
            moved = grad.abs().sum(dim=-1)
            assert torch.all(moved[1 - b] == 0), "gradient leaked across the batch"
            sees = visible[b, t]
            for j in range(N):
                if sees[j]:
                    assert moved[b, j] > 0, f"{name}: out[{b},{t}] does not depend on visible x[{j}]"
                elif j == t and sees.any():
                    continue  # x_t still enters out_t as the query
                else:
                    assert moved[b, j] == 0, f"{name}: out[{b},{t}] depends on masked x[{j}]"


def test_fully_masked_rows_are_zero_and_nan_free():
    mask = MASKS["fully_masked_rows"]()
    q, k, v = (torch.randn(B, HEADS, N, 8, requires_grad=True) for _ in range(3))
    out = attention(q, k, v, mask)
    dead = ~torch.broadcast_to(mask, (B, HEADS, N, N)).any(-1)
    assert dead.any() and torch.all(out[dead] == 0)
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


@pytest.mark.parametrize("name", ["causal", "prefix_batch", "padding"])
def test_module_equals_the_formula_on_its_own_weights(name):
    torch.manual_seed(2)
    mask = MASKS[name]()
    mha = MultiHeadAttention(HIDDEN, HEADS, head_size=6)
    x = torch.randn(B, N, HIDDEN)
    q, k, v = (p(x).view(B, N, HEADS, 6).transpose(1, 2) for p in (mha.q, mha.k, mha.v))
    expected = mha.o(_reference(q, k, v, mask).transpose(1, 2).reshape(B, N, HEADS * 6))
    torch.testing.assert_close(mha(x, mask=mask), expected, rtol=0, atol=1e-5)


def test_rope_scores_depend_only_on_relative_offset():
    torch.manual_seed(3)
    mha = MultiHeadAttention(HIDDEN, HEADS, rope=True).double()
    token = torch.randn(HIDDEN, dtype=torch.float64)
    x = token.expand(1, 12, HIDDEN)  # the same token everywhere: only positions differ
    q, k = (p(x).view(1, 12, HEADS, 4).transpose(1, 2) for p in (mha.q, mha.k))
    for offset in (0, 5):
        scores = mha.rope(q, offset) @ mha.rope(k, offset).transpose(-1, -2)
        for i in range(12):
            for j in range(12):
                # s(i, j) = s(0, j − i) on the Toeplitz diagonals
                ref = scores[..., 0, j - i] if j >= i else scores[..., i - j, 0]
                torch.testing.assert_close(scores[..., i, j], ref)
        assert not torch.allclose(scores[..., 0, 1], scores[..., 0, 2])
    # so the whole layer ignores a global shift of positions
    y = torch.randn(2, 9, HIDDEN, dtype=torch.float64)
    torch.testing.assert_close(mha(y, causal_mask(9), offset=0), mha(y, causal_mask(9), offset=37))


def test_dropout_only_in_training_and_bad_mask_dtype():
    mha = MultiHeadAttention(HIDDEN, HEADS, dropout=0.5).eval()
    x = torch.randn(B, N, HIDDEN)
    torch.testing.assert_close(mha(x), mha(x))
    mha.train()
    assert not torch.allclose(mha(x), mha(x))
    with pytest.raises(TypeError, match="bool"):
        mha(x, mask=causal_mask(N).float())
    with pytest.raises(ValueError, match="head_size"):
        MultiHeadAttention(10, 4)


def test_drop_is_inverted_bernoulli_dropout():
    torch.manual_seed(4)
    p, x = 0.1, torch.ones(400_000)
    y = drop(x, p)
    kept = y != 0
    # m_i ~ Bernoulli(1 − p): kept fraction within 4σ, kept values exactly 1 / (1 − p), so E[y] = x
    assert abs(kept.float().mean().item() - (1 - p)) < 4 * math.sqrt(p * (1 - p) / x.numel())
    assert torch.all(y[kept] == torch.tensor(1 / (1 - p)))
    assert drop(x, p, training=False) is x and drop(x, 0.0) is x
    assert torch.all(drop(x, 1.0) == 0)
    half = drop(x.to(torch.bfloat16), p)  # half precision goes through F.dropout
    assert half.dtype == torch.bfloat16 and 0.85 < (half != 0).float().mean().item() < 0.95
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        drop(x, 1.5)
    # the module form follows train/eval
    layer = Dropout(0.5)
    assert not torch.equal(layer(x), x)
    assert layer.eval()(x) is x


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
@pytest.mark.parametrize("name", ["none", "causal", "padding", "prefix_batch", "fully_masked_rows"])
def test_dropout_on_the_cpu_is_the_formula_with_its_keep_mask(name, dtype, tol):
    # Drop(softmax(QKᵀ/√d + M)) V with m_ij = [u_ij ≥ p], u drawn once of shape [b, h, n, n]
    p = 0.3
    mask = None if name == "none" else MASKS[name]()
    torch.manual_seed(5)
    q, k, v = (torch.randn(B, HEADS, N, 8, dtype=dtype, requires_grad=True) for _ in range(3))
    g = torch.randn(B, HEADS, N, 8, dtype=dtype)
    torch.manual_seed(6)
    out = attention(q, k, v, mask, dropout=p)
    grads = torch.autograd.grad((out * g).sum(), (q, k, v))
    torch.manual_seed(6)
    keep = torch.empty(B, HEADS, N, N, dtype=dtype).uniform_() >= p
    full = torch.ones(N, N, dtype=torch.bool) if mask is None else torch.broadcast_to(mask, (B, HEADS, N, N))
    seen = full.any(-1, keepdim=True)
    scores = (q @ k.transpose(-1, -2) / math.sqrt(8)).masked_fill(~(full | ~seen), float("-inf"))
    expected = ((torch.softmax(scores, -1) * keep / (1 - p)) @ v).masked_fill(~seen, 0.0)
    expected_grads = torch.autograd.grad((expected * g).sum(), (q, k, v))
    torch.testing.assert_close(out, expected, rtol=0, atol=tol)
    for got, want in zip(grads, expected_grads):
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got, want, rtol=0, atol=tol)
    # and with p → 0 it is attention without dropout
    torch.testing.assert_close(attention(q, k, v, mask, dropout=1e-12), attention(q, k, v, mask), rtol=0, atol=tol * 10)
