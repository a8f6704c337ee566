"""`--encoder PATH`: GPLinker on a kexue RoFormerV2 folder and on an HF checkpoint, rebuilt from the run alone.

Before training, GPLinker's encoder must equal the checkpoint bit for bit (weights and hidden states).
Training runs 2 AdamW steps at lr = 1e-5, which moves a weight by at most about 2e-5, so the run's
saved encoder must stay within 1e-4 of the checkpoint (a fresh init differs by ~0.02): the weights
were loaded, trained and saved in the run. The checkpoint folder is then deleted before evaluate /
predict, which must work from the run alone.
"""
import json
import shutil

import pytest
import torch
from typer.testing import CliRunner

from kexue.data import CharTokenizer, WordPieceTokenizer
from kexue.gplinker import fixture
from kexue.gplinker.cli import app
from kexue.gplinker.data import EventSchema, read_duee
from kexue.gplinker.encoders import RoFormerEncoder, load_encoder
from kexue.gplinker.events import recoverable
from kexue.gplinker.train import GPLinker, GPLinkerConfig, load_run
from kexue.train.checkpoint import read_safetensors
from tests.gplinker._tiny import tiny_bert

torch.set_num_threads(1)
runner = CliRunner()
NUDGE = ["--set", "train.steps=2", "--set", "train.batch_size=4", "--set", "train.lr=1e-5", "--set", "head.head_size=8",
          "--set", "max_len=64"]
SAMPLES = fixture("duee_sample.json")


def _texts() -> list[str]:
    return [s.text for s in read_duee(SAMPLES)]


@pytest.fixture(scope="module")
def roformer_dir(tmp_path_factory):
    """A tiny RoFormerV2 pretrained for one step by `kexue roformer pretrain`'s own function."""
    from kexue.roformer import preset
    from kexue.roformer.pretrain import PretrainConfig, pretrain
    from kexue.train import TrainConfig
    root = tmp_path_factory.mktemp("rf")
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(_texts() * 2) + "\n", encoding="utf-8")
    cfg = PretrainConfig(model=preset("small", hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64),
                         train=TrainConfig(steps=1, batch_size=4, lr=1e-3), corpus=str(corpus), max_len=64,
                         eval_texts=2)
    pretrain(cfg, root / "ckpt", progress=False)
    return root / "ckpt"


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    """A tiny transformers BertModel with a BERT-ordered vocab.txt ([PAD] 0, [UNK] 2, [CLS] 3, ...)."""
    chars = sorted({c.lower() for t in _texts() for c in t if not c.isspace()})
    vocab = ["[PAD]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, "##0", "##1"]
    return tiny_bert(tmp_path_factory.mktemp("hf") / "bert", vocab, spare_ids=3)


def _train_then_delete(ckpt, tmp_path):
    """Train on a copy of the checkpoint, then delete the copy: from here on only the run folder exists."""
    copy, run = tmp_path / "ckpt", tmp_path / "run"
    shutil.copytree(ckpt, copy)
    r = runner.invoke(app, ["events", "train", "--train", str(SAMPLES), "--encoder", str(copy), "--out", str(run),
                            *NUDGE])
    assert r.exit_code == 0, r.output
    shutil.rmtree(copy)
    return run


def _evaluate_and_predict(run, tmp_path):
    r = runner.invoke(app, ["events", "evaluate", "--model", str(run), "--data", str(SAMPLES), "--json"])
    assert r.exit_code == 0, r.output
    assert {"event_level/f1", "argument_level/f1"} <= json.loads(r.stdout).keys()
    src = tmp_path / "in.txt"
    src.write_text("\n".join(_texts()) + "\n", encoding="utf-8")
    r = runner.invoke(app, ["events", "predict", "--model", str(run), "--input", str(src),
                            "--output", str(tmp_path / "out.json")])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (tmp_path / "out.json").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(_texts())
    # every predicted span is the text at its character offset, whatever the tokenizer
    for row in rows:
        for e in row["event_list"]:
            for a in e["arguments"]:
                if a["argument_start_index"] >= 0:
                    start = a["argument_start_index"]
                    assert row["text"][start:start + len(a["argument"])] == a["argument"]


def _initial_encoder(ckpt) -> torch.nn.Module:
    schema = EventSchema.read(fixture("duee_event_schema.json"))
    return GPLinker.pretrained(GPLinkerConfig(max_len=64), schema.labels(), ckpt).model.encoder.eval()


def _assert_near_encoder(run, ckpt_tensors, prefix):
    run_tensors, _ = read_safetensors(run / "model.safetensors")
    ours = {k.removeprefix(prefix): v for k, v in run_tensors.items() if k.startswith(prefix)}
    assert ours and ours.keys() <= ckpt_tensors.keys()
    for k, v in ours.items():
        assert torch.allclose(v, ckpt_tensors[k], atol=1e-4, rtol=0), k


def test_roformer_encoder_end_to_end(roformer_dir, tmp_path):
    from kexue.roformer import load_pretrained
    checkpoint = load_pretrained(roformer_dir)
    ckpt_tensors = checkpoint.state_dict()
    initial = _initial_encoder(roformer_dir)
    assert all(torch.equal(v, ckpt_tensors[k.removeprefix("roformer.")]) for k, v in initial.state_dict().items())
    ids = torch.tensor([CharTokenizer.load(roformer_dir).encode(_texts()[0])])
    with torch.no_grad():
        assert torch.equal(initial(ids, ids != 0), checkpoint(ids))
    vocab = (roformer_dir / "vocab.txt").read_text(encoding="utf-8")
    run = _train_then_delete(roformer_dir, tmp_path)
    _assert_near_encoder(run, ckpt_tensors, "encoder.roformer.")
    assert (run / "vocab.txt").read_text(encoding="utf-8") == vocab  # the checkpoint's own tokenizer
    g = load_run(run)
    assert g.cfg.encoder.kind == "roformer" and isinstance(g.model.encoder, RoFormerEncoder)
    assert isinstance(g.tokenizer, CharTokenizer) and g.tokenizer.encode(_texts()[0]) == ids[0].tolist()
    _evaluate_and_predict(run, tmp_path)


def test_hf_encoder_end_to_end(hf_dir, tmp_path):
    import transformers as transformers
    reference = transformers.AutoModel.from_pretrained(hf_dir, local_files_only=True).eval()
    ckpt_tensors = reference.state_dict()
    initial = _initial_encoder(hf_dir)
    assert all(torch.equal(v, ckpt_tensors[k.removeprefix("model.")]) for k, v in initial.state_dict().items())
    run = _train_then_delete(hf_dir, tmp_path)
    _assert_near_encoder(run, ckpt_tensors, "encoder.model.")
    g = load_run(run)
    assert g.cfg.encoder.kind == "hf" and isinstance(g.tokenizer, WordPieceTokenizer)
    assert g.tokenizer.cls_id == 3 and g.tokenizer.pad_id == 0
    text = "苹果公司ABC裁员200人。"
    ids, offsets = g.encode(text)
    # "ABC" is one [UNK] word; "200" is 2 ##0 ##0
    assert [text[s:e] for s, e in offsets[1:-1]] == ["苹", "果", "公", "司", "ABC", "裁", "员", "2", "0", "0", "人", "。"]
    ids = torch.tensor([ids])
    with torch.no_grad():
        want = reference(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        assert torch.equal(initial(ids, ids != 0), want)
    _evaluate_and_predict(run, tmp_path)


def test_wordpiece_offsets_keep_the_codec_exact(hf_dir):
    """encode gold → ±big logits → decode gives each fixture sample back with BERT's WordPiece offsets
    exactly when it does with one token per character (every fixture span lies on word boundaries)."""
    schema = EventSchema.read(fixture("duee_event_schema.json"))
    wordpiece, char = WordPieceTokenizer(hf_dir / "vocab.txt", nfkc=False), CharTokenizer.build(_texts())
    samples = read_duee(SAMPLES, schema)
    got = [recoverable(s, schema, wordpiece.encode_with_offsets(s.text)[1]) for s in samples]
    assert got == [recoverable(s, schema, char.encode_with_offsets(s.text)[1]) for s in samples]
    assert any(got)


def test_bad_encoder_path_is_one_line(tmp_path, monkeypatch):
    for path in (tmp_path / "nowhere", tmp_path):  # missing; a folder without config.json
        r = runner.invoke(app, ["events", "train", "--train", str(SAMPLES), "--encoder", str(path),
                                "--out", str(tmp_path / "run"), *NUDGE])
        assert r.exit_code == 2 and str(path) in r.output and "Traceback" not in r.output
        assert len(r.output.strip().splitlines()) == 1
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    (hf / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", encoding="utf-8")
    monkeypatch.setitem(__import__("sys").modules, "transformers", None)  # as if not installed
    with pytest.raises(ValueError, match="pip install transformers"):
        load_encoder(hf)


def test_hf_roformer_v2_is_imported_not_read_as_v1(tmp_path):
    """JunnYu's HF RoFormerV2 format goes through kexue's strict importer (HF's RoFormerModel is v1)."""
    from kexue.roformer import RoFormerV2
    from tests.roformer.test_roformer_import import CFG, write_hf
    torch.manual_seed(0)
    model = RoFormerV2(CFG).eval()
    folder = write_hf(tmp_path / "junnyu", model)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"北京天气很好"]
    (folder / "vocab.txt").write_text("".join(f"{v}\n" for v in vocab), encoding="utf-8")
    cfg, encoder, tok = load_encoder(folder)
    assert cfg.kind == "roformer" and cfg.tokenizer == "wordpiece" and isinstance(tok, WordPieceTokenizer)
    ids = torch.tensor([tok.encode("北京天气很好")])
    with torch.no_grad():
        assert torch.equal(encoder.eval()(ids, ids != 0), model(ids))


def test_resume_rebuilds_the_pretrained_encoder_from_the_run(roformer_dir, tmp_path):
    """`train --resume` of an `--encoder` run needs no --encoder: the run's config.json and vocab.txt
    rebuild it; an --encoder that is not the run's is a one-line error."""
    run = tmp_path / "run"
    r = runner.invoke(app, ["events", "train", "--train", str(SAMPLES), "--encoder", str(roformer_dir),
                            "--out", str(run), *NUDGE])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["events", "train", "--train", str(SAMPLES), "--out", str(run), "--resume",
                            "--set", "train.steps=4"])
    assert r.exit_code == 0, r.output
    assert "after 4 steps" in r.output
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
             if "step" in json.loads(x)]
    assert max(steps) == 4
    g = load_run(run)
    assert g.cfg.train.steps == 4 and g.cfg.train.batch_size == 4  # the saved settings, with the new --set
    assert g.cfg.encoder.kind == "roformer" and isinstance(g.model.encoder, RoFormerEncoder)
    # with the same --encoder it resumes too; with another one it stops in one line
    r = runner.invoke(app, ["events", "train", "--train", str(SAMPLES), "--encoder", str(roformer_dir),
                            "--out", str(run), "--resume", "--set", "train.steps=5"])
    assert r.exit_code == 0, r.output
    other = tmp_path / "other"
    shutil.copytree(roformer_dir, other)
    cfg = json.loads((other / "config.json").read_text(encoding="utf-8"))
    cfg["run"]["model"]["dropout"] = 0.3  # same weights, another encoder config
    (other / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    r = runner.invoke(app, ["events", "train", "--train", str(SAMPLES), "--encoder", str(other),
                            "--out", str(run), "--resume", "--set", "train.steps=6"])
    assert r.exit_code == 2 and "drop --encoder" in r.output and "Traceback" not in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1


def test_full_preset_runs_the_duee_recipe_on_given_paths(roformer_dir, tmp_path, monkeypatch):
    """The fixture as a fake DuEE folder, the tiny RoFormerV2 as the encoder (one from $KEXUE_ENCODER):
    the DuEE claim is measured beside 81.47; DuIE, without a folder, is not checkable."""
    from dataclasses import replace

    from kexue.gplinker.reproduce import preset, published_claims, resolve_paths
    from kexue.train import TrainConfig
    duee = tmp_path / "duee"
    duee.mkdir()
    for name in ("duee_train.json", "duee_dev.json"):
        shutil.copy(SAMPLES, duee / name)
    shutil.copy(fixture("duee_event_schema.json"), duee / "duee_event_schema.json")
    monkeypatch.delenv("KEXUE_DUIE", raising=False)
    monkeypatch.delenv("KEXUE_DUEE", raising=False)
    monkeypatch.setenv("KEXUE_ENCODER", str(roformer_dir))
    cfg = replace(preset("full"), duee_dir=str(duee), max_len=64,
                  duee=TrainConfig(batch_size=4, lr=1e-5, log_every=1), duee_steps=1)
    metrics = {}
    d, r = published_claims(cfg, resolve_paths(cfg), tmp_path / "runs", metrics)
    assert d.verdict in ("held", "not held") and "81.47" in d.measured and "event-level F1" in d.measured
    assert {"event_level/f1", "argument_level/f1"} <= metrics["duee"].keys()
    assert load_run(tmp_path / "runs" / "duee").cfg.encoder.kind == "roformer"
    assert r.verdict == "not checkable" and "duie_dir" in r.measured


def test_heldout_claim_is_decided_on_a_pretrained_encoder(roformer_dir, tmp_path):
    """With an encoder (`encoder_path`), the held-out claim leaves "not checkable": the rule decides it, its
    floor being what the model learned on the training templates (2 steps here: did not learn)."""
    from kexue.gplinker.experiments import heldout
    from kexue.gplinker.reproduce import claim_heldout, preset
    m = heldout("relations", preset("smoke"), tmp_path, encoder=roformer_dir)
    assert m["encoder"] == str(roformer_dir)
    assert load_run(tmp_path / "relations").cfg.encoder.kind == "roformer"
    claim = claim_heldout("relations", m)
    assert claim.verdict == "inconclusive" and "did not learn" in claim.rule
