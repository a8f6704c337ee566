"""A tiny training run for the resume and DDP tests, run as a script (also under torchrun).

    python tiny_run.py OUT_DIR [--resume] [--dropout P] [--float64] [--accum A] [--steps N] [--device D]
                               [--tensorboard]

With KEXUE_TEST_KILL_AT=k in the environment the process SIGKILLs itself after optimizer step k
(after that step's record and checkpoint are written), as a crash would; with KEXUE_TEST_SIGNAL_AT=k
it sends itself SIGTERM there, as a scheduler would, and exits with the Trainer's 143 (under torchrun
only rank KEXUE_TEST_SIGNAL_RANK does, when that is set: the other ranks must stop at the same step).
KEXUE_TEST_RANK1_STEPS=n gives rank 1 another --steps, as a rank started with other settings.
"""
import argparse
import os
import signal

import torch
from torch import nn
from torch.utils.data import TensorDataset

from kexue.train import TrainConfig, Trainer, leave_and_exit
from kexue.train.loop import TrainingInterrupted


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--float64", action="store_true")
    ap.add_argument("--accum", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--log-every", type=int, default=3)
    ap.add_argument("--ckpt-every", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tensorboard", action="store_true")  # not --log: torchrun would take it for its --log-dir
    args = ap.parse_args()
    if os.environ.get("RANK") == "1" and os.environ.get("KEXUE_TEST_RANK1_STEPS"):  # a rank that disagrees
        args.steps = int(os.environ["KEXUE_TEST_RANK1_STEPS"])
    torch.set_num_threads(1)
    dtype = torch.float64 if args.float64 else torch.float32

    data_gen = torch.Generator().manual_seed(123)
    x = torch.randn(96, 6, generator=data_gen, dtype=dtype)
    y = (x[:, :2].sum(1) > 0).long()
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Dropout(args.dropout), nn.Linear(32, 2)).to(dtype)

    def loss_fn(m: nn.Module, batch: list[torch.Tensor]):
        inputs, labels = batch
        logits = m(inputs)
        accuracy = (logits.argmax(-1) == labels).double().mean().item()
        return nn.functional.cross_entropy(logits, labels), {"accuracy": accuracy}

    def eval_fn(m: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            return {"loss": nn.functional.cross_entropy(m(x), y).item()}

    kill_at = int(os.environ.get("KEXUE_TEST_KILL_AT", "0"))

    signal_at = int(os.environ.get("KEXUE_TEST_SIGNAL_AT", "0"))
    if os.environ.get("KEXUE_TEST_SIGNAL_RANK", os.environ.get("RANK", "0")) != os.environ.get("RANK", "0"):
        signal_at = 0

    def on_step(trainer: Trainer, step: int) -> None:
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if step == signal_at:
            os.kill(os.getpid(), signal.SIGTERM)

    cfg = TrainConfig(steps=args.steps, batch_size=16, grad_accum=args.accum, lr=3e-2, weight_decay=0.01,
                      schedule="cosine", warmup=3, min_lr_ratio=0.1, clip=1.0, ema=0.9,
                      log_every=args.log_every, eval_every=7, ckpt_every=args.ckpt_every, seed=11,
                      log="tensorboard" if args.tensorboard else "jsonl")
    try:
        Trainer(model, cfg, TensorDataset(x, y), loss_fn, args.out, eval_fn=eval_fn, progress=False,
                device=args.device, on_step=on_step).fit(resume=args.resume)
    except TrainingInterrupted as e:
        leave_and_exit(e.exit_code)
    except ValueError as e:
        print(f"error: {e}", flush=True)
        leave_and_exit(2)
    leave_and_exit(0)


if __name__ == "__main__":
    main()
