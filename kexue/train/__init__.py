"""The one training loop every topic uses: DDP under torchrun, bf16 AMP, EMA, gradient accumulation,
LR schedules, parameter groups, atomic checkpoints (safetensors + JSON config), resume, progress bar,
metrics.jsonl and an end-of-run summary.

    from kexue.train import TrainConfig, Trainer, load_model
    summary = Trainer(model, TrainConfig(steps=500, lr=3e-4), dataset, loss_fn, "runs/x").fit()
    load_model(model, "runs/x", ema=True)

Each optimizer step can be watched: `Trainer(..., callbacks=[fn])`, or `register_step_callback(fn)` for the
Trainers a command builds; `fn(trainer, step, loss)` (kexue/train/callbacks.py).
"""
from kexue.train.batches import ShardedBatchSampler, to_device
from kexue.train.callbacks import register_step_callback
from kexue.train.checkpoint import atomic_path, load_model, save_model
from kexue.train.distributed import cleanup_distributed, init_distributed, leave_and_exit
from kexue.train.ema import EMA
from kexue.train.interrupt import TrainingInterrupted
from kexue.train.loop import Trainer
from kexue.train.optim import decay_groups
from kexue.train.progress import read_metrics
from kexue.train.resume import may_change_on_resume
from kexue.train.rng import seed_everything
from kexue.train.schedule import lr_factor, piecewise_linear, warmup_cosine
from kexue.train.settings import TrainConfig

__all__ = ["EMA", "ShardedBatchSampler", "TrainConfig", "Trainer", "TrainingInterrupted", "may_change_on_resume", "atomic_path", "cleanup_distributed", "leave_and_exit",
           "decay_groups", "init_distributed", "load_model", "lr_factor", "piecewise_linear", "read_metrics",
           "register_step_callback", "save_model", "seed_everything", "to_device", "warmup_cosine"]
