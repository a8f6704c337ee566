"""Test helper: kill a real `kexue` command (os._exit, as SIGKILL: no cleanup runs) before the k-th
rename, write, sync, link, mkdir or removal of its n-th checkpoint, then continue it, for every k.

Run as `python -m tests.faults SPEC_JSON`: one driver process imports kexue and forks every run (it
runs no torch op itself, so the forks are safe), then prints one JSON line per case:
{"save": n, "op": k, "killed": bool, "rc": the continuation's exit status, "out": folder}. The test
compares the folders with the unbroken run's (`whole`). SPEC: {"root": DIR, "saves": [1, 2]} and either
"args": [...] (a `kexue` command; continued with --auto-resume) or "trainer": true (a tiny Trainer with
EMA, 6 steps, a checkpoint every 2; continued with fit(resume="auto")); "ops": [k, ...] tries only those.
With "full_disk_at_save": n instead, the command runs once into ROOT/full with every os.write of its n-th
checkpoint failing as on a full disk, and the line is {"full": exit status}.
"""
from __future__ import annotations

import json
import os
import sys

OPS = ("replace", "rename", "symlink", "fsync", "write", "mkdir", "unlink", "rmdir")
KILLED = 137


def kill_at(save_no: int, k: int) -> None:
    """Exit at once (status 137) before the k-th file-system operation of the Trainer's save_no-th save."""
    from kexue.train.loop import Trainer

    state = {"save": 0, "op": 0, "active": False}
    save = Trainer.save

    def counted_save(self):
        state["save"] += 1
        state["active"] = state["save"] == save_no
        try:
            return save(self)
        finally:
            state["active"] = False

    Trainer.save = counted_save
    for name in OPS:
        def wrapped(*a, _orig=getattr(os, name), **kw):
            if state["active"]:
                state["op"] += 1
                if state["op"] == k:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(KILLED)
            return _orig(*a, **kw)
        setattr(os, name, wrapped)


def disk_full_at(save_no: int) -> None:
    """Every os.write of the Trainer's save_no-th save fails as on a full disk (ENOSPC)."""
    import errno

    from kexue.train.loop import Trainer

    state = {"save": 0, "active": False}
    save, write = Trainer.save, os.write

    def counted_save(self):
        state["save"] += 1
        state["active"] = state["save"] == save_no
        try:
            return save(self)
        finally:
            state["active"] = False

    def full(fd, data):
        if state["active"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write(fd, data)

    Trainer.save = counted_save
    os.write = full


def run_cli(argv: list[str]) -> int:
    from kexue.cli import app
    try:
        app(argv, prog_name="kexue")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


def run_tiny(out: str, resume: bool) -> int:
    """6 steps of a tiny MLP with EMA, a record every step and a checkpoint every 2."""
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    from kexue.train import TrainConfig, Trainer

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(123)
    x = torch.randn(48, 6, generator=g)
    data = TensorDataset(x, (x[:, :2].sum(1) > 0).long())
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Dropout(0.1), nn.Linear(16, 2))
    cfg = TrainConfig(steps=6, batch_size=8, lr=1e-2, ckpt_every=2, ckpt_minutes=0, log_every=1, ema=0.9)

    def loss_fn(m, batch):
        return nn.functional.cross_entropy(m(batch[0]), batch[1])

    Trainer(model, cfg, data, loss_fn, out, progress=False).fit(resume="auto" if resume else False)
    return 0


def run_forked(spec: dict, out: str, resume: bool = False, fault: tuple[int, int] | None = None) -> int:
    """The exit status of one run in a forked child (killed by `fault` = (save, op) if given)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if fault is not None:
                kill_at(*fault)
            if spec.get("trainer"):
                code = run_tiny(out, resume)
            else:
                code = run_cli([*spec["args"], "--out", out, *(["--auto-resume"] if resume else [])])
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def main(spec: dict) -> None:
    import torch._dynamo  # noqa: F401  (imported once, before the forks: an optimizer imports it lazily)

    import kexue.cli  # noqa: F401

    root = spec["root"]
    if "full_disk_at_save" in spec:
        pid = os.fork()
        if pid == 0:
            disk_full_at(spec["full_disk_at_save"])
            code = run_cli([*spec["args"], "--out", f"{root}/full"])
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        print(json.dumps({"full": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}), flush=True)
        return
    print(json.dumps({"whole": run_forked(spec, f"{root}/whole")}), flush=True)
    for save_no in spec["saves"]:
        for k in spec.get("ops") or range(1, 200):
            out = f"{root}/s{save_no}-k{k}"
            first = run_forked(spec, out, fault=(save_no, k))
            if first != KILLED:  # past the save's last operation: the run ended as the unbroken one
                print(json.dumps({"save": save_no, "op": k, "killed": False, "rc": first, "out": out}), flush=True)
                break
            rc = run_forked(spec, out, resume=True)
            print(json.dumps({"save": save_no, "op": k, "killed": True, "rc": rc, "out": out}), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
