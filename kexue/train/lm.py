"""Train a language model on rows of ids and score it on held-out rows: the attention study's
(kexue.fm/archives/8610) and the LRU's (9554) character-LM runs, through the one Trainer.

`next_token_loss` is the causal LM's loss, −log p(x_{t+1} | x_≤t) averaged over every predicted
token; `train_and_score` trains with any per-batch loss, evaluates held-out rows in batches at every
evaluation of the Trainer (the last one with EMA weights when EMA is on) and returns the final
held-out loss beside the training curve of metrics.jsonl.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from kexue.train.loop import Trainer
from kexue.train.progress import read_metrics
from kexue.train.settings import TrainConfig


def next_token_loss(model: nn.Module, ids: Tensor) -> Tensor:
    """−log p(x_{t+1} | x_≤t), averaged over every predicted token of ids [B, n + 1] (logits = model(ids[:, :-1]))."""
    logits = model(ids[:, :-1])
    return F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())


def train_and_score(model: nn.Module, cfg: TrainConfig, train: Tensor, held_out: Sequence[Tensor], out_dir: str | Path,
                    *, loss: Callable[[nn.Module, Tensor], Tensor] = next_token_loss,
                    eval_loss: Callable[..., Tensor] | None = None, eval_batch: int = 64,
                    param_groups: Callable[[nn.Module], list[dict]] | None = None, run_config: Any = None,
                    progress: bool = False, resume: bool | str = False) -> dict[str, Any]:
    """Train `model` on the rows of `train` with loss(model, rows) and score it on `held_out`.

    held_out: tensors whose rows go together (the held-out ids; an MLM's fixed inputs and targets);
    eval_loss(model, *rows) scores a batch of eval_batch rows (default: `loss` on the first tensor), and
    the held-out loss is the row-weighted mean over the batches. resume is the Trainer's (True, or
    "auto": continue the run in out_dir if it has a checkpoint, else start it).
    Returns eval_loss, train_loss (the last logged window), seconds and curve [(step, loss)]."""
    eval_loss = eval_loss or loss

    @torch.no_grad()
    def eval_fn(m: nn.Module) -> dict[str, float]:
        m.eval()
        dev = next(m.parameters()).device
        n, total = len(held_out[0]), 0.0
        for i in range(0, n, eval_batch):
            rows = [t[i: i + eval_batch].to(dev) for t in held_out]
            total += float(eval_loss(m, *rows)) * len(rows[0])
        m.train()
        return {"loss": total / n}

    trainer = Trainer(model, cfg, TensorDataset(train), lambda m, batch: loss(m, batch[0]), out_dir,
                      param_groups=param_groups, eval_fn=eval_fn, run_config=run_config, progress=progress)
    summary = trainer.fit(resume=resume)
    records = read_metrics(out_dir)
    return {"eval_loss": summary["eval_ema/loss" if cfg.ema else "eval/loss"], "train_loss": summary.get("final_loss"),
            "seconds": summary.get("seconds"),
            "curve": [(r["step"], r["loss"]) for r in records if "loss" in r and "step" in r]}
