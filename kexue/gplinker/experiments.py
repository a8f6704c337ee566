"""The trained measurements of GPLinker's claims (posts 8877, 8926, 8888): EGP against GP on MSRA NER over
seeds, and events / relations on generated sentences whose test templates and names training never showed.
Each returns the numbers the rules of claims.py read (and the dev curves for the figure); no verdicts here.

Where we depart: the posts fine-tune a pretrained BERT / RoBERTa. Without `encoder` (a checkpoint folder,
encoders.py) the encoder is a from-scratch `TinyEncoder`; with one, GPLinker starts from it and trains with
Adam at the posts' 2e-5 for the preset's steps.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from kexue.data import CharTokenizer, load_msra
from kexue.gplinker import fixture
from kexue.gplinker.builtin import MSRA_TYPES
from kexue.gplinker.claims import bootstrap_f1_se
from kexue.gplinker.data import NERSample
from kexue.gplinker.model import HeadConfig
from kexue.gplinker.tasks import get_task
from kexue.gplinker.train import GPLinker, GPLinkerConfig
from kexue.nn.params import count_parameters
from kexue.train import read_metrics

if TYPE_CHECKING:
    from kexue.gplinker.reproduce import GPLinkerPreset

FINE_TUNE_LR = 2e-5  # the posts' Adam learning rate on a pretrained encoder (duee_v1.py, duie_v1.py)


def ner_f1s(cfg: GPLinkerPreset, runs: Path, progress: bool = False) -> dict[str, Any]:
    """MSRA test entity F1 of GP and EGP heads on the same from-scratch encoder, one run per seed, each
    ending on its best dev weights; with the head parameters and every run's dev curve."""
    pool = [NERSample(t, s) for t, s in load_msra("train") if len(t) <= cfg.ner_max_chars]
    train, dev = pool[:cfg.ner_train], pool[cfg.ner_train:cfg.ner_train + cfg.ner_dev]
    test = [NERSample(t, s) for t, s in load_msra("test") if len(t) <= cfg.ner_max_chars][:cfg.ner_test]
    tok = CharTokenizer.build([s.text for s in train], max_size=6000)
    out: dict[str, Any] = {"gp_f1": [], "egp_f1": [], "curves": {},
                           "sizes": {"train": len(train), "dev": len(dev), "test": len(test)}}
    for pointer in ("gp", "egp"):
        for seed in cfg.seeds:
            torch.manual_seed(seed)
            g = GPLinker(GPLinkerConfig(task="ner", encoder=cfg.encoder, head=HeadConfig(pointer=pointer),
                                        train=replace(cfg.ner, seed=seed), keep_best=cfg.keep_best,
                                        eval_every=cfg.eval_every, sort_by_length=cfg.sort_by_length),
                         MSRA_TYPES, tok)
            run = runs / f"ner-{pointer}-{seed}"
            g.fit(train, dev, run, progress=progress)
            out[f"{pointer}_f1"].append(g.evaluate(test)["entity/f1"])
            out[f"{pointer}_head_params"] = count_parameters(g.model.spans)
            out["curves"][f"NER {pointer.upper()} seed {seed}"] = dev_curve(run, "entity/f1")
    return out


def heldout(name: str, cfg: GPLinkerPreset, runs: Path, encoder: Path | None = None,
            progress: bool = False, lr: float = FINE_TUNE_LR, encoder_lr_scale: float = 1.0) -> dict[str, Any]:
    """Task `name` (events, relations) trained on generated sentences of the training templates and names,
    its best weights picked on dev (new sentences of those templates: on held-out wordings a from-scratch
    encoder scores 0 throughout, which would pick noise), scored on held-out templates and names: the task's
    metrics, the bootstrap SE of its F1 over test sentences, and F1 on more new sentences of the training
    templates (what the model did learn). On an `encoder`, Adam at `lr` on the heads and `lr` ×
    `encoder_lr_scale` on the encoder (the posts': 2e-5 on both)."""
    task = get_task(name)
    gen = task.builtin.generate  # generate.py: sentences in the task's format (DuEE / DuIE)
    key = task.select.removesuffix("/f1")  # event_level, spo
    tr = gen(cfg.gen_train, seed=0, split="train")
    dv, te = gen(cfg.gen_dev, seed=1, split="train"), gen(cfg.gen_dev, seed=2, split="heldout")
    labels = task.schema_labels(fixture(task.schema_fixture), tr)
    gcfg = GPLinkerConfig(task=name, encoder=cfg.encoder, train=cfg.extract, keep_best=cfg.keep_best,
                          eval_every=cfg.eval_every, encoder_lr_scale=encoder_lr_scale)
    torch.manual_seed(0)
    if encoder is None:
        # the vocabulary covers the held-out characters, whose embeddings training never updates
        g = GPLinker(gcfg, labels, CharTokenizer.build([s.text for s in tr + dv + te]))
    else:
        tuned = replace(cfg.extract, optimizer="adam", lr=lr)
        g = GPLinker.pretrained(replace(gcfg, train=tuned), labels, encoder)
    fitted = g.fit(tr, dv, runs / name, progress=progress)
    pred = g.predict([s.text for s in te], trigger=False)
    counts = []
    for p, s in zip(pred, te):
        m = task.score([p], [s])
        counts.append((m[f"{key}/correct"], m[f"{key}/predicted"], m[f"{key}/gold"]))
    scores = task.score(pred, te)
    return {**scores, "key": key, "f1": scores[task.select],
            "f1_se": bootstrap_f1_se(counts), "weights": fitted["weights"], "dev": fitted["dev"],
            "seen_templates_f1": g.evaluate(gen(cfg.gen_dev, seed=3, split="train"))[task.select],
            "sizes": {"train": len(tr), "dev": len(dv), "test": len(te)}, "encoder": str(encoder or "from scratch"),
            "curve": dev_curve(runs / name, task.select)}


def dev_curve(run: Path, metric: str) -> list[tuple[int, float]]:
    """(step, dev metric) of every dev evaluation of a run (metrics.jsonl)."""
    out = []
    for rec in read_metrics(run):
        for key in (f"eval_ema/{metric}", f"eval/{metric}"):
            if key in rec:
                out.append((int(rec.get("step", 0)), float(rec[key])))
                break
    return out
