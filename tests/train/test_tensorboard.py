"""`TrainConfig.log = "tensorboard"`: event files whose scalars are metrics.jsonl's records, rank 0 only."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # the `test` extra has it
from torch import nn

from kexue.train import TrainConfig, Trainer, read_metrics
from tests.train.test_distributed import SCRIPT, free_port
from tests.train.test_loop import mlp, mse, regression



def scalars(out: Path) -> dict[str, dict[int, float]]:
    """{tag: {step: value}} of every events file in out, as TensorBoard reads them (purges applied)."""
    acc = EventAccumulator(str(out))
    acc.Reload()
    table: dict[str, dict[int, float]] = {}
    for tag in acc.Tags()["scalars"]:
        events = acc.Scalars(tag)
        assert len({e.step for e in events}) == len(events), f"{tag}: a step logged twice"
        table[tag] = {e.step: e.value for e in events}
    return table


def assert_board_is_metrics(out: Path) -> None:
    records, board = read_metrics(out), scalars(out)
    keys = {k for r in records for k in r if k != "step"}
    assert set(board) == keys
    for key in keys:
        want = {r["step"]: r[key] for r in records if key in r}
        assert board[key] == pytest.approx(want, rel=1e-6), key  # stored as float32


def cfg(**kw) -> TrainConfig:
    return TrainConfig(**{**dict(steps=6, batch_size=16, lr=0.02, log_every=1, eval_every=3, log="tensorboard",
                                 ema=0.9), **kw})


def eval_fn(m: nn.Module) -> dict[str, float]:
    x, y = regression()[:]
    with torch.no_grad():
        return {"mse": (m(x) - y).pow(2).mean().item()}


def test_events_hold_the_records_of_metrics_jsonl(tmp_path):
    Trainer(mlp(), cfg(), regression(), mse, tmp_path, eval_fn=eval_fn, progress=False, device="cpu").fit()
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1
    assert {"loss", "lr", "eval_ema/mse", "seconds"} <= set(scalars(tmp_path))
    assert_board_is_metrics(tmp_path)
    # the default writes none
    Trainer(mlp(), cfg(log="jsonl"), regression(), mse, tmp_path / "j", progress=False, device="cpu").fit()
    assert not list((tmp_path / "j").glob("events.*"))


def test_a_resume_purges_what_the_cut_session_logged_after_its_checkpoint(tmp_path):
    def cut(trainer: Trainer, step: int) -> None:
        if step == 5:
            raise RuntimeError("crash")  # after step 5's record, with the checkpoint of step 3

    with pytest.raises(RuntimeError, match="crash"):
        Trainer(mlp(), cfg(ckpt_every=3), regression(), mse, tmp_path, progress=False, device="cpu",
                on_step=cut).fit()
    Trainer(mlp(), cfg(ckpt_every=3), regression(), mse, tmp_path, progress=False, device="cpu").fit(resume=True)
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 2
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3, 4, 5, 6]
    assert sorted(scalars(tmp_path)["loss"]) == [1, 2, 3, 4, 5, 6]  # steps 4, 5 once: the resumed session's
    assert_board_is_metrics(tmp_path)


def test_a_missing_package_is_one_line_naming_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(ValueError, match=r"needs the tensorboard package: pip install 'kexue\[log\]'"):
        Trainer(mlp(), cfg(), regression(), mse, "unused", progress=False, device="cpu")
    with pytest.raises(ValueError, match="must be one of jsonl, tensorboard, mlflow, wandb"):
        TrainConfig(log="comet")


@pytest.mark.slow
def test_under_torchrun_rank_0_alone_writes_events(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(SCRIPT), str(tmp_path),
                           "--steps", "4", "--log-every", "1", "--tensorboard"],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1
    assert torch.load(tmp_path / "trainer_state.pt", weights_only=True)["world_size"] == 2
    assert_board_is_metrics(tmp_path)


def test_the_command_lines_log_option(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from kexue.cli import app

    args = ["lru", "train", "--preset", "smoke", "--no-progress", "--set", "train.steps=2", "--set", "train.log_every=1"]
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "r"), "--log", "tensorboard"])
    assert r.exit_code == 0, r.output
    assert_board_is_metrics(tmp_path / "r")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "x"), "--log", "tensorboard"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "kexue[log]" in r.stderr
    assert not (tmp_path / "x").exists()  # refused before anything was written
