"""The one pre-norm block: its formula, and the attention topic's parameter names kept."""
import torch

from kexue.attention.model import Block, TinyConfig
from kexue.gplinker.model import EncoderConfig, TinyEncoder
from kexue.nn.attention import MultiHeadAttention
from kexue.nn.block import PreNormBlock


def test_block_is_the_pre_norm_formula():
    torch.manual_seed(0)
    block = PreNormBlock(16, MultiHeadAttention(16, 2)).eval()
    x = torch.randn(2, 5, 16)
    # x ← x + Attn(Norm(x)); x ← x + FFN(Norm(x)), by hand
    h = x + block.attn(block.norm1(x), mask=None)
    want = h + block.ffn[2](torch.nn.functional.gelu(block.ffn[0](block.norm2(h))))
    assert torch.allclose(block(x), want, atol=1e-6)


def test_attention_block_keeps_its_parameter_names():
    names = set(Block(TinyConfig(hidden=16, heads=2)).state_dict())
    assert {"norm1.gain", "norm2.gain", "ffn.0.weight", "ffn.2.weight"} <= names
    assert any(n.startswith("attn.") for n in names)


def test_tiny_encoder_is_built_from_the_block():
    enc = TinyEncoder(EncoderConfig(vocab=50, hidden=16, heads=2, layers=2))
    assert all(isinstance(b, PreNormBlock) for b in enc.blocks) and len(enc.blocks) == 2
    ids = torch.randint(1, 50, (2, 7))
    assert enc(ids, ids > 0).shape == (2, 7, 16)
