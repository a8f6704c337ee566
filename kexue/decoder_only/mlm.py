"""Mixed-direction attention vs bidirectional attention for masked language modelling (post 9529).

kexue.fm/archives/9529 proposes, for models that must read both ways, attention whose every matrix
stays full rank: half the heads causal (lower triangular) and half anti-causal (upper), or the
direction alternating by layer; at base size (~100M) his MLM trained "slightly better" with it than
with full bidirectional attention (a training curve, no numbers). Here the three on People's Daily:

    bidirectional   every head sees every real token                    padding_mask
    mixed           heads 0..H/2−1 causal, H/2..H−1 anti-causal          mixed_mask ∧ padding
    alternate       even layers causal, odd layers anti-causal           causal / backward ∧ padding

Whole-word masking as RoFormerV2's pretraining (kexue/roformer/mlm.py, post 8998): each word of the
hand segmentation is selected with probability 15 %; a selected word's characters all become [MASK]
(80 %), stay (10 %) or become random characters (10 %); the loss is the cross-entropy on the selected
characters. Training masks are drawn when an example is read (the Trainer seeds torch), the held-out
masks once, from a fixed seed, so every model is scored on the same positions.

Where we depart: the post gives no setting; the blocks are this topic's (model.py), char-level input.
The masking is kexue/data/masking.py's, the one RoFormerV2's pretraining uses.
"""
from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from kexue.data.masking import MaskingConfig
from kexue.data.masking import whole_word_mask as shared_whole_word_mask
from kexue.data.unigram import unigram_loss
from kexue.decoder_only.model import Block, ModelConfig, stack_qk
from kexue.decoder_only.rank import attention_matrix, effective_rank, trained_effective_ranks
from kexue.nn.attention import backward_mask, causal_mask, mixed_mask, padding_mask
from kexue.nn.norm import RMSNorm
from kexue.nn.params import count_parameters
from kexue.train import TrainConfig, Trainer, load_model

PAD, MASK, UNK = 0, 1, 2
IGNORE = -100
DIRECTIONS: tuple[str, ...] = ("bidirectional", "mixed", "alternate")
MLM_KEYS = ("test_loss", "test_acc", "params", "tokens_per_s", "seconds", "out_dir", "final_loss",
            "steps")  # what a run leaves in its result.json


@dataclass
class MLMTaskConfig:
    min_len: int = 8  # characters per sentence, inclusive
    max_len: int = 48
    n_train: int = 8000
    n_test: int = 300
    max_chars: int = 2000  # the most frequent characters of the training split; the rest are [UNK]
    word_rate: float = 0.15  # probability a word is selected (RoFormerV2's)
    mask_rate: float = 0.8  # of the selected: [MASK]
    keep_rate: float = 0.1  # kept; the rest (0.1) random characters
    split_seed: int = 0


@dataclass
class MLMRunConfig:
    task: MLMTaskConfig = field(default_factory=MLMTaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)  # arch is unused: the direction decides
    direction: str = "bidirectional"
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=300, batch_size=32, lr=3e-3, clip=1.0,
                                                                   schedule="cosine", warmup=30, min_lr_ratio=0.05))
    eval_batch: int = 128


class MLMModel(nn.Module):
    """One stack of this topic's blocks over characters, the direction of each head as its mask."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, direction: str):
        super().__init__()
        if direction not in DIRECTIONS:
            raise ValueError(f"direction {direction!r}: choose one of {', '.join(DIRECTIONS)}")
        if direction == "mixed" and cfg.heads % 2:
            raise ValueError(f"the mixed direction needs an even number of heads, got heads={cfg.heads}")
        self.cfg, self.direction = cfg, direction
        self.embed = nn.Embedding(vocab_size, cfg.hidden)
        nn.init.normal_(self.embed.weight, std=cfg.hidden ** -0.5)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = RMSNorm(cfg.hidden, eps=1e-6)

    def masks(self, n: int, lengths: Tensor) -> list[Tensor]:
        """One mask per layer, [b, 1 or heads, n, n], real keys only."""
        pad = padding_mask(lengths, n)
        if self.direction == "bidirectional":
            return [pad] * len(self.blocks)
        if self.direction == "mixed":
            heads = self.cfg.heads
            # heads 0..H/2−1 causal, the rest anti-causal
            return [mixed_mask(n, [h < heads // 2 for h in range(heads)], lengths.device) & pad] * len(self.blocks)
        return [(causal_mask(n, lengths.device) if layer % 2 == 0 else backward_mask(n, lengths.device)) & pad
                for layer in range(len(self.blocks))]

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """ids [b, n] → logits [b, n, vocab] (tied embedding)."""
        x = self.embed(ids)
        for block, mask in zip(self.blocks, self.masks(ids.shape[1], lengths)):
            x = block(x, mask)
        return self.norm(x) @ self.embed.weight.T


def whole_word_mask(words: list[list[int]], vocab_size: int, cfg: MLMTaskConfig,
                    generator: torch.Generator | None = None) -> tuple[list[int], list[int]]:
    """(input ids, labels) of one sentence given as words of char ids; at least one word is selected
    (kexue/data/masking.py, RoFormerV2's masking; never a special id as a random character)."""
    ids, labels, _ = shared_whole_word_mask(words, mask_id=MASK, vocab_size=vocab_size, special=(PAD, MASK, UNK),
                                            cfg=MaskingConfig(cfg.word_rate, cfg.mask_rate, cfg.keep_rate),
                                            generator=generator)
    return ids, labels


class MaskedSentences(Dataset):
    """Sentences as words of char ids; masked when read (fresh masks every epoch) unless `fixed`."""

    def __init__(self, sentences: list[list[list[int]]], vocab_size: int, cfg: MLMTaskConfig,
                 fixed_seed: int | None = None):
        self.sentences, self.vocab_size, self.cfg = sentences, vocab_size, cfg
        self.fixed = None
        if fixed_seed is not None:
            g = torch.Generator().manual_seed(fixed_seed)
            self.fixed = [whole_word_mask(s, vocab_size, cfg, g) for s in sentences]

    def __len__(self) -> int:
        return len(self.sentences)

    def __getitem__(self, i: int) -> tuple[list[int], list[int]]:
        return self.fixed[i] if self.fixed else whole_word_mask(self.sentences[i], self.vocab_size, self.cfg)


def collate(rows: list[tuple[list[int], list[int]]]) -> dict[str, Tensor]:
    n = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), n), PAD, dtype=torch.long)
    labels = torch.full((len(rows), n), IGNORE, dtype=torch.long)
    for r, (x, y) in enumerate(rows):
        ids[r, :len(x)], labels[r, :len(y)] = torch.tensor(x), torch.tensor(y)
    return {"ids": ids, "labels": labels, "lengths": torch.tensor([len(x) for x, _ in rows])}


def build_mlm_task(cfg: MLMTaskConfig) -> tuple[MaskedSentences, MaskedSentences, list[str], float]:
    """Train (masked on read) and held-out (masked once, seed 1234) sentences, the vocabulary, and the
    unigram floor: the cross-entropy of the held-out masked characters under the training frequencies."""
    from kexue.data.peoples_daily import load_peoples_daily

    seen, items = set(), []
    for s in load_peoples_daily():
        if cfg.min_len <= len(s.text) <= cfg.max_len and s.text not in seen:
            seen.add(s.text)
            items.append(s.words)
    random.Random(cfg.split_seed).shuffle(items)
    test_words, train_words = items[:cfg.n_test], items[cfg.n_test:cfg.n_test + cfg.n_train]
    counts = Counter(ch for words in train_words for w in words for ch in w)
    tokens = ["[PAD]", "[MASK]", "[UNK]"] + [c for c, _ in counts.most_common(cfg.max_chars)]
    index = {t: i for i, t in enumerate(tokens)}

    def encode(sentences):
        return [[[index.get(ch, UNK) for ch in w] for w in words] for words in sentences]

    train = MaskedSentences(encode(train_words), len(tokens), cfg)
    test = MaskedSentences(encode(test_words), len(tokens), cfg, fixed_seed=1234)
    train_ids = (index.get(ch, UNK) for words in train_words for w in words for ch in w)
    targets = (t for _, labels in test.fixed for t in labels if t != IGNORE)
    unigram = unigram_loss(train_ids, targets, len(tokens))
    return train, test, tokens, unigram


def mlm_loss(model: MLMModel, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    logits = model(batch["ids"], batch["lengths"])
    keep = batch["labels"] != IGNORE
    return F.cross_entropy(logits[keep], batch["labels"][keep], reduction="none"), \
        logits[keep].argmax(-1) == batch["labels"][keep]


@torch.no_grad()
def evaluate_mlm(model: MLMModel, data: MaskedSentences, batch_size: int = 128) -> dict[str, float]:
    was = model.training
    model.eval()
    loss, hits, count = 0.0, 0, 0
    for start in range(0, len(data), batch_size):
        losses, hit = mlm_loss(model, collate([data[i] for i in range(start, min(len(data), start + batch_size))]))
        loss, hits, count = loss + float(losses.sum()), hits + int(hit.sum()), count + losses.numel()
    model.train(was)
    return {"loss": loss / count, "acc": hits / count}


def run_mlm(cfg: MLMRunConfig, out_dir: str | Path, *, data: tuple | None = None, progress: bool = True,
            resume: bool | str = False) -> dict[str, Any]:
    """Train one direction; the Trainer's summary with held-out MLM loss and accuracy."""
    train, test, tokens, unigram = data if data is not None else build_mlm_task(cfg.task)
    torch.manual_seed(cfg.train.seed)
    model = MLMModel(cfg.model, len(tokens), cfg.direction)

    def loss_fn(m, batch):
        losses, hits = mlm_loss(m, batch)
        return losses.mean(), {"acc": float(hits.float().mean())}

    trainer = Trainer(model, cfg.train, train, loss_fn, out_dir, collate_fn=collate, run_config=cfg,
                      progress=progress, count_tokens=lambda b: int(b["lengths"].sum()))
    summary = trainer.fit(resume=resume)
    if trainer.rank:
        return summary
    held = evaluate_mlm(model, test, cfg.eval_batch)
    summary.update(test_loss=held["loss"], test_acc=held["acc"], unigram_loss=unigram,
                   params=count_parameters(model), direction=cfg.direction)
    return summary


def compare_mlm(base: MLMRunConfig, directions: tuple[str, ...], seeds: int, out_dir: str | Path, *,
                data: tuple | None = None, progress: bool = False, resume: bool = True) -> dict[str, list[dict]]:
    """Each direction × seed on one masked data set, in out_dir/`direction-seed{s}` (its measurements and
    settings in result.json); resume=True (the default, as the CLI's --resume) reads the finished ones back,
    continues the cut one and starts the missing ones; resume=False trains every run anew. The runs to
    train are independent, and run side by side on the topic's cores (`train.train_missing`)."""
    from kexue.decoder_only.train import train_missing

    data = data or build_mlm_task(base.task)
    runs = [(direction, replace(base, direction=direction, train=replace(base.train, seed=seed)),
             Path(out_dir) / f"{direction}-seed{seed}") for direction in directions for seed in range(seeds)]
    return train_missing(mlm_run, runs, resume, data, progress, resume)


def mlm_run(cfg: MLMRunConfig, folder: Path, data: tuple, progress: bool = False, resume: bool = True
            ) -> dict[str, Any]:
    """One run of `compare_mlm`, trained in `folder` (continued from its checkpoint when resume): its
    measurements, left there in result.json (another rank of a torchrun: the Trainer's summary)."""
    from kexue.config import to_dict
    from kexue.decoder_only.train import write_result

    s = run_mlm(cfg, folder, data=data, progress=progress, resume="auto" if resume else False)
    if s.get("rank"):
        return s
    row = {k: s.get(k) for k in MLM_KEYS}
    write_result(folder, row, to_dict(cfg))
    return row


@torch.no_grad()
def attention_qk(model: MLMModel, ids: list[int]) -> list[tuple[Tensor, Tensor]]:
    """The rotated q, k [heads, n, head_size] every layer of `model` computes on one sentence ids [n]."""
    model.eval()
    x = torch.tensor(ids)[None]
    return stack_qk(model.blocks, model.embed(x), model.masks(len(ids), torch.tensor([len(ids)])))


def head_kinds(direction: str, layer: int, heads: int) -> list[str]:
    """The attention kind (rank.attention_matrix's) of each head of `layer` under `direction`."""
    if direction == "bidirectional":
        return ["bidirectional"] * heads
    if direction == "mixed":
        return ["causal" if h < heads // 2 else "backward" for h in range(heads)]
    return ["causal" if layer % 2 == 0 else "backward"] * heads


def trained_ranks(cfg: MLMRunConfig, runs: dict[str, list[dict]], data: tuple, sentences: int, min_len: int) -> dict:
    """The low-rank claim on the Q, K a trained bidirectional MLM computes: for each seed's model
    (runs["bidirectional"], compare_mlm's results), on the first `sentences` held-out sentences (as masked
    for evaluation) of at least `min_len` characters, the mean effective rank per (layer, head) of the
    bidirectional matrix it uses and of the causal one on the same Q, K: one unit per seed × layer × head.
    For context, "mixed": the same for the matrices the mixed-direction models use (causal, anti-causal)."""
    _, test, tokens, _ = data
    inputs = [ids for ids, _ in test.fixed if len(ids) >= min_len][:sentences]
    out: dict = {"bidirectional": [], "causal": [], "seed": [], "mixed": [], "n": [len(ids) for ids in inputs],
                 "d": cfg.model.head_size or cfg.model.hidden // cfg.model.heads}
    if not inputs:
        return out
    for seed, row in enumerate(runs["bidirectional"]):
        model = _load(cfg, row, len(tokens), "bidirectional")
        ranks = trained_effective_ranks([attention_qk(model, ids) for ids in inputs])
        for kind in ("bidirectional", "causal"):
            out[kind].extend(ranks[kind])
        out["seed"].extend([seed] * len(ranks["causal"]))
    for row in runs.get("mixed", []):
        model = _load(cfg, row, len(tokens), "mixed")
        qk = [attention_qk(model, ids) for ids in inputs]
        for layer in range(cfg.model.layers):
            for h, kind in enumerate(head_kinds("mixed", layer, cfg.model.heads)):
                # the mean over sentences of exp H(σ/Σσ) of the matrix this head uses
                out["mixed"].append(sum(float(effective_rank(attention_matrix(q[layer][0][h].double(),
                                                                               q[layer][1][h].double(), kind)))
                                        for q in qk) / len(qk))
    return out


def _load(cfg: MLMRunConfig, row: dict, vocab_size: int, direction: str) -> MLMModel:
    model = MLMModel(cfg.model, vocab_size, direction)
    load_model(model, row["out_dir"])
    return model.eval()
