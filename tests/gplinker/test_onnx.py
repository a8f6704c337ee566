"""GPLinker out as ONNX: the graph's logits against torch's, and the numpy runtime's JSON against Extractor's.

Runs are tiny and untrained, their logits shifted down (fresh_run's `shift`) so that each decodes a few to a
few hundred items on the fixture texts: what the decoders must agree on. One trained run (conftest's
event_run) is exported through the command line as a user would.
"""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from kexue.gplinker import fixture
from kexue.gplinker.cli import app
from kexue.gplinker.extractor import Extractor
from kexue.gplinker.onnx_export import MANIFEST, MODEL_FILE, check_parity, export_onnx
from kexue.gplinker.onnx_runtime import OnnxExtractor
from kexue.gplinker.train import load_run
from tests.gplinker._tiny import fresh_run

ROOT = Path(__file__).resolve().parents[2]
# a shift per task that leaves some items on the fixture texts (seed 1)
SHIFT = {"ner": -1.5, "events": -1.0, "relations": -0.5}
SCORE_TOL = 2e-6  # scores are σ rounded to 6 places; logits within 1e-5 may round one unit apart


def fixture_texts(task: str) -> list[str]:
    if task == "ner":
        return ["张三在北京大学读书。", "李四去了上海。", "王五，Alice 与 Bob 在 2024 年到了北京！"]
    name = "duee_sample.json" if task == "events" else "duie_sample.json"
    return [json.loads(line)["text"] for line in fixture(name).read_text(encoding="utf-8").splitlines() if line]


def with_long_text(texts: list[str]) -> list[str]:
    """The texts and one over the 128-token window (read in overlapping windows, merged back)."""
    long = "".join(texts)
    while len(long) < 300:
        long += long
    return [*texts, long, ""]


def same_json(a, b, path: str = "") -> None:
    """a == b, except that a `score` may differ by SCORE_TOL."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{path}: keys {list(a)} != {list(b)}"
        for k in a:
            if k == "score":
                assert math.isclose(a[k], b[k], abs_tol=SCORE_TOL), f"{path}.score: {a[k]} != {b[k]}"
            else:
                same_json(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: {len(a)} items != {len(b) if isinstance(b, list) else b}"
        for k, (x, y) in enumerate(zip(a, b)):
            same_json(x, y, f"{path}[{k}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.fixture(scope="module", params=["ner", "events", "relations"])
def exported(request, tmp_path_factory):
    task = request.param
    root = tmp_path_factory.mktemp(f"onnx-{task}")
    run = fresh_run(task, root / "run", seed=1, shift=SHIFT[task])
    export_onnx(run, root / "onnx")
    return task, run, root / "onnx"


def test_the_folder_holds_the_graph_and_what_the_decoder_needs(exported):
    task, run, out = exported
    meta = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert meta["task"] == task and meta["max_len"] == 128 and meta["threshold"] == 0.0
    assert meta["labels"] == json.loads((run / "config.json").read_text(encoding="utf-8"))["run"]["labels"]
    assert (out / MODEL_FILE).is_file() and (out / "vocab.txt").read_text() == (run / "vocab.txt").read_text()


def test_onnxruntime_logits_equal_torch_at_three_lengths_with_padding(exported):
    _, run, out = exported
    g = load_run(run)
    parity = check_parity(g.model, out / MODEL_FILE, g.tokenizer.vocab_size, g.tokenizer.pad_id, lengths=(5, 33, 128))
    assert parity.same_mask and parity.max_abs < 1e-4, parity


def test_the_numpy_runtime_gives_the_extractors_json(exported):
    task, run, out = exported
    texts = with_long_text(fixture_texts(task))
    want = Extractor.from_pretrained(run, device="cpu")(texts)
    got = OnnxExtractor(out)(texts)
    assert sum(len(v) for r in want for k, v in r.items() if k != "text") > 0  # something to agree on
    same_json(want, got)


def test_a_padded_batch_gives_each_texts_own_result(exported):
    _, _, out = exported
    ex = OnnxExtractor(out)
    texts = fixture_texts(ex.task)
    assert ex.extract_batch(texts) == [ex.extract_batch([t])[0] for t in texts]


def test_importing_the_runtime_imports_no_torch():
    code = ("import sys; import kexue.gplinker.onnx_runtime; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'typer')); "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stdout + r.stderr


def test_export_command_on_a_trained_run(event_run, tmp_path):
    out = tmp_path / "onnx"
    r = CliRunner().invoke(app, ["export", "--format", "onnx", str(event_run), str(out)])
    assert r.exit_code == 0, r.output
    assert "max |Δ|" in r.output and str(out) in r.output
    texts = with_long_text(fixture_texts("events"))
    same_json(Extractor.from_pretrained(event_run, device="cpu")(texts), OnnxExtractor(out)(texts))


def test_export_command_refuses_what_it_cannot_do(event_run, tmp_path):
    r = CliRunner().invoke(app, ["export", "--format", "tflite", str(event_run), str(tmp_path / "x")])
    assert r.exit_code == 2 and "onnx" in r.output
    r = CliRunner().invoke(app, ["export", "--format", "onnx", str(tmp_path / "none"), str(tmp_path / "x")])
    assert r.exit_code == 2 and "not a GPLinker run folder" in r.output


def test_a_folder_without_the_manifest_is_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="gplinker-onnx.json"):
        OnnxExtractor(tmp_path)


def test_the_dynamo_exporter_gives_the_same_graph(tmp_path):
    # torch.export's exporter (torch's default since 2.9) on the smallest run: a few CPU seconds more
    run = fresh_run("ner", tmp_path / "run", seed=1, shift=SHIFT["ner"])
    export_onnx(run, tmp_path / "onnx", dynamo=True)
    g = load_run(run)
    parity = check_parity(g.model, tmp_path / "onnx" / MODEL_FILE, g.tokenizer.vocab_size, g.tokenizer.pad_id,
                          lengths=(3, 40, 128))
    assert parity.same_mask and parity.max_abs < 1e-4, parity
    texts = with_long_text(fixture_texts("ner"))
    same_json(Extractor.from_pretrained(run, device="cpu")(texts), OnnxExtractor(tmp_path / "onnx")(texts))


def test_a_run_on_an_hf_bert_encoder_exports(tmp_path):
    """`export --format onnx` of a run whose encoder is an HF BERT folder (random weights): the graph's logits
    equal torch's at three lengths with a padded row, a padded row equals the row alone, and the runtime's JSON
    is Extractor's (WordPiece offsets: a Latin word is one token)."""
    from kexue.config import override
    from kexue.gplinker.model import shift_logits
    from kexue.gplinker.train import GPLinker, GPLinkerConfig
    from kexue.train.checkpoint import MODEL_FILE as WEIGHTS, save_model
    from tests.gplinker._tiny import tiny_bert
    texts = fixture_texts("ner")
    chars = sorted({c.lower() for t in texts for c in t if not c.isspace()})
    bert = tiny_bert(tmp_path / "bert", ["[PAD]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, "##0"])
    g = GPLinker.pretrained(override(GPLinkerConfig(task="ner"), ["max_len=64", "head.head_size=8"]),
                            ["LOC", "ORG", "PER"], bert)
    assert g.cfg.encoder.kind == "hf"
    shift_logits(g.model, SHIFT["ner"])
    run = tmp_path / "run"
    run.mkdir()
    g.save_meta(run)
    save_model(g.model, run / WEIGHTS, {"step": "0"})
    r = CliRunner().invoke(app, ["export", "--format", "onnx", str(run), str(tmp_path / "onnx")])
    assert r.exit_code == 0, r.output
    g = load_run(run)
    parity = check_parity(g.model, tmp_path / "onnx" / MODEL_FILE, g.tokenizer.vocab_size, g.tokenizer.pad_id,
                          lengths=(5, 33, 64))
    assert parity.same_mask and parity.max_abs < 1e-4, parity
    ex = OnnxExtractor(tmp_path / "onnx")
    assert ex.extract_batch(texts) == [ex.extract_batch([t])[0] for t in texts]
    texts = with_long_text(texts)
    want = Extractor.from_pretrained(run, device="cpu")(texts)
    assert sum(len(x["entities"]) for x in want) > 0
    same_json(want, ex(texts))
