"""Train a deep model on a long-range task with the one Trainer, and measure its test accuracy.

kexue.fm/archives/9554. The paper's optimiser (App. D): AdamW, linear warm-up over the first 10 % of
the steps, then cosine decay; ν, θ, γ, B at lr × lr_factor and no weight decay (`model.param_groups`);
weight decay 0.05. Table 9's ListOps row is the default model. Where we depart: the paper warms up
from 1e-7 and decays to 1e-7; we warm up from 0 and decay to lr · 1e-3 (the Trainer's schedules).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kexue.lru.model import DeepModel, ModelConfig, param_groups
from kexue.lru.tasks import IGNORE, TaskConfig, TaskSpec, build_task
from kexue.nn.params import count_parameters
from kexue.train import TrainConfig, Trainer


def _paper_train() -> TrainConfig:
    return TrainConfig(steps=2000, batch_size=32, lr=1e-3, optimizer="adamw", weight_decay=0.05,
                       schedule="cosine", warmup=200, min_lr_ratio=1e-3, log_every=50)


@dataclass
class RunConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=_paper_train)
    eval_batch: int = 256


def build_model(cfg: RunConfig, spec: TaskSpec) -> DeepModel:
    return DeepModel(cfg.model, spec.d_output, d_input=spec.d_input, vocab_size=spec.vocab_size,
                     pooling=spec.pooling)


def make_loss(spec: TaskSpec):
    def loss_fn(model: nn.Module, batch: dict[str, torch.Tensor]):
        out = model(batch["x"], batch["length"] if spec.vocab_size else None)
        loss, correct, total = _loss_and_hits(out, batch["y"], spec)
        return loss, {"acc": correct / max(total, 1)}

    return loss_fn


@torch.no_grad()
def evaluate(model: nn.Module, data, spec: TaskSpec, batch_size: int = 256) -> dict[str, float]:
    """Test loss and accuracy (per labelled token for per-token tasks; |error| < 0.04 for adding)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    loss_sum, correct, total, count = 0.0, 0, 0, 0
    for start in range(0, len(data), batch_size):
        idx = range(start, min(len(data), start + batch_size))
        x, y, length = data.x[idx].to(device), data.y[idx].to(device), data.length[idx].to(device)
        out = model(x, length if spec.vocab_size else None)
        loss, c, t = _loss_and_hits(out, y, spec)
        loss_sum += loss.item() * len(idx)
        correct, total, count = correct + c, total + t, count + len(idx)
    model.train(was_training)
    return {"loss": loss_sum / max(count, 1), "acc": correct / max(total, 1)}


def run(cfg: RunConfig, out_dir: str | Path, *, progress: bool = True, resume: bool = False,
        data: tuple | None = None) -> dict[str, Any]:
    """Build the task and model, train, evaluate on the test set; the Trainer's summary plus test metrics."""
    train_set, test_set, spec = data if data is not None else build_task(cfg.task)
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, spec)
    trainer = Trainer(model, cfg.train, train_set, make_loss(spec), out_dir,
                      param_groups=param_groups(cfg.train.weight_decay, cfg.model.lr_factor),
                      eval_fn=lambda m: evaluate(m, test_set, spec, cfg.eval_batch), run_config=cfg,
                      progress=progress)
    summary = trainer.fit(resume=resume)
    summary["params"] = count_parameters(model)
    summary["test_acc"] = summary.get("eval/acc")
    summary["test_loss"] = summary.get("eval/loss")
    return summary


def _loss_and_hits(out: torch.Tensor, y: torch.Tensor, spec: TaskSpec) -> tuple[torch.Tensor, int, int]:
    if spec.kind == "regress":
        loss = F.mse_loss(out, y)
        return loss, int(((out - y).abs() < 0.04).sum()), y.numel()
    if spec.kind == "per_token":
        loss = F.cross_entropy(out.flatten(0, 1), y.flatten(), ignore_index=IGNORE)
        labelled = y != IGNORE
        return loss, int((out.argmax(-1)[labelled] == y[labelled]).sum()), int(labelled.sum())
    loss = F.cross_entropy(out, y)
    return loss, int((out.argmax(-1) == y).sum()), y.numel()
