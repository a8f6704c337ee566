"""`reproduce` of post 8998 end to end at toy size with the residual study, and the ReZero model it trains."""
import json
from dataclasses import replace

import torch

from kexue.roformer.config import RoFormerV2Config
from kexue.roformer.reproduce import preset, reproduce
from kexue.roformer.residual import ReZeroRoFormerV2


def test_rezero_starts_as_the_identity_and_learns_its_alphas():
    cfg = RoFormerV2Config(vocab_size=50, hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32)
    torch.manual_seed(0)
    model = ReZeroRoFormerV2(cfg).eval()  # no dropout
    ids = torch.randint(5, 50, (2, 7))
    # α = 0: every block is skipped, the output is the embedding's
    assert torch.allclose(model(ids), model.embeddings(ids))
    assert not any("norm" in n for n, _ in model.layers.named_parameters())
    model.mlm_logits(model(ids)).logsumexp(-1).sum().backward()
    assert model.rezero_alpha.grad is not None and model.rezero_alpha.grad.abs().sum() > 0
    with torch.no_grad():
        model.rezero_alpha.fill_(1.0)
    # α = 1: x ← x + MHA(x); x ← x + FFN(x), with no Norm
    layer = model.layers[0]
    h = model.embeddings(ids)
    h = h + layer.attention(h, None)
    h = h + layer.ffn(h)
    layer = model.layers[1]
    h = h + layer.attention(h, None)
    h = h + layer.ffn(h)
    assert torch.allclose(model(ids), h, atol=1e-5)


def test_reproduce_smoke_with_the_residual_study(tmp_path):
    cfg = replace(preset("smoke"), alpha_ramp=2)
    result = reproduce("smoke", tmp_path, cfg=cfg)
    assert [c.claim[:12] for c in result.claims][0].startswith("RoFormerV2")
    assert len(result.claims) == 4 and result.claims[0].verdict == "held"
    assert all(c.rule for c in result.claims)
    quality, residual, speed = result.claims[1], result.claims[2], result.claims[3]
    assert quality.evidence["RoFormerV2 MLM loss"]["n"] == 2  # the smoke preset's two seeds
    assert set(residual.evidence) == {"ramp", "no ramp", "ReZero"} and residual.evidence["ReZero"]["n"] == 2
    assert "Welch" in residual.rule and "×" in speed.measured
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(metrics["speed"]["by_length"]["16"]["roformer_v2_seconds"]) == cfg.speed_steps
    assert (tmp_path / "runs" / "residual-rezero-seed1" / "model.safetensors").is_file()
    assert (tmp_path / "mlm_curves.png").is_file()
