"""GlobalPointer / Efficient GlobalPointer against posts 8373 and 8877, and against bert4torch."""
import math

import pytest
import torch

from kexue.nn.global_pointer import EfficientGlobalPointer, GlobalPointer, mask_pairs
from kexue.nn.losses import global_pointer_crossentropy

torch.set_num_threads(1)


def _params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("cls", [GlobalPointer, EfficientGlobalPointer])
def test_shape_and_masks(cls):
    torch.manual_seed(0)
    layer = cls(16, heads=3, head_size=8)
    h = torch.randn(2, 5, 16)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    s = layer(h, mask)
    assert s.shape == (2, 3, 5, 5)
    i, j = torch.meshgrid(torch.arange(5), torch.arange(5), indexing="ij")
    # the strictly lower triangle is −inf, the rest of sample 0 is finite
    assert torch.isneginf(s[0][:, i > j]).all() and torch.isfinite(s[0][:, i <= j]).all()
    # padded rows and columns of sample 1 are −inf
    assert torch.isneginf(s[1, :, 3:, :]).all() and torch.isneginf(s[1, :, :, 3:]).all()
    assert torch.isfinite(s[1, :, :3, :3][:, (i <= j)[:3, :3]]).all()
    # without tril_mask the lower triangle is scored
    full = cls(16, heads=3, head_size=8, tril_mask=False)
    full.load_state_dict(layer.state_dict())
    assert torch.isfinite(full(h)).all()
    torch.testing.assert_close(full(h)[0][:, i <= j], s[0][:, i <= j])


@pytest.mark.parametrize("cls", [GlobalPointer, EfficientGlobalPointer])
def test_rope_makes_the_score_relative(cls):
    # the same vector at every position: s_α(i, j) then depends on j − i only (post 8373)
    torch.manual_seed(1)
    layer = cls(8, heads=2, head_size=16, tril_mask=False).double()
    h = torch.randn(1, 1, 8, dtype=torch.float64).expand(1, 12, 8)
    s = layer(h)[0]
    for offset in range(-11, 12):
        diag = torch.diagonal(s, offset=offset, dim1=-2, dim2=-1)
        torch.testing.assert_close(diag, diag[:, :1].expand_as(diag))
    # and without RoPE the score is the same everywhere
    flat = cls(8, heads=2, head_size=16, rope=False, tril_mask=False).double()
    flat.load_state_dict(layer.state_dict())
    s0 = flat(h)[0]
    torch.testing.assert_close(s0, s0[:, :1, :1].expand_as(s0))


def test_egp_adds_4d_parameters_per_type():
    d, hidden = 64, 768
    for bias in (True, False):
        one = _params(EfficientGlobalPointer(hidden, 1, d, bias=bias))
        for heads in (2, 10, 50):
            extra = _params(EfficientGlobalPointer(hidden, heads, d, bias=bias)) - one
            # 4d weights per type (+ 2 biases per type when bias=True)
            assert extra == (heads - 1) * (4 * d + (2 if bias else 0))
    # GP: 2Dd weights (+ 2d biases) per type
    gp = _params(GlobalPointer(hidden, 2, d)) - _params(GlobalPointer(hidden, 1, d))
    assert gp == 2 * hidden * d + 2 * d


@torch.no_grad()
def test_egp_is_the_formula():
    # s_α(i, j) = q_iᵀk_j/√d + w_αᵀ[q_i; k_i; q_j; k_j] (+ biases), written out by hand
    torch.manual_seed(2)
    d, heads = 4, 3
    layer = EfficientGlobalPointer(5, heads, d, rope=False, tril_mask=False).double()
    h = torch.randn(1, 6, 5, dtype=torch.float64)
    s = layer(h)[0]
    p = layer.p_dense(h)[0]
    q, k = p[:, 0::2], p[:, 1::2]
    W, b = layer.q_dense.weight, layer.q_dense.bias
    for a in range(heads):
        for i in range(6):
            for j in range(6):
                want = q[i] @ k[j] / math.sqrt(d) + (W[2 * a] @ p[j] + b[2 * a] + W[2 * a + 1] @ p[i] + b[2 * a + 1]) / 2
                assert abs(float(s[a, i, j] - want)) < 1e-12


def test_parity_with_bert4torch_global_pointer():
    import bert4torch.layers as layers
    torch.manual_seed(3)
    ours = GlobalPointer(32, heads=4, head_size=16)
    theirs = layers.GlobalPointer(32, 4, 16, RoPE=True, tril_mask=True)
    # load ours into theirs: the same [q | k]-per-head dense layer
    theirs.load_state_dict(ours.state_dict(), strict=False)
    h = torch.randn(3, 9, 32)
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[1, 6:] = 0
    mask[2, 2:] = 0
    a, b = ours(h, mask), theirs(h, mask)
    keep = torch.isfinite(a)
    assert (b[~keep] < -1e9).all()  # they subtract 1e12 or write −inf where we write −inf
    assert (a[keep] - b[keep]).abs().max() <= 1e-5


def test_parity_with_bert4torch_efficient_global_pointer():
    # bert4torch splits p in halves and orders the bias pair (i, j); ours is bert4keras's (interleaved,
    # (j, i)). Permuting the weights maps one onto the other: the same function, bias from p in both.
    import bert4torch.layers as layers
    torch.manual_seed(4)
    d, heads = 8, 3
    ours = EfficientGlobalPointer(24, heads, d)
    theirs = layers.EfficientGlobalPointer(24, heads, d, RoPE=True, tril_mask=True)
    halves = torch.cat([torch.arange(0, 2 * d, 2), torch.arange(1, 2 * d, 2)])
    swap = torch.arange(2 * heads).view(heads, 2).flip(-1).reshape(-1)
    with torch.no_grad():
        theirs.p_dense.weight.copy_(ours.p_dense.weight[halves])
        theirs.p_dense.bias.copy_(ours.p_dense.bias[halves])
        theirs.q_dense.weight.copy_(ours.q_dense.weight[swap][:, halves])
        theirs.q_dense.bias.copy_(ours.q_dense.bias[swap])
    h = torch.randn(2, 7, 24)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    a, b = ours(h, mask), theirs(h, mask)
    keep = torch.isfinite(a)
    assert (a[keep] - b[keep]).abs().max() <= 1e-5


def test_mask_pairs_rejects_a_wrong_mask():
    with pytest.raises(ValueError, match="mask has shape"):
        mask_pairs(torch.zeros(2, 1, 4, 4), torch.ones(2, 5), True)


@pytest.mark.parametrize("cls", [GlobalPointer, EfficientGlobalPointer])
def test_trains_with_the_sparse_loss_and_gradients_are_finite(cls):
    torch.manual_seed(5)
    layer = cls(8, heads=2, head_size=8)
    h = torch.randn(2, 6, 8)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2])
    labels = torch.tensor([[[[1, 2], [3, 3]], [[0, 0], [0, 0]]], [[[2, 3], [0, 0]], [[1, 1], [0, 0]]]])
    opt = torch.optim.Adam(layer.parameters(), lr=0.05)
    for _ in range(60):
        loss = global_pointer_crossentropy(layer(h, mask), labels)
        opt.zero_grad()
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in layer.parameters())
        opt.step()
    s = layer(h, mask)
    pos = {(b, a, int(i), int(j)) for b in range(2) for a in range(2) for i, j in labels[b, a] if (i, j) != (0, 0)}
    # the cell (0, 0) is the sparse loss's padding label, left out of the loss, so its sign is not trained
    got = {tuple(int(x) for x in t) for t in (s > 0).nonzero() if (int(t[2]), int(t[3])) != (0, 0)}
    assert got == pos


# --- initialisation as bert4keras (issue 15 §7) ---

def _init_check(layer: torch.nn.Linear) -> None:
    w = layer.weight
    fan_in = w.shape[1]
    std = (1 / fan_in) ** 0.5 / 0.87962566103423978
    # lecun_normal: truncated at ±2σ, variance 1/fan_in (the truncated normal's variance is σ²·0.8796²)
    assert w.abs().max() <= 2 * std + 1e-6
    n = w.numel()
    # Var(w) = 1/fan_in within 5 standard errors of a sample variance (SE ≈ Var·√(2/n) for a near-normal)
    assert abs(w.var().item() - 1 / fan_in) < 5 * (1 / fan_in) * (2 / n) ** 0.5
    assert abs(w.mean().item()) < 5 * (1 / (fan_in * n)) ** 0.5
    assert layer.bias is None or torch.count_nonzero(layer.bias) == 0


def test_heads_are_initialised_as_bert4keras():
    torch.manual_seed(0)
    gp = GlobalPointer(256, 12, 64)
    egp = EfficientGlobalPointer(256, 12, 64)
    for layer in (gp.dense, egp.p_dense, egp.q_dense):
        _init_check(layer)


def test_torch_default_init_fails_the_check():
    # negative control: torch's Linear default (variance 1/(3·fan_in), nonzero bias) is not bert4keras's
    torch.manual_seed(0)
    with pytest.raises(AssertionError):
        _init_check(torch.nn.Linear(256, 12 * 128))
