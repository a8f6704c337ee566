"""A small causal character LM on People's Daily with one block and LRU / SLRU / softmax-attention mixers.

kexue.fm/archives/9554 ends with Su's own LM runs (100M parameters, RoFormerV2's block with its
attention swapped for a mixer of similar size): GAU > SA > RWKV > LRU > SLRU, and "as the training
length grows, attention gets better and the RNNs worse". This is the same comparison at CPU size: the
deep model of `model.py` (pre-norm block, mixer → GELU → GLU, residual) with `pooling="none"`, a
character embedding and a next-character head, trained on the same windows with the same steps;
only the mixer differs. Sizes are matched as Su matches them (bojone/rnn `models.py`):

    softmax attention (Q, K, V, O with bias)   4H² + 4H
    LRU, N = H complex states                  4NH + 3N + H = 4H² + 4H
    SLRU, N = 2H real states ("twice the units") 2·(2H)·H + 2·2H + H = 4H² + 5H

Where we depart: LayerNorm instead of the deep model's BatchNorm (BatchNorm's batch statistics mix
positions, which a causal LM must not do), AdamW on the Trainer's cosine schedule instead of Tiger,
and no GAU or RWKV (kexue has neither mixer). Loss is in nats per predicted character on held-out
windows that follow the training text.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from kexue.data.char_lm import char_corpus, windows
from kexue.data.tokenizers import CharTokenizer
from kexue.data.unigram import unigram_loss
from kexue.lru.model import DeepModel, ModelConfig, param_groups
from kexue.nn.params import count_parameters
from kexue.parallel import map_runs
from kexue.train import TrainConfig
from kexue.train.lm import next_token_loss, train_and_score

MIXERS = ("transformer", "lru", "slru")


def matched(model: ModelConfig) -> ModelConfig:
    """Su's sizes: N = H for the LRU, N = 2H for the SLRU (real, so twice the units for the same
    parameters); attention has no state size."""
    if model.model == "slru":
        return replace(model, d_state=2 * model.d_model)
    return replace(model, d_state=model.d_model)


@dataclass
class LMConfig:
    model: ModelConfig = field(default_factory=lambda: ModelConfig(
        d_model=64, depth=2, norm="layer", r_min=0.5, r_max=0.99, heads=4, lr_factor=0.5))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=300, batch_size=32, lr=3e-3, weight_decay=0.05, schedule="cosine", warmup=30, clip=1.0,
        log_every=25))
    mixers: tuple[str, ...] = MIXERS
    seeds: tuple[int, ...] = (0, 1, 2)
    length: int = 64  # characters per training window
    long_length: int = 0  # > 0: train again at this length (same characters per batch), for "RNNs fall
    #                       further behind as the training length grows"
    long_mixers: tuple[str, ...] = ("transformer", "lru")  # the mixers trained again at long_length
    train_chars: int = 300_000
    eval_chars: int = 16_384
    vocab_size: int = 3000


def corpus(cfg: LMConfig) -> tuple[CharTokenizer, torch.Tensor, torch.Tensor]:
    """(tokenizer, training ids, held-out ids): the first train_chars characters, then eval_chars more."""
    return char_corpus(cfg.train_chars, cfg.eval_chars, cfg.vocab_size)


def train_one(cfg: LMConfig, mixer: str, seed: int, length: int, tok: CharTokenizer, train_ids: torch.Tensor,
              eval_ids: torch.Tensor, out_dir: Path, progress: bool = False) -> dict:
    """Train one LM; its held-out loss, parameter count and training curve."""
    model_cfg = matched(replace(cfg.model, model=mixer))
    # windows of length + 1 every length characters: `length` inputs and targets, no transition lost
    train_w, eval_w = windows(train_ids, length + 1, length), windows(eval_ids, length + 1, length)
    torch.manual_seed(seed)
    model = DeepModel(model_cfg, tok.vocab_size, vocab_size=tok.vocab_size, pooling="none")
    train_cfg = replace(cfg.train, seed=seed)
    r = train_and_score(model, train_cfg, train_w, (eval_w,), out_dir, loss=next_token_loss,
                        param_groups=param_groups(train_cfg.weight_decay, model_cfg.lr_factor),
                        run_config=replace(cfg, model=model_cfg), progress=progress)
    return {"mixer": mixer, "seed": seed, "length": length, "eval_loss": r["eval_loss"],
            "eval_ppl": math.exp(r["eval_loss"]), "params": count_parameters(model),
            "mixer_params": count_parameters(model.blocks[0].mixer), "d_state": model_cfg.d_state,
            "seconds": r["seconds"], "curve": r["curve"]}


def compare(cfg: LMConfig, out_dir: Path, progress: bool = False) -> dict:
    """Every mixer × seed at `length` (and `long_mixers` × seed at `long_length` when set), the runs side by
    side (kexue.parallel); losses by length and mixer."""
    tok, train_ids, eval_ids = corpus(cfg)
    lengths = (cfg.length,) + ((cfg.long_length,) if cfg.long_length else ())
    # the same characters per batch at every length: batch × length is held at the short length's
    per_length = {n: replace(cfg, train=replace(cfg.train, batch_size=max(1, cfg.train.batch_size * cfg.length // n)))
                  for n in lengths}
    mixers = {n: cfg.mixers if n == cfg.length else tuple(m for m in cfg.mixers if m in cfg.long_mixers)
              for n in lengths}
    rows = map_runs(train_one, [(per_length[n], m, s, n, tok, train_ids, eval_ids, out_dir / f"L{n}-{m}-seed{s}",
                                 progress) for n in lengths for s in cfg.seeds for m in mixers[n]])
    loss = {n: {m: [r["eval_loss"] for r in rows if r["length"] == n and r["mixer"] == m] for m in mixers[n]}
            for n in lengths}
    return {"rows": rows, "loss": loss, "unigram": unigram_loss(train_ids, eval_ids, tok.vocab_size),
            "lengths": lengths}
