"""Train-step throughput of RoFormerV2 against its un-simplified variant: the post's speed claim.

kexue.fm/archives/8998: dropping the biases and the norms' γ, β made training 1.3× faster at n = 128
and 1.2× at n = 512 than RoBERTa (3090 for base, A100 for large). One train step here is forward +
backward + AdamW update of the MLM loss on every token, on random ids, timed after warm-up:

    tokens/s = b · n / (best seconds per step),   MFU = (6 · N_matmul · tokens/s + attention FLOPs) / peak matmul FLOP/s

Where we depart: the MLM loss on every token (not on the 15 % selected) so that the head costs what it
does for the baseline too; the same batch each step (data loading is not what the post timed).

The claim (`kexue reproduce`) times both variants with `interleaved_step_seconds`: their steps called in
turn (bert, RoFormerV2, RoFormerV2, bert, …) on the work's own CPU clock, every repeat kept, so that a
busy machine slows both sides alike and the spread, not one lucky step, decides.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from kexue.roformer.config import RoFormerV2Config, bert_variant
from kexue.roformer.model import RoFormerV2
from kexue.timing import best_seconds, interleaved_seconds


def train_step_fn(model: nn.Module, ids: torch.Tensor, logits_fn: Callable, amp: bool) -> Callable[[], None]:
    """A closure that runs one forward + backward + AdamW step of the full-sequence MLM loss."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=ids.is_cuda)
    device_type = ids.device.type

    def step() -> None:
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp):
            logits = logits_fn(model, ids)
            loss = nn.functional.cross_entropy(logits.flatten(0, 1).float(), ids.flatten())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def time_steps(step: Callable[[], None], device: torch.device, warmup: int = 2, steps: int = 5) -> float:
    """Seconds per call of `step`: the best of `steps` calls after `warmup`, on the process's CPU clock
    on the CPU (a machine whose cores are shared does not inflate it by the time spent waiting)."""
    return best_seconds(step, steps, warmup, device, clock="process")


def kexue_throughput(cfg: RoFormerV2Config, batch: int, n: int, device: str = "cpu", amp: bool = False,
                     warmup: int = 2, steps: int = 5, compile: bool = False) -> float:
    """tokens/s of a train step of kexue's RoFormerV2 (either variant)."""
    dev = torch.device(device)
    torch.manual_seed(0)
    model = RoFormerV2(cfg).to(dev).train()
    ids = torch.randint(5, cfg.vocab_size, (batch, n), device=dev)
    fwd = torch.compile(model) if compile else model
    step = train_step_fn(model, ids, lambda m, x: m.mlm_logits(fwd(x)), amp)
    return batch * n / time_steps(step, dev, warmup, steps)


def interleaved_step_seconds(cfg: RoFormerV2Config, batch: int, n: int, device: str = "cpu", amp: bool = False,
                             warmup: int = 1, repeats: int = 5) -> dict[str, list[float]]:
    """{"bert": seconds per step, "roformer_v2": seconds per step}, each of `repeats` train steps of the
    two variants of `cfg` timed in turn (`kexue.timing.interleaved_seconds`, the work's own clock)."""
    dev = torch.device(device)
    ids = torch.randint(5, cfg.vocab_size, (batch, n), generator=torch.Generator().manual_seed(0)).to(dev)
    steps = {}
    for name, model_cfg in (("bert", bert_variant(cfg)), ("roformer_v2", cfg)):
        torch.manual_seed(0)
        model = RoFormerV2(model_cfg).to(dev).train()
        steps[name] = train_step_fn(model, ids, lambda m, x: m.mlm_logits(m(x)), amp)
    return interleaved_seconds(steps, repeats, warmup, dev)


def step_times(cfg: RoFormerV2Config, batch: int, n: int, device: str = "cpu", amp: bool = False,
               warmup: int = 2, steps: int = 5) -> list[float]:
    """Seconds of each of `steps` train steps of kexue's RoFormerV2 (either variant) after `warmup`,
    on the process's CPU clock on the CPU: every repeat, for an interval rather than a best."""
    dev = torch.device(device)
    torch.manual_seed(0)
    model = RoFormerV2(cfg).to(dev).train()
    ids = torch.randint(5, cfg.vocab_size, (batch, n), device=dev)
    step = train_step_fn(model, ids, lambda m, x: m.mlm_logits(m(x)), amp)
    return each_step_seconds(step, dev, warmup, steps)


def each_step_seconds(step: Callable[[], None], dev: torch.device, warmup: int, steps: int) -> list[float]:
    """Seconds of each of `steps` calls of `step` after `warmup`: the process's CPU clock on the CPU (other
    processes on a shared machine do not count), wall-clock with a synchronise on a GPU."""
    import time

    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    now = time.process_time if dev.type == "cpu" else time.perf_counter
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(steps):
        t = now()
        step()
        sync()
        times.append(now() - t)
    return times


def train_flops_per_token(cfg: RoFormerV2Config, n: int) -> float:
    """Matmul FLOPs of one train step per token: 6·(weights in matmuls) + 12·L·n·H for QKᵀ and AV."""
    H, L, F, V = cfg.hidden_size, cfg.num_layers, cfg.intermediate_size, cfg.vocab_size
    # forward 2 FLOPs per weight per token, backward twice that: 6 N; the tied head counts V·H
    matmul_weights = L * (4 * H * H + 2 * H * F) + V * H
    # QKᵀ and AV: 2·2·n·H per token per layer forward, ×3 with backward
    return 6 * matmul_weights + 12 * L * n * H

