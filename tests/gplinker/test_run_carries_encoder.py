"""The encoder's tokenizer, vocabulary and max length travel with a GPLinker run (issue 22 §3): a NER run
trained on a kexue RoFormerV2 folder predicts, serves and loads as an Extractor after that folder is gone."""
import json
import shutil

import torch
from typer.testing import CliRunner

from kexue.data import CharTokenizer
from kexue.gplinker.cli import app

torch.set_num_threads(1)
ROWS = [("张三在北京大学读书。", [[0, 2, "PER"], [3, 7, "ORG"]]), ("李四去了上海。", [[0, 2, "PER"], [4, 6, "LOC"]])]


def _pretrained(root):
    """A kexue RoFormerV2 folder as `kexue roformer pretrain` writes it (config.json, weights, vocab.txt)."""
    from kexue.config import to_dict
    from kexue.roformer import RoFormerV2, preset
    from kexue.train.checkpoint import MODEL_FILE, save_model
    folder = root / "encoder"
    folder.mkdir()
    tok = CharTokenizer.build([t for t, _ in ROWS] + ["北京"])
    tok.save(folder / "vocab.txt")
    cfg = preset("small", hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, vocab_size=tok.vocab_size,
                 pad_id=tok.pad_id)
    torch.manual_seed(0)
    save_model(RoFormerV2(cfg), folder / MODEL_FILE, {"step": "1"})
    (folder / "config.json").write_text(json.dumps({"model": to_dict(cfg), "tokenizer": "char"}), encoding="utf-8")
    return folder


def test_a_run_needs_nothing_but_its_folder(tmp_path):
    from fastapi.testclient import TestClient

    from kexue.gplinker.extractor import Extractor
    from kexue.gplinker.serve import create_app
    encoder = _pretrained(tmp_path)
    ids = CharTokenizer.load(encoder / "vocab.txt").encode("张三去了北京。")
    data = tmp_path / "ner.jsonl"
    data.write_text("".join(json.dumps({"text": t, "entities": e}, ensure_ascii=False) + "\n" for t, e in ROWS),
                    encoding="utf-8")
    run = tmp_path / "run"
    r = CliRunner().invoke(app, ["ner", "train", "--train", str(data), "--encoder", str(encoder), "--out", str(run),
                                 "--set", "train.steps=2", "--set", "train.batch_size=2", "--set", "max_len=12",
                                 "--set", "head.head_size=8"])
    assert r.exit_code == 0, r.output
    shutil.rmtree(encoder)  # from here on only the run folder exists
    ex = Extractor.from_pretrained(run, device="cpu")
    assert ex.g.cfg.max_len == 12 and ex.g.cfg.encoder.kind == "roformer"
    assert ex.g.tokenizer.encode("张三去了北京。") == ids  # the encoder's own vocabulary, from the run
    long = "张三在北京大学读书。" * 3  # 30 characters: read in windows of max_len − 2 = 10 tokens
    assert len(ex._windows(long)) > 1 and ex(long)["text"] == long
    src = tmp_path / "in.txt"
    src.write_text(long + "\n李四去了上海。\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["ner", "predict", "--model", str(run), "--input", str(src), "--output",
                                 str(tmp_path / "out.jsonl"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) == 2
    with TestClient(create_app(ex)) as client:
        got = client.post("/extract", json={"text": "李四去了上海。"})
    assert got.status_code == 200 and got.json()["results"][0]["text"] == "李四去了上海。"
