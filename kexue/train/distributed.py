"""One process or many: process-group set-up from torchrun's environment, and the few collectives we need.

Run any training script as `torchrun --nproc_per_node=N script.py`: torchrun sets RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT, and `init_distributed()` joins the group (NCCL when CUDA is
available, gloo on CPU). Without those variables (or with WORLD_SIZE=1) it returns (0, 1, device) and
nothing is distributed. The process group is left open for further Trainers in the same script;
`cleanup_distributed()` closes it at the end.
"""
from __future__ import annotations

import os
import sys
from typing import Any

import torch
import torch.distributed as dist


def init_distributed(device: str | torch.device | None = None) -> tuple[int, int, torch.device]:
    """(rank, world_size, device), joining the torchrun process group if there is one.

    The device is cuda:LOCAL_RANK when CUDA is available, else the CPU; pass `device` to choose
    (e.g. "cpu" on a GPU machine, which then joins with gloo).
    """
    device = parse_device(device)
    if dist.is_available() and dist.is_initialized():
        # the group may have been joined earlier (a command's preamble) for another device: NCCL has no CPU
        if device.type == "cpu" and dist.get_backend() == "nccl":
            raise ValueError("device 'cpu': this torchrun process group was started on CUDA (nccl); give the "
                             "device on the command line (--device cpu or --set train.device=cpu)")
        return dist.get_rank(), dist.get_world_size(), device
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1 or "RANK" not in os.environ:
        return 0, 1, device
    for var in ("MASTER_ADDR", "MASTER_PORT"):
        if var not in os.environ:
            raise RuntimeError(f"WORLD_SIZE={world_size} but {var} is not set; launch with torchrun")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def parse_device(device: str | torch.device | None, said: str | None = None) -> torch.device:
    """The torch.device a --device / train.device value names (None: cuda:LOCAL_RANK when CUDA is available,
    else the CPU), checked against this machine; else a ValueError, starting with `said` (default
    "device 'NAME'"), that says what to use."""
    said = said or f"device {str(device)!r}"
    try:
        d = torch.device(device) if device is not None else _local_device()
    except (RuntimeError, TypeError):
        raise ValueError(f"{said}: not a device; use cpu, cuda, cuda:N or mps") from None
    if d.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ValueError(f"{said}: this machine has no CUDA device; use cpu")
        if d.index is not None and d.index >= n:
            raise ValueError(f"{said}: this machine has {n} CUDA device(s), cuda:0 to cuda:{n - 1}")
    elif d.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{said}: MPS is not available here; use cpu")
    return d


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def leave_and_exit(status: int = 0) -> None:
    """End a torchrun worker: the ranks leave the process group together, then the process exits.

    Under torchrun a gloo rank of torch 2.13 now and then aborts in the interpreter's teardown
    ("terminate called without an active exception", exit −6) after all its work is written, which
    torchrun then reports as a failed run. So after the group is destroyed this leaves through
    os._exit, past that teardown; streams are flushed first. Without a process group it only exits.
    """
    if dist.is_available() and dist.is_initialized():
        if status == 0:
            dist.barrier()  # a failed rank would never arrive: only successful ranks wait
        dist.destroy_process_group()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    raise SystemExit(status)


def world() -> tuple[int, int]:
    """(rank, world_size) of the current process group, (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_reduce_mean(values: dict[str, float | torch.Tensor], device: torch.device) -> dict[str, float]:
    """The mean over ranks of each value; every rank must pass the same keys."""
    keys = sorted(values)
    if not keys:
        return {}
    packed = torch.stack([torch.as_tensor(values[k], dtype=torch.float64, device=device).reshape(())
                          for k in keys])
    _, world_size = world()
    if world_size > 1:
        dist.all_reduce(packed, op=dist.ReduceOp.SUM)
        # x̄ = (1/W) Σ_r x_r
        packed /= world_size
    return dict(zip(keys, packed.tolist()))


def all_reduce_max(values: list[float], device: torch.device) -> list[float]:
    """The element-wise maximum over ranks (e.g. of flags: did any rank see a signal?)."""
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if world()[1] > 1:
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def all_reduce_sum(value: float, device: torch.device) -> float:
    _, world_size = world()
    if world_size == 1:
        return value
    t = torch.tensor(value, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.item()


def gather_to_all(obj: Any) -> list[Any]:
    """`obj` of every rank, in rank order (a list of one without a process group)."""
    _, world_size = world()
    if world_size == 1:
        return [obj]
    out: list[Any] = [None] * world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_from_main(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (pickled; the other ranks' `obj` is ignored and they wait for rank
    0's); `obj` itself without a process group."""
    if world()[1] == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if world()[1] > 1:
        dist.barrier()


def _local_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")
