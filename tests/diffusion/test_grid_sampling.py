"""The end-of-run sample grids (issue 24 §4): their cost is said first, they default to DDIM 50 steps, they
show progress, and SIGTERM stops them between two steps (the run had sampled through 1000 steps for 32
minutes, deaf to SIGTERM for 13)."""
import os
import signal
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from kexue.cli import app
from kexue.diffusion import train as diffusion_train
from kexue.diffusion.train import DiffusionConfig, grid_cost
from kexue.train import TrainingInterrupted
from kexue.train.checkpoint import checkpoint_step


def test_the_grids_default_to_ddim_50_and_the_run_says_their_cost_first_and_shows_their_progress(tmp_path,
                                                                                                 monkeypatch):
    su = DiffusionConfig.preset("su")
    assert (su.sample_steps, su.sample_ddim) == (50, True)
    assert grid_cost(su) == ("sample grids at the end: 2 × 64 images × 50 steps of DDIM (σ = 0) = 100 U-Net passes "
                             "on batches of 64 each time; the post's 1000-step chain: --set sample_ddim=false "
                             "--set sample_steps=0")
    post = replace(su, sample_ddim=False, sample_steps=0)
    assert "× 1000 steps of the post's chain (σ = beta) = 2000 U-Net passes" in grid_cost(post)
    monkeypatch.setenv("KEXUE_PROGRESS_SECONDS", "0")  # a log's progress line at every step, not every 30 s
    result = CliRunner().invoke(app, ["diffusion", "train", "--preset", "smoke", "--set", "train.steps=1",
                                      "--set", "T=20", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    first = result.stderr.splitlines()
    assert any("sample grids every 2 steps and at the end: 2 × 8 images × 20 steps of DDIM" in line
               for line in first[:3]), first[:3]
    assert (tmp_path / "run" / "samples" / "step-000001-ema.png").is_file()
    for grid in ("ema", "raw"):  # the grids' own progress, after the last training step's
        for done in ("1/20 (5 %)", "20/20 (100 %)"):
            assert any(line.startswith(f"grid {grid} {done} ") for line in first), (grid, done, first)


def test_sigterm_during_the_last_grids_stops_between_two_steps(tmp_path, monkeypatch):
    cfg = replace(DiffusionConfig.preset("smoke"), T=200, sample_every=0, sample_ddim=False, sample_steps=0,
                  train=replace(DiffusionConfig.preset("smoke").train, steps=2))
    calls = []
    real = diffusion_train.sample

    def sample(model, *a, **kw):
        def counted(x, t, y=None):
            calls.append(int(t[0]))
            if len(calls) == 5:  # SIGTERM at the 5th of the 200 sampling steps
                os.kill(os.getpid(), signal.SIGTERM)
            return model(x, t, y)
        return real(counted, *a, **kw)

    monkeypatch.setattr(diffusion_train, "sample", sample)
    with pytest.raises(TrainingInterrupted) as stopped:
        diffusion_train.train(cfg, tmp_path, progress=False)
    assert stopped.value.exit_code == 143 and stopped.value.step == 2
    assert len(calls) == 5  # stopped before the 6th step, not after the 200th
    assert checkpoint_step(tmp_path) == 2  # the last step's checkpoint was written before sampling
    assert not (tmp_path / "samples").exists()


def test_a_gpu_recipe_on_a_cpu_says_its_time_and_warns_past_a_day(tmp_path, monkeypatch):
    """`diffusion train --preset su` (40,000 LAMB steps) started on a CPU: the estimate from its first steps,
    and the warning, on a fake clock where a step takes a day."""
    from types import SimpleNamespace

    days = iter(range(0, 10**9, 86_400))
    monkeypatch.setattr("kexue.train.estimate.time", SimpleNamespace(perf_counter=lambda: next(days)))
    result = CliRunner().invoke(app, ["diffusion", "train", "--preset", "su", "--set", "train.steps=5",
                                      "--set", "train.batch_size=4", "--set", "sample_n=2", "--set", "T=20",
                                      "--device", "cpu", "--out", str(tmp_path / "su")])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert "estimated time: 3d00h for 3 more steps (8.64e+04 s/step over steps 2–2, cpu)" in lines
    assert ("warning: this run would take more than a day on cpu; it is sized for a GPU (--device cuda), or "
            "shorten it with --set train.steps=N") in lines


@pytest.mark.slow  # ~10 s: a process that imports torch, reads the digits and builds the U-Net first
def test_sigterm_to_a_real_process_in_its_last_grids_exits_143_with_the_checkpoint(tmp_path):
    """`kexue diffusion train` as a process, its last grids on the post's 1000-step chain: a SIGTERM at their
    first progress line ends the process with 143 and the step's checkpoint, before the grids' end (e9de7cb
    drew both grids to their end, said nothing and exited 0)."""
    import subprocess
    import sys

    out = tmp_path / "run"
    env = {**os.environ, "KEXUE_PROGRESS_SECONDS": "0", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "kexue", "diffusion", "train", "--preset", "smoke", "--set",
                             "train.steps=1", "--set", "T=1000", "--set", "sample_every=0", "--set", "sample_ddim=false",
                             "--set", "sample_steps=0", "--out", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("grid ema 1/1000 "):
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 143, "".join(seen) + rest
    assert "SIGTERM: stopping after this step" in "".join(seen) + rest
    assert "grid ema 1000/1000" not in rest and checkpoint_step(out) == 1 and not (out / "samples").exists()
