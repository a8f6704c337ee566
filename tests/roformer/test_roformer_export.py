"""`kexue roformer export --format hf`: JunnYu's roformer loads it (its own venv) and agrees to 1e-5."""
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from kexue.cli import app
from kexue.roformer import RoFormerV2, RoFormerV2Config
from kexue.roformer.checkpoint import export_hf, import_hf, load_pretrained
from kexue.train.checkpoint import save_model, write_json
from kexue.config import to_dict

ROOT = Path(__file__).resolve().parents[2]
ORACLE_PY = ROOT / ".venv-oracle" / "bin" / "python"
SCRIPT = Path(__file__).parent / "oracle" / "load_export.py"
CFG = RoFormerV2Config(vocab_size=60, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=48)
runner = CliRunner()


def kexue_folder(folder: Path, seed: int = 0) -> RoFormerV2:
    torch.manual_seed(seed)
    model = RoFormerV2(CFG).eval()
    folder.mkdir(parents=True)
    save_model(model, folder / "model.safetensors")
    write_json(folder / "config.json", {"model": to_dict(CFG), "tokenizer": "char"})
    (folder / "vocab.txt").write_text("".join(f"t{i}\n" for i in range(60)), encoding="utf-8")
    return model


def inputs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 60, (3, 13), generator=g)
    ids[1, 9:] = 0
    token_type = torch.zeros_like(ids)
    token_type[2, 6:] = 1
    return {"ids": ids, "attention_mask": (ids != 0).long(), "token_type_ids": token_type}


def test_export_then_import_gives_the_same_model(tmp_path):
    model = kexue_folder(tmp_path / "k")
    r = runner.invoke(app, ["roformer", "export", str(tmp_path / "hf"), "--model", str(tmp_path / "k")])
    assert r.exit_code == 0, r.output
    import_hf(tmp_path / "hf", tmp_path / "back")
    x = inputs()
    again = load_pretrained(tmp_path / "back")
    with torch.no_grad():
        assert torch.equal(again(x["ids"], x["token_type_ids"], x["attention_mask"].bool()),
                           model(x["ids"], x["token_type_ids"], x["attention_mask"].bool()))
    r = runner.invoke(app, ["roformer", "export", str(tmp_path / "hf"), "--model", str(tmp_path / "k")])
    assert r.exit_code == 2 and "is not empty" in r.stderr
    r = runner.invoke(app, ["roformer", "export", str(tmp_path / "x"), "--model", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "no config.json" in r.stderr and not (tmp_path / "x").exists()


def test_junnyu_roformer_loads_the_export_with_the_same_outputs(tmp_path):
    if not ORACLE_PY.exists():
        pytest.skip("needs .venv-oracle with roformer==0.4.3; run `make oracle`")
    for seed, expect_equal in ((0, True), (1, False)):  # seed 1: another model, a negative control
        model = kexue_folder(tmp_path / f"k{seed}", seed)
        export_hf(tmp_path / "k0", tmp_path / f"hf{seed}", max_positions=64)
        x = inputs()
        save_file(x, str(tmp_path / "in.safetensors"))
        r = subprocess.run([str(ORACLE_PY), str(SCRIPT), str(tmp_path / f"hf{seed}"), str(tmp_path / "in.safetensors"),
                            str(tmp_path / "out.safetensors")], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        theirs = load_file(str(tmp_path / "out.safetensors"))
        with torch.no_grad():
            h = model(x["ids"], x["token_type_ids"], x["attention_mask"].bool())
            logits = model.mlm_logits(h)
        close = (h - theirs["last_hidden_state"]).abs().max() <= 1e-5 and (logits - theirs["logits"]).abs().max() <= 1e-5
        assert bool(close) == expect_equal
