"""Tests for kexue/nn/losses.py: the math of posts 7359, 8888 and 9064, and parity with bert4torch."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kexue.nn.losses import (
    MultilabelCategoricalCrossentropy,
    global_pointer_crossentropy,
    multilabel_categorical_crossentropy,
    soft_multilabel_categorical_crossentropy,
    sparse_multilabel_categorical_crossentropy,
)

INF = float("inf")
FAST = settings(max_examples=60, deadline=None)


def naive_loss(s: list[float], pos: list[bool]) -> float:
    """log(1 + Σ_{i∈Ω_neg} e^{s_i}) + log(1 + Σ_{j∈Ω_pos} e^{−s_j}), term by term in Python floats."""
    neg_sum = sum(math.exp(x) for x, p in zip(s, pos) if not p)
    pos_sum = sum(math.exp(-x) for x, p in zip(s, pos) if p)
    return math.log(1 + neg_sum) + math.log(1 + pos_sum)


def pad_indices(rows: list[list[int]], extra: int = 0) -> torch.Tensor:
    """Positive index lists → a [rows, P] long tensor padded with 0."""
    width = max([len(r) for r in rows] + [0]) + extra
    return torch.tensor([r + [0] * (width - len(r)) for r in rows], dtype=torch.long).reshape(len(rows), width)


@st.composite
def sparse_cases(draw):
    """Logits [B, C] with class 0 as padding, positive sets over 1..C−1, some negatives masked to −inf.

    Row 0 has no positive; row 1 (when B ≥ 2) has every class 1..C−1 positive.
    """
    B, C = draw(st.integers(1, 5)), draw(st.integers(2, 12))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    # ≤ 4: the identity a + log(1 − e^{b−a}) loses ≈ ε·Σ_P/(1 + Σ_N) to cancellation (see the module)
    scale = draw(st.sampled_from([0.1, 1.0, 4.0]))
    s = torch.randn(B, C, generator=g, dtype=torch.float64) * scale
    is_pos = torch.rand(B, C, generator=g) < draw(st.floats(0.0, 1.0))
    is_pos[:, 0] = False
    is_pos[0] = False
    if B >= 2:
        is_pos[1, 1:] = True
    masked = (torch.rand(B, C, generator=g) < draw(st.sampled_from([0.0, 0.3, 1.0]))) & ~is_pos
    masked[:, 0] = False
    s = s.masked_fill(masked, -INF)
    rows = []
    for b in range(B):
        r = torch.nonzero(is_pos[b]).flatten().tolist()
        r += r[: draw(st.integers(0, 2))]  # repeated indices count once
        rows.append([r[i] for i in torch.randperm(len(r), generator=g).tolist()])
    return s, is_pos, pad_indices(rows, extra=draw(st.integers(0, 2)))


# ---------------------------------------------------------------------------------------------- dense (7359)


@FAST
@given(st.lists(st.tuples(st.floats(-30, 30), st.booleans()), min_size=1, max_size=12))
def test_dense_equals_the_formula_term_by_term(cells):
    s = torch.tensor([x for x, _ in cells], dtype=torch.float64)
    pos = [p for _, p in cells]
    got = multilabel_categorical_crossentropy(s, torch.tensor(pos), reduction="none").item()
    assert got == pytest.approx(naive_loss(s.tolist(), pos), rel=1e-12, abs=1e-12)


@FAST
@given(st.lists(st.tuples(st.floats(-5, 5), st.booleans()), min_size=1, max_size=8))
def test_dense_equals_the_posts_pairwise_form_with_s0_zero(cells):
    # log(1 + Σ_{i∈neg, j∈pos} e^{s_i−s_j} + Σ_{i∈neg} e^{s_i−s_0} + Σ_{j∈pos} e^{s_0−s_j}), s_0 = 0
    neg = [x for x, p in cells if not p]
    pos = [x for x, p in cells if p]
    pairwise = math.log(
        1 + sum(math.exp(i - j) for i in neg for j in pos) + sum(map(math.exp, neg)) + sum(math.exp(-j) for j in pos)
    )
    s = torch.tensor([x for x, _ in cells], dtype=torch.float64)
    got = multilabel_categorical_crossentropy(s, torch.tensor([p for _, p in cells]), reduction="none").item()
    assert got == pytest.approx(pairwise, rel=1e-12)


def test_dense_masked_cells_drop_out_and_all_masked_rows_are_zero():
    s = torch.tensor([[0.5, -INF, 2.0, -INF], [-INF] * 4], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[1, 0, 0, 0], [0, 0, 0, 0]])
    loss = multilabel_categorical_crossentropy(s, y, reduction="none")
    loss.sum().backward()
    assert loss[0].item() == pytest.approx(naive_loss([0.5, 2.0], [True, False]))
    assert loss[1].item() == 0.0
    assert torch.isfinite(s.grad).all() and (s.grad[:, [1, 3]] == 0).all() and (s.grad[1] == 0).all()


def test_a_positive_on_a_masked_cell_is_infinite_loss_in_every_form():
    s = torch.tensor([[-INF, 1.0, -2.0]])
    assert multilabel_categorical_crossentropy(s, torch.tensor([[1, 0, 0]])).item() == INF
    assert sparse_multilabel_categorical_crossentropy(s, torch.tensor([[0]])).item() == INF
    assert soft_multilabel_categorical_crossentropy(s, torch.tensor([[0.5, 0.0, 0.0]])).item() == INF


def test_reductions():
    s = torch.randn(3, 4, 5)
    y = torch.rand(3, 4, 5) < 0.3
    rows = multilabel_categorical_crossentropy(s, y, reduction="none")
    assert rows.shape == (3, 4)
    assert multilabel_categorical_crossentropy(s, y).item() == pytest.approx(rows.mean().item())
    assert multilabel_categorical_crossentropy(s, y, reduction="sum").item() == pytest.approx(rows.sum().item())


# --------------------------------------------------------------------------------------------- sparse (8888)


@FAST
@given(sparse_cases())
def test_sparse_equals_dense_with_padding_masks_and_duplicates(case):
    s, is_pos, idx = case
    s_sparse = s.clone().requires_grad_()
    s_dense = s.clone().requires_grad_()
    sparse = sparse_multilabel_categorical_crossentropy(s_sparse, idx, mask_zero=True, reduction="none")
    # mask_zero leaves class 0 out of both sets: the dense equivalent has s_0 = −inf
    dense_logits = torch.cat([torch.full_like(s_dense[:, :1], -INF), s_dense[:, 1:]], dim=-1)
    dense = multilabel_categorical_crossentropy(dense_logits, is_pos, reduction="none")
    torch.testing.assert_close(sparse, dense, rtol=1e-7, atol=1e-7)
    sparse.sum().backward()
    dense.sum().backward()
    assert torch.isfinite(sparse).all() and torch.isfinite(s_sparse.grad).all()
    torch.testing.assert_close(s_sparse.grad, s_dense.grad, rtol=1e-7, atol=1e-7)


@FAST
@given(st.integers(1, 10), st.integers(0, 2**31 - 1))
def test_sparse_without_mask_zero_equals_dense_on_the_index_set(C, seed):
    g = torch.Generator().manual_seed(seed)
    s = (torch.randn(4, C, generator=g, dtype=torch.float64) * 3).requires_grad_()
    idx = torch.randint(0, C, (4, 5), generator=g)  # with repeats: P is the set of these
    is_pos = torch.zeros(4, C, dtype=torch.bool).scatter(-1, idx, True)
    sparse = sparse_multilabel_categorical_crossentropy(s, idx, reduction="none")
    (grad_sparse,) = torch.autograd.grad(sparse.sum(), s)
    dense = multilabel_categorical_crossentropy(s, is_pos, reduction="none")
    (grad_dense,) = torch.autograd.grad(dense.sum(), s)
    torch.testing.assert_close(sparse, dense, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(grad_sparse, grad_dense, rtol=1e-8, atol=1e-9)


def test_sparse_edge_rows_have_finite_loss_and_gradients_in_float32():
    C = 6
    s = torch.randn(4, C).requires_grad_()
    with torch.no_grad():
        s[3] = -INF  # a fully masked row with no positives
    idx = torch.tensor([[0, 0, 0, 0, 0], [1, 2, 3, 4, 5], [5, 0, 2, 0, 0], [0, 0, 0, 0, 0]])
    loss = sparse_multilabel_categorical_crossentropy(s, idx, mask_zero=True, reduction="none")
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(s.grad).all()
    assert loss[3].item() == 0.0 and (s.grad[:, 0] == 0).all() and (s.grad[3] == 0).all()
    dense_pos = torch.zeros(4, C, dtype=torch.bool)
    dense_pos[1, 1:] = True
    dense_pos[2, [2, 5]] = True
    dense = multilabel_categorical_crossentropy(s.detach()[:, 1:], dense_pos[:, 1:], reduction="none")
    torch.testing.assert_close(loss.detach(), dense, rtol=1e-5, atol=1e-5)


def test_sparse_clip_is_the_posts_in_float32_and_machine_epsilon_in_float64():
    # one positive 40 above every negative: 1 − e^{b−a} = (1 + Σ_N)/(1 + Σ_A) ≈ e^{−20} is below 1e-7
    s = torch.full((1, 6), -20.0, dtype=torch.float64)
    s[0, 1] = 20.0
    is_pos = torch.arange(6) == 1
    exact = naive_loss(s[0].tolist(), is_pos.tolist())
    got64 = sparse_multilabel_categorical_crossentropy(s, torch.tensor([[1]]))
    assert got64.item() == pytest.approx(exact, abs=1e-7)
    # float32 reads a + log 1e-7 there, as bert4keras does (the post's behaviour, documented in the module)
    a = torch.logsumexp(torch.cat([s[0], torch.zeros(1, dtype=torch.float64)]), 0).item()
    got32 = sparse_multilabel_categorical_crossentropy(s.float(), torch.tensor([[1]]))
    assert got32.item() == pytest.approx(a + math.log(1e-7) + math.log1p(math.exp(-20)), abs=1e-4)


def test_sparse_never_goes_negative_where_the_unguarded_identity_does():
    # s = 0 on class 0 and −5 elsewhere, class 0 repeated: counted thrice, 1 − e^{b−a} < 0 (bert4keras #436)
    s = torch.tensor([[0.0, -5.0, -5.0, -5.0]])
    idx = torch.tensor([[0, 0, 0]])
    got = sparse_multilabel_categorical_crossentropy(s, idx, reduction="none")
    assert got.item() == pytest.approx(naive_loss(s[0].tolist(), [True, False, False, False]), rel=1e-6)


def test_sparse_empty_index_axis_means_no_positives():
    s = torch.randn(2, 5, dtype=torch.float64)
    idx = torch.zeros(2, 0, dtype=torch.long)
    got = sparse_multilabel_categorical_crossentropy(s, idx, reduction="none")
    torch.testing.assert_close(got, multilabel_categorical_crossentropy(s, torch.zeros(2, 5), reduction="none"))


# ------------------------------------------------------------------------------------------------ soft (9064)


@FAST
@given(st.lists(st.tuples(st.floats(-20, 20), st.floats(0, 1)), min_size=1, max_size=10))
def test_soft_equals_the_formula_term_by_term(cells):
    # log(1 + Σ t_i e^{−s_i}) + log(1 + Σ (1−t_i) e^{s_i}), including t_i below the post's clip ε
    expected = math.log(1 + sum(t * math.exp(-x) for x, t in cells)) + math.log(
        1 + sum((1 - t) * math.exp(x) for x, t in cells)
    )
    s = torch.tensor([x for x, _ in cells], dtype=torch.float64)
    t = torch.tensor([t for _, t in cells], dtype=torch.float64)
    got = soft_multilabel_categorical_crossentropy(s, t, reduction="none").item()
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


@FAST
@given(sparse_cases())
def test_soft_with_hard_labels_equals_dense(case):
    s, is_pos, _ = case
    s = s.clone().requires_grad_()
    soft = soft_multilabel_categorical_crossentropy(s, is_pos.double(), reduction="none")
    (grad_soft,) = torch.autograd.grad(soft.sum(), s)
    dense = multilabel_categorical_crossentropy(s, is_pos, reduction="none")
    (grad_dense,) = torch.autograd.grad(dense.sum(), s)
    torch.testing.assert_close(soft, dense, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_soft, grad_dense, rtol=1e-12, atol=1e-12)
    assert torch.isfinite(grad_soft).all()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.01, 0.99), min_size=1, max_size=8))
def test_soft_minimum_is_at_t_equals_sigmoid_2s(ts):
    t = torch.tensor(ts, dtype=torch.float64)
    # the closed form: s* = ½ log(t / (1 − t)), i.e. t = σ(2 s*), makes every ∂l/∂s_i vanish
    s_star = (0.5 * torch.logit(t)).requires_grad_()
    (grad,) = torch.autograd.grad(soft_multilabel_categorical_crossentropy(s_star, t), s_star)
    assert grad.abs().max().item() < 1e-12
    # and minimising over s by autograd (the loss is convex in s) lands there
    s = torch.zeros_like(t, requires_grad=True)
    opt = torch.optim.LBFGS([s], lr=1, max_iter=200, tolerance_grad=1e-13, tolerance_change=0,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = soft_multilabel_categorical_crossentropy(s, t)
        loss.backward()
        return loss

    opt.step(closure)
    torch.testing.assert_close(torch.sigmoid(2 * s.detach()), t, rtol=0, atol=1e-6)


@FAST
@given(st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_soft_gradient_equals_the_posts_closed_form(C, seed):
    g = torch.Generator().manual_seed(seed)
    s = (torch.randn(C, generator=g, dtype=torch.float64) * 3).requires_grad_()
    t = torch.rand(C, generator=g, dtype=torch.float64)
    (grad,) = torch.autograd.grad(soft_multilabel_categorical_crossentropy(s, t), s)
    e_neg, e_pos = t * torch.exp(-s.detach()), (1 - t) * torch.exp(s.detach())
    # ∂l/∂s_i = −t_i e^{−s_i} / (1 + Σ t e^{−s}) + (1 − t_i) e^{s_i} / (1 + Σ (1 − t) e^{s})
    expected = -e_neg / (1 + e_neg.sum()) + e_pos / (1 + e_pos.sum())
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------- all forms, any scale


@FAST
@given(st.integers(1, 12), st.sampled_from([1e-3, 1.0, 10.0, 100.0, 1e4]), st.integers(0, 2**31 - 1))
def test_loss_is_nonnegative_and_finite_at_every_scale(C, scale, seed):
    g = torch.Generator().manual_seed(seed)
    s = (torch.randn(3, C, generator=g) * scale).requires_grad_()
    is_pos = torch.rand(3, C, generator=g) < 0.3
    idx = torch.randint(0, C, (3, 4), generator=g)
    t = torch.rand(3, C, generator=g)
    losses = [
        multilabel_categorical_crossentropy(s, is_pos, reduction="none"),
        sparse_multilabel_categorical_crossentropy(s, idx, reduction="none"),
        sparse_multilabel_categorical_crossentropy(s, idx, mask_zero=True, reduction="none"),
        soft_multilabel_categorical_crossentropy(s, t, reduction="none"),
    ]
    for loss in losses:
        (grad,) = torch.autograd.grad(loss.sum(), s)
        assert (loss >= 0).all() and torch.isfinite(loss).all() and torch.isfinite(grad).all()


def test_large_logits_follow_the_max_approximation():
    # logsumexp ≈ max: with |s| ~ 1e4, L ≈ max(0, max_neg s) + max(0, max_pos −s), within 2 log(C + 1)
    g = torch.Generator().manual_seed(0)
    s = torch.randn(64, 16, generator=g) * 1e4
    is_pos = torch.rand(64, 16, generator=g) < 0.3
    loss = multilabel_categorical_crossentropy(s, is_pos, reduction="none")
    hinge = s.masked_fill(is_pos, -INF).amax(-1).clamp(min=0) + (-s).masked_fill(~is_pos, -INF).amax(-1).clamp(min=0)
    assert ((loss - hinge) >= -1e-2).all() and ((loss - hinge) <= 2 * math.log(17) + 1e-2).all()


def test_half_precision_logits_are_computed_in_float32():
    s = torch.randn(4, 8).bfloat16()
    y = torch.rand(4, 8) < 0.4
    got = multilabel_categorical_crossentropy(s, y)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(multilabel_categorical_crossentropy(s.float(), y).item())


# ------------------------------------------------------------------------------------------ GlobalPointer


def test_global_pointer_sparse_equals_dense_and_sums_heads_averages_batch():
    g = torch.Generator().manual_seed(1)
    b, heads, n = 3, 2, 5
    tril = torch.ones(n, n, dtype=torch.bool).tril(-1)
    logits = (torch.randn(b, heads, n, n, generator=g, dtype=torch.float64) * 3).masked_fill(tril, -INF)
    pairs = [[[(1, 2), (3, 3), (0, 4)], []], [[(2, 4)], [(1, 1), (1, 3)]], [[], []]]
    P = 3
    labels = torch.zeros(b, heads, P, 2, dtype=torch.long)
    dense = torch.zeros(b, heads, n, n)
    for i, row in enumerate(pairs):
        for h, cells in enumerate(row):
            for p, (start, end) in enumerate(cells):
                labels[i, h, p] = torch.tensor([start, end])
                dense[i, h, start, end] = 1
    logits_sparse = logits.clone().requires_grad_()
    logits_dense = logits.clone().requires_grad_()
    sparse_loss = global_pointer_crossentropy(logits_sparse, labels, sparse=True)
    # GPLinker's sparse loss leaves cell (0, 0) out; the dense one counts it unless it is masked
    masked = logits_dense.clone()
    masked[..., 0, 0] = -INF
    dense_loss = global_pointer_crossentropy(masked, dense, sparse=False)
    torch.testing.assert_close(sparse_loss, dense_loss, rtol=1e-10, atol=1e-10)
    sparse_loss.backward()
    dense_loss.backward()
    torch.testing.assert_close(logits_sparse.grad, logits_dense.grad, rtol=1e-9, atol=1e-10)
    # Σ over heads, mean over batch, of the per-(b, head) formula
    per_cell = [
        [naive_loss(masked[i, h].flatten().tolist(), dense[i, h].flatten().bool().tolist()) for h in range(heads)]
        for i in range(b)
    ]
    assert dense_loss.item() == pytest.approx(sum(map(sum, per_cell)) / b, rel=1e-12)


# ------------------------------------------------------------------------------------------------- module


def test_module_matches_the_functions():
    s = torch.randn(3, 7)
    y = torch.rand(3, 7) < 0.5
    idx = torch.tensor([[1, 2, 0], [3, 0, 0], [0, 0, 0]])
    assert MultilabelCategoricalCrossentropy()(s, y).item() == multilabel_categorical_crossentropy(s, y).item()
    got = MultilabelCategoricalCrossentropy(sparse=True, mask_zero=True, reduction="none")(s, idx)
    torch.testing.assert_close(got, sparse_multilabel_categorical_crossentropy(s, idx, True, reduction="none"))


# ------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: multilabel_categorical_crossentropy(torch.zeros(2, 3), torch.zeros(2, 4)), "y_true has shape"),
        (lambda: multilabel_categorical_crossentropy(torch.zeros(2, 3), torch.full((2, 3), 0.5)), "soft_multilabel"),
        (lambda: multilabel_categorical_crossentropy(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3)),
         "y_pred has dtype"),
        (lambda: multilabel_categorical_crossentropy(torch.zeros(2, 3), torch.zeros(2, 3), reduction="avg"),
         "reduction is 'avg'"),
        (lambda: sparse_multilabel_categorical_crossentropy(torch.zeros(2, 3), torch.zeros(3, 1, dtype=torch.long)),
         "y_true_idx has shape"),
        (lambda: sparse_multilabel_categorical_crossentropy(torch.zeros(2, 3), torch.full((2, 1), 3)),
         "class index 3, outside"),
        (lambda: sparse_multilabel_categorical_crossentropy(torch.zeros(2, 3), torch.zeros(2, 1)),
         "y_true_idx has dtype"),
        (lambda: soft_multilabel_categorical_crossentropy(torch.zeros(2, 3), torch.full((2, 3), 1.5)), "[0, 1]"),
        (lambda: global_pointer_crossentropy(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 4, dtype=torch.long)),
         "[b, heads, P, 2]"),
        (lambda: global_pointer_crossentropy(torch.zeros(2, 1, 4, 4), torch.full((2, 1, 1, 2), 4)),
         "outside [0, 4)"),
        (lambda: global_pointer_crossentropy(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 3, 3), sparse=False),
         "labels has shape"),
        (lambda: MultilabelCategoricalCrossentropy(mask_zero=True), "sparse=True"),
    ],
)
def test_errors_name_the_tensor_and_the_fix(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


# ------------------------------------------------------------------------------------- parity: bert4torch


def test_parity_with_bert4torch_dense():
    import bert4torch.losses as b4t
    g = torch.Generator().manual_seed(2)
    s = (torch.randn(4, 5, 9, generator=g) * 3).requires_grad_()
    y = (torch.rand(4, 5, 9, generator=g) < 0.3).float()
    theirs = b4t.MultilabelCategoricalCrossentropy()(s, y)  # bert4torch averages every row: reduction="mean"
    (grad_theirs,) = torch.autograd.grad(theirs, s)
    ours = multilabel_categorical_crossentropy(s, y, reduction="mean")
    (grad_ours,) = torch.autograd.grad(ours, s)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
    torch.testing.assert_close(grad_ours, grad_theirs, rtol=0, atol=1e-5)


@pytest.mark.parametrize("mask_zero", [False, True])
def test_parity_with_bert4torch_sparse(mask_zero):
    import bert4torch.losses as b4t
    g = torch.Generator().manual_seed(3)
    B, C, P = 16, 20, 4
    s = (torch.randn(B, C, generator=g) * 3).requires_grad_()
    # distinct indices (bert4torch counts a repeated index twice); with mask_zero, 0 pads and row 0 is empty
    low = 1 if mask_zero else 0
    idx = torch.stack([torch.randperm(C - low, generator=g)[:P] + low for _ in range(B)])
    if mask_zero:
        idx[:, 2:] = idx[:, 2:] * (torch.rand(B, P - 2, generator=g) < 0.5)
        idx[0] = 0
    theirs = b4t.SparseMultilabelCategoricalCrossentropy(mask_zero=mask_zero)(s, idx)  # per row: "none"
    (grad_theirs,) = torch.autograd.grad(theirs.sum(), s)
    ours = sparse_multilabel_categorical_crossentropy(s, idx, mask_zero, reduction="none")
    (grad_ours,) = torch.autograd.grad(ours.sum(), s)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
    torch.testing.assert_close(grad_ours, grad_theirs, rtol=0, atol=1e-5)
