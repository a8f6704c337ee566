"""The diffusion U-Nets out as ONNX: onnxruntime's ε equals torch's, at two batch sizes, for both nets.

The weights are redrawn (Ho's last convs start at zero, and a zero output would agree with anything).
"""
import json

import pytest
import torch
from typer.testing import CliRunner

from kexue.cli import app
from kexue.diffusion.onnx_export import MANIFEST, MODEL_FILE, check_parity, export_unet
from kexue.diffusion.unet_ho import UNetHo, UNetHoConfig
from kexue.diffusion.unet_su import UNetSu, UNetSuConfig

T = 50


def redrawn(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model.eval()


NETS = {
    "su": lambda: UNetSu(UNetSuConfig.preset("digits8", T=T, embedding_size=16, channels=(1, 2), blocks=1)),
    "su, conditional, padded 6 → 8": lambda: UNetSu(UNetSuConfig.preset(
        "digits8", T=T, image_size=6, pad_to=8, embedding_size=16, channels=(1, 2), blocks=1, num_classes=3)),
    "ho, attention at 4": lambda: UNetHo(UNetHoConfig.preset("digits8", ch=16, num_res_blocks=1)),
    "ho, conditional": lambda: UNetHo(UNetHoConfig.preset("digits8", ch=16, num_res_blocks=1, num_classes=2,
                                                          attn_resolutions=())),
}


@pytest.mark.parametrize("name", list(NETS))
def test_onnxruntime_eps_equals_torch(name, tmp_path):
    model = redrawn(NETS[name]())
    export_unet(model, tmp_path / MODEL_FILE, T)
    parity = check_parity(model, tmp_path / MODEL_FILE, T, batch_sizes=(1, 5))
    assert parity.max_abs < 1e-4, parity


def test_a_t_out_of_range_is_still_refused_in_eager_mode():
    model = NETS["su"]()
    with pytest.raises(ValueError, match="t must lie in 1..50"):
        model(torch.zeros(1, 1, 8, 8), torch.tensor([T + 1]))


def test_export_command_writes_the_graph_and_the_schedule(tmp_path):
    run, out = tmp_path / "run", tmp_path / "onnx"
    r = CliRunner().invoke(app, ["diffusion", "train", "--preset", "smoke", "--no-progress", "--out", str(run),
                                 "--set", "train.steps=1", "--set", "sample_every=0"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["diffusion", "export", "--format", "onnx", str(run), str(out)])
    assert r.exit_code == 0, r.output
    assert "max |Δ|" in r.stdout
    meta = json.loads((out / MANIFEST).read_text())
    assert meta["model"] == "su" and meta["T"] == 50 and len(meta["schedule"]["beta_sq"]) == 50
    # Su's schedule: α_t = √(1 − 0.02 t/T), so β_t² = 0.02 t / T
    assert meta["schedule"]["beta_sq"][-1] == pytest.approx(0.02, rel=1e-9)
    r = CliRunner().invoke(app, ["diffusion", "export", "--format", "coreml", str(run), str(out)])
    assert r.exit_code == 2 and "onnx only" in r.stderr
