"""Tiny GPLinker run folders on the bundled fixtures, for the extractor, predict and serve tests.

`fresh_run` writes a run with untrained weights in well under a second (what the service and streaming
tests need: a real model to load and run); `trained_run` trains a few steps.
"""
from __future__ import annotations

from pathlib import Path

from kexue.config import override
from kexue.data import CharTokenizer
from kexue.gplinker import fixture
from kexue.gplinker.data import EventSchema, NERSample, RelationSchema, read_duee, read_duie
from kexue.gplinker.model import shift_logits
from kexue.gplinker.train import GPLinker, GPLinkerConfig
from kexue.train.checkpoint import MODEL_FILE, save_model

TINY = ["encoder.hidden=16", "encoder.heads=2", "encoder.layers=1", "head.head_size=8", "train.batch_size=4",
        "train.lr=1e-2", "train.log_every=1000"]


def tiny_linker(task: str, seed: int = 0) -> tuple[GPLinker, list]:
    """An untrained tiny GPLinker for `task` on its fixture's labels and characters, and the fixture's rows."""
    import torch
    if task == "events":
        schema = EventSchema.read(fixture("duee_event_schema.json"))
        rows, labels = read_duee(fixture("duee_sample.json"), schema), schema.labels()
    elif task == "relations":
        schema = RelationSchema.read(fixture("duie_schema.json"))
        rows, labels = read_duie(fixture("duie_sample.json"), schema), schema.predicates
    elif task == "ner":
        rows = [NERSample("张三在北京大学读书。", [(0, 2, "PER"), (3, 7, "ORG")]),
                NERSample("李四去了上海。", [(0, 2, "PER"), (4, 6, "LOC")])]
        labels = ["LOC", "ORG", "PER"]
    else:
        raise ValueError(f"no fixture for task {task!r}")
    cfg = override(GPLinkerConfig(task=task), TINY)
    torch.manual_seed(seed)
    return GPLinker(cfg, labels, CharTokenizer.build([r.text for r in rows], max_size=cfg.encoder.vocab)), rows


def fresh_run(task: str, out: Path, seed: int = 0, shift: float = 0.0) -> Path:
    """A run folder holding an untrained tiny model (config.json, vocab.txt, model.safetensors).

    `shift` is added to every logit (through each EfficientGlobalPointer's q_dense bias: s_α(i, j) gets
    bias_{2α}(j) + bias_{2α+1}(i), each half of q_dense's output): a negative shift makes most cells
    negative, as in a trained model, so decoding stays as fast as a trained model's."""
    g, _ = tiny_linker(task, seed)
    if shift:
        shift_logits(g.model, shift)
    out.mkdir(parents=True, exist_ok=True)
    g.save_meta(out)
    save_model(g.model, out / MODEL_FILE, {"step": "0"})
    return out


def trained_run(task: str, out: Path, steps: int = 20) -> Path:
    g, rows = tiny_linker(task)
    g.cfg = override(g.cfg, [f"train.steps={steps}"])
    g.fit(rows, None, out)
    return out


def tiny_bert(folder: Path, vocab: list[str], spare_ids: int = 0, positions: int = 64) -> Path:
    """A transformers BertModel with random weights (seed 0; 16 wide, one layer, `positions` positions) and a
    BERT-ordered vocab.txt with do_lower_case, as an older `save_pretrained` leaves a folder: an HF checkpoint
    for `--encoder`. `spare_ids`: rows of the embedding beyond the vocabulary."""
    import json

    import torch
    import transformers
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(vocab) + spare_ids, hidden_size=16, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32, max_position_embeddings=positions)
    transformers.BertModel(cfg).save_pretrained(folder)
    (folder / "vocab.txt").write_text("".join(f"{v}\n" for v in vocab), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}), encoding="utf-8")
    return folder
