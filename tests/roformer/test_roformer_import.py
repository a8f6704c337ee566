"""Checkpoint import: parity with JunnYu's `roformer` 0.4.3 (its own venv) and strictness of the mapping."""
import json
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import torch

from kexue.roformer import RoFormerV2, RoFormerV2Config
from kexue.roformer.checkpoint import (EMBEDDING_MAP, LAYER_MAP, config_from_hf, import_hf, load_pretrained)
from kexue.train.checkpoint import read_safetensors

ROOT = Path(__file__).resolve().parents[2]
ORACLE_PY = ROOT / ".venv-oracle" / "bin" / "python"
SCRIPT = Path(__file__).parent / "oracle" / "make_roformer_v2.py"
CFG = RoFormerV2Config(vocab_size=40, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=48)
HF_CONFIG = {"vocab_size": 40, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
             "intermediate_size": 48, "hidden_act": "relu", "norm_type": "rms_norm", "use_bias": False,
             "rotary_value": False, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0}


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    if not ORACLE_PY.exists():
        pytest.skip("needs .venv-oracle with roformer==0.4.3; run `make oracle`")
    out = tmp_path_factory.mktemp("oracle")
    r = subprocess.run([str(ORACLE_PY), str(SCRIPT), str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_parity_with_junnyu_roformer(oracle, tmp_path, fmt):
    import_hf(oracle / f"model_{fmt}", tmp_path / "kexue")
    model = load_pretrained(tmp_path / "kexue")
    e, _ = read_safetensors(oracle / "expected.safetensors")
    with torch.no_grad():
        h = model(e["ids"], e["token_type_ids"], e["attention_mask"].bool())
        logits = model.mlm_logits(h)
    # fp32, random init, 3 layers, padding and a second segment in the batch
    assert (h - e["last_hidden_state"]).abs().max() <= 1e-5
    assert (logits - e["logits"]).abs().max() <= 1e-5
    assert (tmp_path / "kexue" / "vocab.txt").is_file()


def write_hf(folder: Path, model: RoFormerV2, config=None, drop=(), extra=None, prefix="roformer."):
    """An HF-format folder made from one of our models (the inverse of the import mapping)."""
    from safetensors.torch import save_file
    folder.mkdir(parents=True, exist_ok=True)
    ours = model.state_dict()
    theirs = {prefix + t: ours[k] for k, t in EMBEDDING_MAP.items()}
    for i in range(model.cfg.num_layers):
        theirs.update({prefix + t.format(i=i): ours[f"layers.{i}.{k}"] for k, t in LAYER_MAP.items()})
    for name in drop:
        theirs.pop(name)
    theirs.update(extra or {})
    save_file({k: v.contiguous() for k, v in theirs.items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config or HF_CONFIG))
    return folder


def test_round_trip_without_prefix(tmp_path):
    model = RoFormerV2(CFG).eval()
    import_hf(write_hf(tmp_path / "hf", model, prefix=""), tmp_path / "k")
    ids = torch.randint(1, 40, (2, 6))
    assert torch.equal(load_pretrained(tmp_path / "k")(ids), model(ids))


def test_missing_unexpected_misshaped_are_named(tmp_path):
    model = RoFormerV2(CFG)
    bad = write_hf(tmp_path / "a", model, drop=["roformer.encoder.layer.1.output.dense.weight"],
                   extra={"roformer.pooler.dense.weight": torch.zeros(32, 32)})
    with pytest.raises(ValueError) as e:
        import_hf(bad, tmp_path / "out")
    assert "missing tensor encoder.layer.1.output.dense.weight" in str(e.value)
    assert "unexpected tensor roformer.pooler.dense.weight" in str(e.value)
    wide = write_hf(tmp_path / "b", RoFormerV2(RoFormerV2Config(**{**CFG.__dict__, "intermediate_size": 64})))
    with pytest.raises(ValueError, match=r"mis-shaped tensor encoder.layer.0.intermediate.dense.weight"):
        import_hf(wide, tmp_path / "out")


def test_untied_head_and_wrong_sinusoid_are_refused(tmp_path):
    model = RoFormerV2(CFG)
    untied = write_hf(tmp_path / "a", model, extra={"cls.predictions.decoder.weight": torch.zeros(40, 32)})
    with pytest.raises(ValueError, match="not tied"):
        import_hf(untied, tmp_path / "out")
    table = write_hf(tmp_path / "b", model, extra={"roformer.encoder.embed_positions.weight": torch.ones(64, 8)})
    with pytest.raises(ValueError, match="not the RoPE table"):
        import_hf(table, tmp_path / "out")


@pytest.mark.parametrize("key,value,reason", [("norm_type", "layer_norm", "RoFormer v1"),
                                              ("use_bias", True, "no bias"), ("hidden_act", "gelu", "ReLU")])
def test_config_that_is_not_v2_is_refused_with_the_reason(key, value, reason):
    with pytest.raises(ValueError, match=reason):
        config_from_hf({**HF_CONFIG, key: value}, "x/config.json")
    assert config_from_hf(HF_CONFIG).intermediate_size == 48


def test_pickle_is_not_executed(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(HF_CONFIG))
    torch.save({"x": PurePosixPath("a")}, folder / "pytorch_model.bin")  # unpickling it runs a constructor
    with pytest.raises(ValueError, match="not a plain tensor file"):
        import_hf(folder, tmp_path / "out")
