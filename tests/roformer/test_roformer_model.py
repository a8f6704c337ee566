"""RoFormerV2 against post 8998: parameter counts, no bias/gain, α = 0 ⇒ Norm, masks, init, dtypes."""
import math
from dataclasses import replace

import pytest
import torch

from kexue.nn.norm import RMSNorm
from kexue.roformer import (PARAMS, SIZES, RoFormerV2, RoFormerV2Config, bert_variant, count_params, init_std,
                            preset, residual_alpha)
from kexue.roformer.model import Block

TINY = RoFormerV2Config(vocab_size=50, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64,
                        dropout=0.0, attention_dropout=0.0)


def meta_params(cfg):
    # build on the meta device: the count needs shapes, not 314M floats
    with torch.device("meta"):
        return RoFormerV2(cfg, init=False).num_params()


@pytest.mark.parametrize("size", list(SIZES))
def test_preset_param_counts_are_pinned(size):
    # V·H + 2H + L·(4H² + 2·H·FFN), V = 12000: 15,225,600 / 94,152,192 / 314,279,936 (post: 0.3B large)
    cfg = preset(size)
    assert meta_params(cfg) == count_params(cfg) == PARAMS[size]


def test_param_counts_match_the_notes_rounding():
    assert [round(PARAMS[s] / 1e6, 1) for s in ("small", "base", "large")] == [15.2, 94.2, 314.3]


def test_bert_variant_count_closed_form():
    cfg = bert_variant(preset("base"))
    assert meta_params(cfg) == count_params(cfg)
    assert count_params(cfg) > PARAMS["base"]


def test_no_bias_gamma_beta_anywhere():
    model = RoFormerV2(TINY)
    names = [n for n, _ in model.named_parameters()]
    assert not [n for n in names if any(w in n.lower() for w in ("bias", "gamma", "beta", "norm", "gain"))]
    # the only parameters: two embeddings and six matrices per layer
    assert len(names) == 2 + 6 * 2
    # the MLM head is the token embedding itself (in eval mode: no dropout)
    h = torch.randn(1, 3, 32)
    assert torch.equal(model.eval().mlm_logits(h), h @ model.embeddings.token.weight.T)


def test_mlm_head_has_bert4keras_output_dropout():
    """bert4keras RoFormerV2: Output-MLM-Dropout (rate = hidden dropout) right before the tied head."""
    from kexue.nn.attention import drop

    model = RoFormerV2(replace(TINY, dropout=0.5)).train()
    h = torch.randn(2, 5, 32)
    torch.manual_seed(3)
    got = model.mlm_logits(h)
    torch.manual_seed(3)
    want = drop(h, 0.5, True) @ model.embeddings.token.weight.T
    torch.testing.assert_close(got, want)
    assert not torch.allclose(got, h @ model.embeddings.token.weight.T)  # the head does drop in training


def test_bert_variant_has_what_v2_removed():
    names = {n for n, _ in RoFormerV2(bert_variant(TINY)).named_parameters()}
    assert "layers.0.attention.q.bias" in names and "layers.0.ffn_norm.weight" in names
    assert "embeddings.position.weight" in names and "mlm_bias" in names


def test_alpha_zero_block_is_identity_then_norm():
    block = Block(TINY).eval()
    x = 3.0 * torch.randn(2, 5, 32) + 1.0
    # Norm(Norm(x + 0·F)) = Norm(x) since RMSNorm is idempotent
    expected = RMSNorm(32, gain=False)(x)
    assert torch.allclose(block(x, None, alpha=0.0), expected, atol=1e-6)
    model = RoFormerV2(TINY).eval()
    model.set_alpha(0.0)
    ids = torch.randint(5, 50, (2, 7))
    h0 = model.embeddings(ids)
    assert torch.allclose(model(ids), h0, atol=1e-6)


def test_outputs_have_unit_rms_and_post_norm():
    model = RoFormerV2(TINY).eval()
    h = model(torch.randint(5, 50, (3, 9)))
    assert torch.allclose(h.pow(2).mean(-1), torch.ones(3, 9), atol=1e-4)


def test_padding_does_not_change_real_tokens():
    model = RoFormerV2(TINY).eval()
    ids = torch.randint(5, 50, (1, 6))
    padded = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1)  # pad_id = 0 is masked by default
    assert torch.allclose(model(ids), model(padded)[:, :6], atol=1e-5)
    # an explicit bool mask (True = real token) does the same whatever the padding ids are
    junk = torch.cat([ids, torch.randint(5, 50, (1, 4))], 1)
    mask = torch.arange(10)[None] < 6
    assert torch.allclose(model(ids), model(junk, mask=mask)[:, :6], atol=1e-5)
    with pytest.raises(TypeError, match="bool"):
        model(junk, mask=mask.long())


def test_rope_is_the_only_position_signal():
    model = RoFormerV2(TINY).eval()
    ids = torch.randint(5, 50, (1, 8))
    # without absolute positions, reversing the tokens would just reverse the outputs; RoPE breaks that
    assert not torch.allclose(model(ids).flip(1), model(ids.flip(1)), atol=1e-3)
    model.layers[0].attention.rope = model.layers[1].attention.rope = None
    assert torch.allclose(model(ids).flip(1), model(ids.flip(1)), atol=1e-5)


def test_fp32_and_bf16_agree():
    model = RoFormerV2(TINY).eval()
    ids = torch.randint(5, 50, (2, 16))
    h32 = model(ids)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h16 = model(ids)
    # unit-RMS outputs; bf16 has 8 mantissa bits
    assert (h16.float() - h32).abs().max() < 0.1
    assert torch.nn.functional.cosine_similarity(h16.float(), h32, dim=-1).min() > 0.995


def test_init_std_is_the_posts_formula():
    torch.manual_seed(0)
    cfg = RoFormerV2Config(vocab_size=600, hidden_size=128, num_layers=6, num_heads=2, intermediate_size=512)
    model = RoFormerV2(cfg)
    # σ = 1.13684723/√fan_in · L^(−1/2); truncating at ±2σ brings the std back to 1/√fan_in · L^(−1/2)
    w = model.layers[0].ffn.inner.weight
    std = init_std(128, 6)
    assert math.isclose(std, 1.13684723 / math.sqrt(128) / math.sqrt(6))
    assert w.abs().max() <= 2 * std + 1e-7
    assert math.isclose(w.std().item(), 1 / math.sqrt(128 * 6), rel_tol=0.03)
    w2 = model.layers[0].ffn.outer.weight  # fan-in 512
    assert math.isclose(w2.std().item(), 1 / math.sqrt(512 * 6), rel_tol=0.03)
    e = model.embeddings.token.weight  # embedding: fan-in H
    assert math.isclose(e.std().item(), 1 / math.sqrt(128 * 6), rel_tol=0.03)


def test_residual_alpha_ramp():
    assert [residual_alpha(t, 4) for t in (0, 2, 4, 9)] == [0.0, 0.5, 1.0, 1.0]
    assert residual_alpha(0, 0) == 1.0
    with pytest.raises(ValueError):
        residual_alpha(1, -1)


def test_bad_config_and_ids_are_clear_errors():
    with pytest.raises(ValueError, match="not divisible"):
        RoFormerV2Config(hidden_size=30, num_heads=4).check()
    with pytest.raises(ValueError, match="unknown RoFormerV2 size"):
        preset("huge")
    with pytest.raises(ValueError, match="token ids"):
        RoFormerV2(TINY)(torch.tensor([[1, 99]]))


def test_unpadded_mask_is_no_mask_in_eval_and_training():
    # an all-True mask becomes None (attention's unmasked kernel); the same numbers as passing the
    # mask through the masked path ([b, 1, 1, n] masks are used as given), with dropout too
    cfg = RoFormerV2Config(vocab_size=50, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64)
    model = RoFormerV2(cfg)
    ids = torch.randint(5, 50, (2, 9))
    full = torch.ones(2, 9, dtype=torch.bool)
    assert model.attention_mask(ids, full) is None and model.attention_mask(ids, None) is None
    assert model.attention_mask(ids, full[:, None, None, :]) is not None
    for train in (False, True):
        model.train(train)
        outs = []
        for mask in (None, full, full[:, None, None, :]):
            torch.manual_seed(7)
            outs.append(model(ids, mask=mask))
        torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=0)
        torch.testing.assert_close(outs[2], outs[0], rtol=0, atol=1e-6)
    # and a padded row still masks: position 8 of row 0 must not matter
    model.eval()
    padded = full.clone()
    padded[0, 8] = False
    other = ids.clone()
    other[0, 8] = 7 if ids[0, 8] != 7 else 8
    torch.testing.assert_close(model(ids, mask=padded)[0, :8], model(other, mask=padded)[0, :8], rtol=0, atol=1e-6)


def test_tied_head_gradients_are_autograds():
    # logits = h Eᵀ through the tied embedding; ∂L/∂E sums the head's gᵀh and the lookup's gradient
    torch.manual_seed(8)
    model = RoFormerV2(TINY).train()
    ids = torch.randint(5, 50, (2, 7))
    h = model(ids)
    g = torch.randn(2, 7, 50)
    (model.mlm_logits(h) * g).sum().backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    h = model(ids)
    (torch.nn.functional.linear(h, model.embeddings.token.weight) * g).sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(got[n], p.grad, rtol=0, atol=1e-6, msg=n)
    assert got["embeddings.token.weight"].is_contiguous()
    # under bf16 autocast the product runs in bf16 and the gradients come back in the parameters' dtype
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model.mlm_logits(model(ids))
    assert logits.dtype == torch.bfloat16
    logits.float().sum().backward()
    assert model.embeddings.token.weight.grad.dtype == torch.float32


def test_residual_alpha_and_default_segments_are_the_formula():
    torch.manual_seed(9)
    block = Block(TINY).eval()
    x = torch.randn(2, 5, 32)
    norm = RMSNorm(32, gain=False)
    # x' = Norm(x + α MHA(x)); out = Norm(x' + α FFN(x'))
    y = norm(x + 0.3 * block.attention(x))
    torch.testing.assert_close(block(x, None, alpha=0.3), norm(y + 0.3 * block.ffn(y)), rtol=0, atol=1e-6)
    model = RoFormerV2(TINY).eval()
    ids = torch.randint(5, 50, (2, 6))
    assert torch.equal(model(ids), model(ids, segment_ids=torch.zeros_like(ids)))
