"""The settings of a training run: one typed dataclass, every field settable with `--set key=value`.

`batch_size` is the *global* batch: the examples behind one optimizer step, summed over all ranks and
all accumulation micro-steps. Each micro-batch therefore holds batch_size / (world_size × grad_accum)
examples, and changing the number of processes does not change the optimisation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


@dataclass
class TrainConfig:
    steps: int = 1000  # optimizer updates in the whole run
    batch_size: int = 32  # global examples per optimizer step (split over ranks × grad_accum)
    grad_accum: int = 1  # micro-steps whose gradients are summed before one update
    lr: float = 1e-3  # base learning rate; a parameter group's rate is lr · lr_scale · factor(t)
    optimizer: Literal["adamw", "adam", "sgd", "lamb"] = "adamw"  # lamb: bert4keras's Adam + layer adaptation
    bias_correction: bool = True  # lamb: divide m, v by 1 − β^t (bert4keras pretraining: False)
    betas: tuple[float, float] = (0.9, 0.999)  # Adam(W) moments; betas[0] is also SGD's momentum (0 = plain SGD)
    eps: float = 1e-8
    weight_decay: float = 0.0  # decoupled for AdamW and LAMB, L2 in the gradient for Adam and SGD (PyTorch's)
    schedule: Literal["constant", "cosine", "piecewise"] = "constant"
    warmup: int = 0  # linear warm-up steps for "constant" and "cosine"
    min_lr_ratio: float = 0.0  # cosine decays to lr · min_lr_ratio at the last step
    piecewise: dict[int, float] | None = None  # Su's {step: factor}, e.g. {1000: 1, 2000: 0.1}
    clip: float | None = None  # clip the global gradient norm to this value; None = off
    ema: float | None = None  # decay, e.g. 0.999; None = off
    amp: bool = False  # bf16 autocast (CUDA, and CPU where supported); the same as precision="bf16"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # autocast dtype; fp16 adds a gradient scaler
    log_every: int = 10  # one metrics.jsonl record every this many steps (and at the last)
    eval_every: int = 0  # 0 = only at the end
    ckpt_every: int = 0  # 0 = only at the end (and by ckpt_minutes, and on SIGINT/SIGTERM)
    ckpt_minutes: float = 10.0  # also a checkpoint when this much wall-clock time passed since the last; 0 = off
    seed: int = 0
    num_workers: int = 0  # DataLoader worker processes
    device: str = "auto"  # cuda:LOCAL_RANK when CUDA is available, else cpu; or e.g. "cpu", "cuda:1", "mps"
    log: Literal["jsonl", "tensorboard", "mlflow", "wandb"] = "jsonl"  # also to a logger (loggers.py), offline
    compile: bool = False  # torch.compile the model for training (checkpoints keep plain tensor names)
    keep_last: int = 1  # committed checkpoints kept in the run folder (ckpt-N/); the newest is `checkpoint`
    deterministic: bool = False  # deterministic algorithms only (torch.use_deterministic_algorithms), no cuDNN benchmark

    def __post_init__(self) -> None:
        positive = {"steps": self.steps, "batch_size": self.batch_size, "grad_accum": self.grad_accum,
                    "log_every": self.log_every, "keep_last": self.keep_last}
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name}={value!r}: must be a positive integer")
        for name in ("warmup", "eval_every", "ckpt_every", "num_workers", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"TrainConfig.{name}={value!r}: must be an integer ≥ 0")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"TrainConfig.lr={self.lr!r}: must be a positive number")
        if not (isinstance(self.weight_decay, (int, float)) and math.isfinite(self.weight_decay)
                and self.weight_decay >= 0):
            raise ValueError(f"TrainConfig.weight_decay={self.weight_decay!r}: must be a number ≥ 0")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"TrainConfig.precision={self.precision!r}: must be fp32, bf16 or fp16")
        if not (isinstance(self.ckpt_minutes, (int, float)) and self.ckpt_minutes >= 0):
            raise ValueError(f"TrainConfig.ckpt_minutes={self.ckpt_minutes!r}: must be a number ≥ 0 (0 = off)")
        if self.log not in LOGGERS:
            raise ValueError(f"TrainConfig.log={self.log!r}: must be one of {', '.join(LOGGERS)}")
        for name in ("compile", "deterministic"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)!r}: must be true or false")
        if self.optimizer not in ("adamw", "adam", "sgd", "lamb"):
            raise ValueError(f"TrainConfig.optimizer={self.optimizer!r}: must be adamw, adam, sgd or lamb")
        if self.schedule not in ("constant", "cosine", "piecewise"):
            raise ValueError(f"TrainConfig.schedule={self.schedule!r}: must be constant, cosine or piecewise")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"TrainConfig.min_lr_ratio={self.min_lr_ratio!r}: must lie in [0, 1]")
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"TrainConfig.clip={self.clip!r}: must be positive, or None for no clipping")
        if self.ema is not None and not 0.0 <= self.ema < 1.0:
            raise ValueError(f"TrainConfig.ema={self.ema!r}: the decay β must lie in [0, 1), or None for off")
        self.betas = tuple(float(b) for b in self.betas)  # a JSON round trip gives a list
        if self.piecewise is not None:
            self.piecewise = _int_keys(self.piecewise)

    def check(self) -> None:
        """The checks across fields, made when training starts (`--set` changes one field at a time), and
        that the logger of `log` finds its package."""
        if self.log != "jsonl":
            from kexue.train.loggers import require_logger

            require_logger(self.log)
        if self.amp and self.precision == "fp16":
            raise ValueError("TrainConfig.amp=True means bf16 but precision='fp16'; set one of them")
        if self.schedule == "piecewise":
            if not self.piecewise:
                raise ValueError("TrainConfig.schedule='piecewise' needs TrainConfig.piecewise, "
                                 "e.g. --set 'piecewise={\"1000\": 1, \"2000\": 0.1}'")
            if self.warmup:
                raise ValueError(f"TrainConfig.warmup={self.warmup}: the piecewise schedule carries its own "
                                 "warm-up (it starts from 0 at step 0); set warmup=0")


# What a resumed run may change: how long it runs, how often (and where) it logs, evaluates and checkpoints.
# Anything else (model, data, optimizer, schedule, seed) is the run's own and stays as it was trained.
MAY_CHANGE_ON_RESUME = ("steps", "log_every", "eval_every", "ckpt_every", "ckpt_minutes", "num_workers", "device",
                        "log", "compile", "keep_last", "deterministic")
LOGGERS = ("jsonl", "tensorboard", "mlflow", "wandb")


def _int_keys(schedule: dict) -> dict[int, float]:
    """{step: factor} with int steps: a dict read from JSON or `--set` has string keys."""
    out: dict[int, float] = {}
    for key, factor in schedule.items():
        try:
            step = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"TrainConfig.piecewise: step {key!r} is not an integer") from None
        if step < 0:
            raise ValueError(f"TrainConfig.piecewise: step {step} is negative")
        out[step] = float(factor)
    return dict(sorted(out.items()))
