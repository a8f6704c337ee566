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
    # the parameter count is a check with its control, not a claim
    assert len(result.checks) == 1 and result.checks[0].verdict == "held"
    assert "not held" in result.checks[0].control and "bert" in result.checks[0].control
    assert len(result.claims) == 3 and all(c.rule and c.quote and c.source == 8998 for c in result.claims)
    quality, residual, speed = result.claims
    assert quality.evidence["RoFormerV2 MLM loss"]["n"] == 2  # the smoke preset's two seeds
    assert set(residual.evidence) == {"ramp", "no ramp", "ReZero"} and residual.evidence["ReZero"]["n"] == 2
    assert "per-seed differences" in residual.rule and "×" in speed.measured
    # on a CPU the post's GPU speed-up is not checkable; the measurement stays as context
    assert speed.verdict == "not checkable" and "a GPU claim" in speed.rule and "CUDA GPU" in speed.needs
    assert all(c.needs for c in result.claims if c.verdict in ("inconclusive", "not checkable"))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    timed = metrics["speed"]["by_length"]["128"]
    assert len(timed["roformer_v2_seconds"]) == len(timed["bert_seconds"]) == cfg.speed_repeats
    assert (tmp_path / "runs" / "residual-rezero-seed1" / "model.safetensors").is_file()
    assert (tmp_path / "mlm_curves.png").is_file()


def test_reproduce_imports_without_choosing_a_plotting_backend():
    """matplotlib's backend is kexue.reproduce.run_topics' choice, not this module's at import."""
    import subprocess
    import sys

    code = ("import sys, kexue.roformer.reproduce; "
            "print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
