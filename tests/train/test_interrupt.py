"""Runs that never lose work: SIGINT/SIGTERM checkpoints, clock checkpoints, resume from the run's settings."""
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from kexue.train import TrainConfig, Trainer, read_metrics
from kexue.train.checkpoint import read_safetensors
from kexue.train.loop import TrainingInterrupted


def data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 5, generator=g)
    return TensorDataset(x, (x[:, :2].sum(1) > 0).long())


def model() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 2))


def loss_fn(m, batch):
    x, y = batch
    return nn.functional.cross_entropy(m(x), y)


CFG = TrainConfig(steps=12, batch_size=8, lr=3e-2, schedule="cosine", warmup=2, clip=1.0, ema=0.9,
                  log_every=3, eval_every=5, seed=5)


def fit(out: Path, cfg: TrainConfig = CFG, resume=False, signal_at: int = 0, signum=signal.SIGINT):
    def on_step(trainer, step):
        if step == signal_at:
            os.kill(os.getpid(), signum)  # a real signal, through the real handler

    eval_fn = lambda m: {"w": m[0].weight.sum().item()}
    return Trainer(model(), cfg, data(), loss_fn, out, eval_fn=eval_fn, progress=False, device="cpu",
                   on_step=on_step).fit(resume=resume)


def same_run(a: Path, b: Path) -> None:
    wa, meta_a = read_safetensors(a / "model.safetensors")
    wb, meta_b = read_safetensors(b / "model.safetensors")
    assert meta_a["step"] == meta_b["step"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]
    assert strip(read_metrics(a)) == strip(read_metrics(b))


@pytest.mark.parametrize("signum, code, at", [(signal.SIGINT, 130, 4), (signal.SIGTERM, 143, 7)])
def test_a_signal_checkpoints_the_step_and_resume_ends_bit_identical(tmp_path, signum, code, at):
    before = signal.getsignal(signal.SIGINT)  # the default handler, or SIG_IGN in a background job
    fit(tmp_path / "whole")
    with pytest.raises(TrainingInterrupted) as e:
        fit(tmp_path / "cut", signal_at=at, signum=signum)
    assert e.value.step == at and e.value.exit_code == code
    assert str(e.value) == f"interrupted at step {at}; continue with --resume"
    _, meta = read_safetensors(tmp_path / "cut" / "model.safetensors")
    assert meta["step"] == str(at)  # at is no log, eval or checkpoint step: the signal wrote it
    assert signal.getsignal(signal.SIGINT) == before  # handlers restored
    fit(tmp_path / "cut", resume=True)
    same_run(tmp_path / "whole", tmp_path / "cut")


def test_a_signal_changes_nothing_when_it_does_not_stop_the_run(tmp_path):
    # negative control of the comparison above: a different seed is caught by same_run
    fit(tmp_path / "a")
    fit(tmp_path / "b", replace(CFG, seed=6))
    with pytest.raises(AssertionError):
        same_run(tmp_path / "a", tmp_path / "b")


def test_the_clock_writes_checkpoints_between_step_checkpoints(tmp_path):
    for minutes in (1e-9, 0):
        out, on_disk = tmp_path / str(minutes), []

        def on_step(trainer, step):  # the step of the weights on disk when step `step` is done
            weights = out / "model.safetensors"
            on_disk.append(read_safetensors(weights)[1]["step"] if weights.exists() else None)

        cfg = replace(CFG, steps=4, ckpt_minutes=minutes)
        Trainer(model(), cfg, data(), loss_fn, out, progress=False, device="cpu", on_step=on_step).fit()
        # a tiny interval: every step is a checkpoint (written after on_step, so seen a step later); off:
        # only the last step (written before on_step)
        assert on_disk == ([None, "1", "2", "4"] if minutes else [None, None, None, "4"])


def test_resume_needs_something_to_resume(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        fit(tmp_path / "empty", resume=True)
    fit(tmp_path / "auto", resume="auto")  # a fresh start
    assert read_metrics(tmp_path / "auto")[-1]["step"] == CFG.steps


def test_resume_keeps_the_runs_settings(tmp_path):
    fit(tmp_path / "r", replace(CFG, steps=6))
    with pytest.raises(ValueError, match=r"lr = 0\.01, the run's 0\.03"):
        fit(tmp_path / "r", replace(CFG, steps=12, lr=1e-2), resume=True)
    with pytest.raises(ValueError, match="at step 6, past train.steps=4"):
        fit(tmp_path / "r", replace(CFG, steps=4), resume=True)
    # more steps and other frequencies may change
    fit(tmp_path / "r", replace(CFG, steps=12, eval_every=4, log_every=2, ckpt_minutes=0), resume=True)
    assert read_metrics(tmp_path / "r")[-1]["step"] == 12


def test_fp16_scales_the_loss_and_keeps_the_scaler(tmp_path):
    cfg = replace(CFG, steps=6, precision="fp16", ema=None)
    trainer = Trainer(model(), cfg, data(), loss_fn, tmp_path, progress=False, device="cpu")
    summary = trainer.fit()
    assert trainer.scaler is not None and trainer.scaler.get_scale() > 1
    state = torch.load(tmp_path / "trainer_state.pt", weights_only=True)
    assert state["scaler"]["scale"] == trainer.scaler.get_scale()
    first = read_metrics(tmp_path)[0]["loss"]
    assert summary["final_loss"] < first  # it learns under fp16 autocast


@pytest.mark.slow
def test_sigterm_to_a_real_process_exits_after_a_checkpoint(tmp_path):
    script = Path(__file__).with_name("tiny_run.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KEXUE_TEST_SIGNAL_AT": "6"}
    proc = subprocess.run([sys.executable, str(script), str(tmp_path), "--steps", "20"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 143, proc.stderr
    _, meta = read_safetensors(tmp_path / "model.safetensors")
    assert meta["step"] == "6"


def test_the_first_signal_is_answered_at_once(capfd):
    """During a long step the first Ctrl-C looked ignored; now it says at once what will happen."""
    import os
    import signal

    from kexue.train.interrupt import StopSignals

    with StopSignals(unit="generation") as stop:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs between two bytecodes of this loop
            if stop.signum:
                break
    assert stop.signum == signal.SIGINT
    err = capfd.readouterr().err
    assert "SIGINT: stopping after this generation and saving a checkpoint" in err


def test_the_first_ctrl_c_of_a_real_command_is_answered_within_its_step(tmp_path, capfd, monkeypatch):
    """Issue 24 §4, through `kexue lru train`: a SIGINT in the middle of step 2 is answered before the step
    ends (it looked ignored, and the second Ctrl-C then left no checkpoint); the run stops after that step
    with its checkpoint, exit 130."""
    from typer.testing import CliRunner

    from kexue.cli import app
    from kexue.train.checkpoint import checkpoint_step

    real = Trainer._train_step

    def step(self, t):
        out = real(self, t)
        if t == 1:  # in step 2: a Ctrl-C, then the rest of a long step
            os.kill(os.getpid(), signal.SIGINT)
            os.write(2, b"[the rest of step 2]\n")
        return out

    monkeypatch.setattr(Trainer, "_train_step", step)
    r = CliRunner().invoke(app, ["lru", "train", "--task", "copy", "--preset", "smoke", "--set", "train.steps=4",
                                 "--no-progress", "--out", str(tmp_path / "run")])
    err = capfd.readouterr().err
    assert r.exit_code == 130 and checkpoint_step(tmp_path / "run") == 2, r.output
    said = "SIGINT: stopping after this step and saving a checkpoint"
    assert said in err and err.index(said) < err.index("[the rest of step 2]"), err
