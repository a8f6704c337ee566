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
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(chr(0x4E00 + i) for i in range(55))]
    (folder / "vocab.txt").write_text("".join(f"{t}\n" for t in vocab), encoding="utf-8")
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


def test_transformers_5_loads_the_export_with_nothing_missing_and_the_same_outputs(tmp_path):
    """transformers' own RoFormer is v1: the export ships RoFormerV2 as remote code, and AutoModelForMaskedLM
    with trust_remote_code reads every tensor and agrees with kexue within 1e-5 (with padding and segments)."""
    import transformers

    model = kexue_folder(tmp_path / "k")
    r = runner.invoke(app, ["roformer", "export", str(tmp_path / "hf"), "--model", str(tmp_path / "k")])
    assert r.exit_code == 0, r.output
    hf, info = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "hf", trust_remote_code=True,
                                                                 output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mis-shaped tensor
    x = inputs()
    with torch.no_grad():
        ours_h = model(x["ids"], x["token_type_ids"], x["attention_mask"].bool())
        ours = model.mlm_logits(ours_h)
        out = hf.eval()(input_ids=x["ids"], attention_mask=x["attention_mask"], token_type_ids=x["token_type_ids"])
    real = x["attention_mask"].bool()  # padded positions are not compared: neither model attends to them
    assert (out.hidden_states[-1] - ours_h)[real].abs().max() <= 1e-5
    assert (out.logits - ours)[real].abs().max() <= 1e-5
    # the control: transformers' built-in RoFormer (v1) on the same tensors is not the model
    v1 = transformers.RoFormerForMaskedLM(transformers.RoFormerConfig(
        vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
        embedding_size=32, max_position_embeddings=512))
    missing = v1.load_state_dict(load_file(str(tmp_path / "hf" / "model.safetensors")), strict=False).missing_keys
    assert missing  # v1 needs LayerNorm γ/β and biases that RoFormerV2 does not have


def test_the_export_carries_the_training_tokenizer(tmp_path):
    """tokenizer.json + tokenizer_config.json: transformers' AutoTokenizer gives the training tokenizer's ids."""
    import transformers

    from kexue.data import CharTokenizer

    texts = ["北京，上海队3月5日击败ABC。", "Ｈｅｌｌｏ 世界！１２３", "天气很好, abc.\t2023年"]
    tok = CharTokenizer.build(texts + ["x y"])
    torch.manual_seed(0)
    cfg = RoFormerV2Config(vocab_size=tok.vocab_size, hidden_size=32, num_layers=1, num_heads=4,
                           intermediate_size=48)
    folder = tmp_path / "k"
    folder.mkdir()
    save_model(RoFormerV2(cfg), folder / "model.safetensors")
    write_json(folder / "config.json", {"model": to_dict(cfg), "tokenizer": "char"})
    tok.save(folder / "vocab.txt")
    export_hf(folder, tmp_path / "hf", max_positions=64)
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    for text in texts + ["“苹果”；未见过的字"]:
        assert hf_tok(text)["input_ids"] == tok.encode(text), text
