"""Cross-attention of an encoder-decoder (kexue/nn/attention.py CrossAttention): formula and no leak."""
import math

import pytest
import torch

from kexue.nn.attention import CrossAttention, padding_mask


def _reference(layer: CrossAttention, x, memory, key_mask=None):
    b, n, _ = x.shape
    m = memory.shape[1]
    h, d = layer.heads, layer.head_size
    q = layer.q(x).view(b, n, h, d).transpose(1, 2)
    k = layer.k(memory).view(b, m, h, d).transpose(1, 2)
    v = layer.v(memory).view(b, m, h, d).transpose(1, 2)
    # softmax(QKᵀ/√d + M) V, written out
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask, float("-inf"))
    out = torch.softmax(scores, -1) @ v
    return layer.o(out.transpose(1, 2).reshape(b, n, h * d))


def test_cross_attention_matches_the_formula_with_padding():
    torch.manual_seed(0)
    layer = CrossAttention(16, 4, memory_size=12).double()
    x, memory = torch.randn(2, 5, 16, dtype=torch.float64), torch.randn(2, 7, 12, dtype=torch.float64)
    mask = padding_mask(torch.tensor([7, 3]), 7)
    assert torch.allclose(layer(x, memory, mask), _reference(layer, x, memory, mask))
    # the precomputed K, V give the same
    assert torch.allclose(layer(x, kv=layer.memory_kv(memory), mask=mask), layer(x, memory, mask))


def test_cross_attention_does_not_leak_padded_memory_or_other_queries():
    torch.manual_seed(1)
    layer = CrossAttention(8, 2).double()
    x = torch.randn(2, 4, 8, dtype=torch.float64, requires_grad=True)
    memory = torch.randn(2, 6, 8, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([6, 2])
    out = layer(x, memory, padding_mask(lengths, 6))
    for t in range(4):
        gx, gm = torch.autograd.grad(out[1, t].sum(), (x, memory), retain_graph=True)
        # output t of example 1 sees only its own query and memory positions < 2
        assert (gm[1, 2:] == 0).all() and (gm[0] == 0).all()
        assert (gx[1, [s for s in range(4) if s != t]] == 0).all() and (gx[0] == 0).all()
        assert (gm[1, :2] != 0).any() and (gx[1, t] != 0).any()


def test_cross_attention_needs_memory_or_kv():
    layer = CrossAttention(8, 2)
    with pytest.raises(ValueError, match="exactly one"):
        layer(torch.randn(1, 2, 8))
