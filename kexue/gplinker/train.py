"""Train, evaluate and predict GPLinker on events, relations or NER, through kexue's one Trainer.

kexue.fm/archives/8926, 8888, 8373. Loss: the sparse multilabel CE on every GlobalPointer output,
(i, j) flattened to i·n + j, padded with (0, 0), summed over heads and averaged over the batch, summed
over the outputs (duee_v1.py compiles the same loss on its three outputs). Where we depart: the posts
train a pretrained BERT with Adam 2e-5 for 200 (events) / 20 (relations) epochs; the quick preset
trains `TinyEncoder` from scratch with AdamW 1e-3 for a few hundred steps, so its F1s are those of a
small model on synthetic data; `GPLinker.pretrained` (CLI `--encoder PATH`) starts from a kexue
RoFormerV2 or an HF checkpoint instead (encoders.py). A trained run folder holds model.safetensors
(encoder and heads, the last step), vocab.txt and gplinker.json (task, labels, model settings, the
encoder's config) — all `load_run` needs; the checkpoint folder is never read again. Trained with dev
data it also holds best.safetensors and best.json: as the posts' scripts (an Evaluator callback every
epoch that saves the weights of the best dev F1, then loads them to predict), the weights of the best
dev evaluation, which `fit` ends with and `load_run` prefers.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import safe_open
from torch import Tensor

from kexue.config import from_dict, override, to_dict
from kexue.gplinker.data import EventSample, NERSample, RelationSample
from kexue.gplinker.events import decode_events, encode_events, labels_tensor
from kexue.gplinker.metrics import event_prf, set_prf, soft_argument_prf
from kexue.gplinker.encoders import Tokenizer, build_encoder, load_encoder, load_tokenizer
from kexue.gplinker.model import EncoderConfig, EventModel, HeadConfig, NERModel, RelationModel
from kexue.gplinker.ner import decode_entities, encode_entities
from kexue.gplinker.relations import decode_relations, encode_relations
from kexue.nn.losses import global_pointer_crossentropy
from kexue.train import TrainConfig, Trainer
from kexue.train.checkpoint import MODEL_FILE, STATE_FILE, load_model, save_model, write_json

Task = Literal["events", "relations", "ner"]
RUN_FILE = "gplinker.json"
BEST_FILE = "best.safetensors"  # the weights of the best dev evaluation
BEST_RECORD = "best.json"  # its step, the metric it was chosen on, and all its dev metrics
# the dev F1 the scripts keep the best of: duee_v1.py best_model.e.weights (event level), duie_v1.py
SELECT = {"events": "event_level/f1", "relations": "spo/f1", "ner": "entity/f1"}


@dataclass
class GPLinkerConfig:
    task: Task = "events"
    max_len: int = 128  # the posts' maxlen, [CLS] and [SEP] included
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=300, batch_size=32, lr=1e-3, log_every=50))
    dense_loss: bool = False  # the dense multilabel CE instead of the sparse one (post 8888: 1.5× slower)
    keep_best: bool = True  # with dev data: evaluate every eval_every steps, keep the best weights (Su's Evaluator)
    eval_every: int = 0  # steps between those dev evaluations (replaces train.eval_every); 0 = once per epoch

    def __post_init__(self) -> None:
        if not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise ValueError(f"GPLinkerConfig.eval_every={self.eval_every!r}: must be an integer ≥ 0 "
                             "(0 = once per epoch)")


class GPLinker:
    """A model with its tokenizer and label space: encode batches, decode logits, evaluate, predict."""

    def __init__(self, cfg: GPLinkerConfig, labels: list, tokenizer: Tokenizer, model: torch.nn.Module | None = None,
                 encoder: torch.nn.Module | None = None):
        self.cfg, self.labels, self.tokenizer = cfg, labels, tokenizer
        if model is None:
            enc = encoder if encoder is not None else build_encoder(cfg.encoder, tokenizer.vocab_size)
            model = {"events": EventModel, "relations": RelationModel, "ner": NERModel}[cfg.task](
                enc, len(labels), cfg.head)
        self.model = model
        self.weights = "fresh"  # which weights the model holds (set by fit and load_run)

    @classmethod
    def pretrained(cls, cfg: GPLinkerConfig, labels: list, path: str | Path) -> "GPLinker":
        """GPLinker on the pretrained encoder of the checkpoint folder `path`, with its own tokenizer."""
        enc_cfg, encoder, tokenizer = load_encoder(path, cfg.encoder)
        positions = enc_cfg.model.get("max_position_embeddings") if enc_cfg.kind == "hf" else (
            enc_cfg.model.get("max_position") if enc_cfg.model.get("position") == "learned" else None)
        if positions is not None and cfg.max_len > positions:
            raise ValueError(f"--encoder {path}: max_len={cfg.max_len} is over the model's {positions} positions; "
                             f"--set max_len={positions}")
        return cls(replace(cfg, encoder=enc_cfg), labels, tokenizer, encoder=encoder)

    # -- batches -----------------------------------------------------------------------------------
    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        return self.tokenizer.encode_with_offsets(text, max_len=self.cfg.max_len)

    def label_sets(self, sample: Any, offsets: list[tuple[int, int]]) -> list[list[set]]:
        """Per output, per head, the set of (i, j) cells."""
        if self.cfg.task == "events":
            lab = encode_events(sample, self.labels, offsets)
            return [lab.argu, [lab.head], [lab.tail]]
        if self.cfg.task == "relations":
            return list(encode_relations(sample, self.labels, offsets))
        return [encode_entities(sample, self.labels, offsets)]

    def collate(self, samples: list) -> dict[str, Tensor]:
        encoded = [self.encode(s.text) for s in samples]
        n = max(len(ids) for ids, _ in encoded)
        ids = torch.zeros(len(samples), n, dtype=torch.long)
        for b, (row, _) in enumerate(encoded):
            ids[b, :len(row)] = torch.tensor(row)
        sets = [self.label_sets(s, offsets) for s, (_, offsets) in zip(samples, encoded)]
        out = {"ids": ids, "mask": ids != self.tokenizer.pad_id}
        for k in range(len(sets[0])):
            out[f"labels{k}"] = labels_tensor([row[k] for row in sets])
        return out

    def loss(self, model: torch.nn.Module, batch: dict[str, Tensor]) -> Tensor:
        outputs = model(batch["ids"], batch["mask"])
        total = 0.0
        for k, logits in enumerate(outputs):
            labels = batch[f"labels{k}"]
            if self.cfg.dense_loss:
                dense = torch.zeros_like(logits)
                b, h, p, _ = labels.shape
                bi = torch.arange(b)[:, None, None].expand(b, h, p)
                hi = torch.arange(h)[None, :, None].expand(b, h, p)
                dense[bi, hi, labels[..., 0], labels[..., 1]] = 1
                dense[:, :, 0, 0] = 0  # the (0, 0) padding is no label
                total = total + global_pointer_crossentropy(logits, dense, sparse=False)
            else:
                total = total + global_pointer_crossentropy(logits, labels)
        return total

    # -- decoding ----------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, texts: list[str], batch_size: int = 32, trigger: bool = True) -> list:
        """events: list of events per text; relations: set of (s, p, o); ner: set of (start, end, type)."""
        self.model.eval()
        out = []
        for at in range(0, len(texts), batch_size):
            chunk = texts[at:at + batch_size]
            encoded = [self.encode(t) for t in chunk]
            n = max(len(ids) for ids, _ in encoded)
            ids = torch.zeros(len(chunk), n, dtype=torch.long)
            for b, (row, _) in enumerate(encoded):
                ids[b, :len(row)] = torch.tensor(row)
            device = next(self.model.parameters()).device
            outputs = [o.float().cpu() for o in self.model(ids.to(device), (ids != self.tokenizer.pad_id).to(device))]
            for b, (text, (_, offsets)) in enumerate(zip(chunk, encoded)):
                if self.cfg.task == "events":
                    out.append(decode_events(outputs[0][b], outputs[1][b, 0], outputs[2][b, 0], text, offsets,
                                             self.labels, trigger=trigger))
                elif self.cfg.task == "relations":
                    out.append(decode_relations(outputs[0][b], outputs[1][b], outputs[2][b], text, offsets, self.labels))
                else:
                    out.append(decode_entities(outputs[0][b], offsets, self.labels))
        return out

    def evaluate(self, samples: list) -> dict[str, float]:
        """The post's metrics, each named: events (event_level/*, argument_level/*, soft_argument/*),
        relations (spo/*), ner (entity/*)."""
        texts = [s.text for s in samples]
        if self.cfg.task == "events":
            pred = self.predict(texts, trigger=False)  # as duee_v1.py's evaluate
            gold = [s.events for s in samples]
            return {**event_prf(pred, gold), **soft_argument_prf(pred, gold, [s.aliases for s in samples])}
        if self.cfg.task == "relations":
            m = set_prf(self.predict(texts), [s.spo() for s in samples])
            return {f"spo/{k}": v for k, v in m.items()}
        m = set_prf(self.predict(texts), [set(s.entities) for s in samples])
        return {f"entity/{k}": v for k, v in m.items()}

    # -- runs --------------------------------------------------------------------------------------
    def fit(self, train: list, dev: list | None, out_dir: str | Path, progress: bool = False,
            resume: bool = False) -> dict[str, Any]:
        """Train on `train`. With `dev` and cfg.keep_best, as the posts' Evaluator: evaluate on dev every
        cfg.eval_every steps (0: once per epoch) and at the last step, keep the weights of the best
        SELECT[task] F1 in best.safetensors (a tie goes to the later step, as their `>=`) with best.json,
        and end holding them (the scripts load best_model.weights to predict). The summary's `weights`
        says which weights the model holds, `best` the best evaluation (None without one), `dev` the dev
        metrics of the weights it ends with (best.json's, else one evaluation; None without dev)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.save_meta(out_dir)
        keep = bool(dev) and self.cfg.keep_best
        tcfg = self.cfg.train
        if keep:
            # the scripts' epoch in steps: ⌈|train| / batch_size⌉ (bert4keras also yields the short last batch)
            tcfg = replace(tcfg, eval_every=self.cfg.eval_every or math.ceil(len(train) / tcfg.batch_size))
        eval_fn = (lambda model: self.evaluate(dev)) if dev else None
        continuing = resume and (out_dir / STATE_FILE).is_file()
        keeper = BestWeights(out_dir, SELECT[self.cfg.task], read_best(out_dir) if continuing else None)
        trainer = Trainer(self.model, tcfg, train, lambda m, b: self.loss(m, b), out_dir, collate_fn=self.collate,
                          eval_fn=eval_fn, on_eval=keeper if keep else None, run_config=self.cfg, progress=progress)
        if trainer.is_main and not continuing:  # a new run: an earlier run's best is not this run's
            for name in (BEST_FILE, BEST_RECORD):
                (out_dir / name).unlink(missing_ok=True)
        summary = trainer.fit(resume=resume)
        self.model = trainer.model
        best = read_best(out_dir) if keep else None
        dev_metrics = None
        if best is not None:
            load_model(self.model, out_dir / BEST_FILE)
            # those weights were evaluated when they were kept: "eval_ema/event_level/f1" → "event_level/f1"
            record = json.loads((out_dir / BEST_RECORD).read_text(encoding="utf-8"))
            dev_metrics = {k.split("/", 1)[1]: v for k, v in record["metrics"].items()}
        elif dev:
            dev_metrics = self.evaluate(dev)
        self.weights = describe_weights(out_dir, best)
        return {**summary, "weights": self.weights, "best": best, "dev": dev_metrics}

    def save_meta(self, out_dir: Path) -> None:
        self.tokenizer.save(out_dir / "vocab.txt")
        (out_dir / RUN_FILE).write_text(json.dumps({"config": to_dict(self.cfg), "labels": self.labels},
                                                   ensure_ascii=False, indent=1), encoding="utf-8")


def load_run(run_dir: str | Path, device: str = "cpu", last: bool = False) -> GPLinker:
    """A trained run folder (gplinker.json, vocab.txt, best.safetensors or model.safetensors) → GPLinker,
    strictly loaded: the best dev weights when the run kept them, else (or with last=True) the last step's.
    `.weights` says which. A pretrained encoder is rebuilt from its config in gplinker.json; its weights
    are in the run's file."""
    run_dir = Path(run_dir)
    g = rebuild_run(run_dir)
    best = None if last else read_best(run_dir)
    load_model(g.model, run_dir / BEST_FILE if best is not None else run_dir)
    g.weights = describe_weights(run_dir, best)
    g.model.to(device).eval()
    return g


class BestWeights:
    """The Trainer's on_eval hook that keeps the weights of the best dev `metric` (duee_v1.py's Evaluator):
    best.safetensors, written atomically with its step, metric and value in the file's metadata (what
    read_best trusts), and best.json beside it with all the metrics of that evaluation."""

    def __init__(self, out_dir: Path, metric: str, best: dict[str, Any] | None = None):
        self.out_dir, self.metric, self.best = out_dir, metric, best

    def __call__(self, trainer: Trainer, metrics: dict[str, float]) -> dict[str, Any]:
        key = next((k for k in (f"eval_ema/{self.metric}", f"eval/{self.metric}") if k in metrics), None)
        if key is None:
            raise ValueError(f"keep_best: the dev evaluation has no {self.metric} (got {', '.join(metrics)}); "
                             "set keep_best=false")
        # the scripts' `if f1 >= best_f1`: a tie goes to the later step
        if self.best is None or metrics[key] >= self.best["value"]:
            self.best = {"step": trainer.step, "metric": key, "value": metrics[key], "metrics": metrics}
            save_model(trainer.model, self.out_dir / BEST_FILE,
                       {"step": str(trainer.step), "metric": key, "value": repr(metrics[key])})
            write_json(self.out_dir / BEST_RECORD, self.best)
        return {"best/step": self.best["step"], "best/f1": self.best["value"]}


def read_best(run_dir: str | Path) -> dict[str, Any] | None:
    """{step, metric, value} of a run's best.safetensors, from the file's own metadata; None without one."""
    file = Path(run_dir) / BEST_FILE
    if not file.is_file():
        return None
    with safe_open(str(file), framework="pt", device="cpu") as f:
        meta = f.metadata() or {}
    if not {"step", "metric", "value"} <= meta.keys():
        raise ValueError(f"{file}: no step/metric/value in its metadata; not written by `kexue gplinker` "
                         "training (delete it to use model.safetensors)")
    return {"step": int(meta["step"]), "metric": meta["metric"], "value": float(meta["value"])}


def describe_weights(run_dir: Path, best: dict[str, Any] | None) -> str:
    """One line naming the weights a model holds, e.g. for the command line's output."""
    if best is not None:
        return f"{BEST_FILE} (best dev {best['metric']} {best['value']:.4f} at step {best['step']})"
    with safe_open(str(Path(run_dir) / MODEL_FILE), framework="pt", device="cpu") as f:
        step = (f.metadata() or {}).get("step", "?")
    return f"{MODEL_FILE} (the last step, {step})"


def rebuild_run(run_dir: str | Path, sets: list[str] | None = None) -> GPLinker:
    """The GPLinker a run folder was trained as (its gplinker.json config and labels, its vocab.txt read as
    its encoder reads it), with fresh weights: what `--resume` continues, whatever --encoder was.
    `sets` (`key=value`) apply on top of the saved config, e.g. train.steps=4 to train further."""
    run_dir = Path(run_dir)
    meta_file = run_dir / RUN_FILE
    if not meta_file.is_file():
        raise FileNotFoundError(f"{meta_file}: not a GPLinker run folder (train one with `kexue gplinker ... train`)")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    cfg = override(from_dict(GPLinkerConfig, meta["config"]), sets)
    labels = [tuple(x) if isinstance(x, list) else x for x in meta["labels"]]
    return GPLinker(cfg, labels, load_tokenizer(cfg.encoder, run_dir / "vocab.txt"))


def same_encoder(a: EncoderConfig, b: EncoderConfig) -> bool:
    """Whether two encoder configs build the same encoder and read vocab.txt alike (`source` is a record only)."""
    return to_dict(replace(a, source="")) == to_dict(replace(b, source=""))


def samples_of(task: Task, rows: list) -> list:
    """Type check of what a task trains on."""
    want = {"events": EventSample, "relations": RelationSample, "ner": NERSample}[task]
    for k, r in enumerate(rows):
        if not isinstance(r, want):
            raise TypeError(f"sample {k} is a {type(r).__name__}; the {task} task trains on {want.__name__}")
    return rows
