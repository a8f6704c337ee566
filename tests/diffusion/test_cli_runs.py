"""`kexue diffusion train` as a run: interrupt and resume bit-identical, run folders, one-line errors."""
import json

import torch
from typer.testing import CliRunner

from kexue.cli import app
from kexue.train.checkpoint import read_safetensors
from tests.interrupt import assert_identical, random_step, signal_after

runner = CliRunner()
TRAIN = ["diffusion", "train", "--preset", "smoke", "--no-progress", "--set", "train.steps=5",
         "--set", "train.log_every=1"]


def test_sigint_at_a_random_step_then_resume_is_bit_identical(tmp_path):
    r = runner.invoke(app, [*TRAIN, "--out", str(tmp_path / "whole")])
    assert r.exit_code == 0, r.output
    k = random_step(5)
    with signal_after(k):
        r = runner.invoke(app, [*TRAIN, "--out", str(tmp_path / "cut")])
    assert r.exit_code == 130 and f"interrupted at step {k}; continue with --resume" in r.stderr, r.output
    r = runner.invoke(app, ["diffusion", "train", "--no-progress", "--out", str(tmp_path / "cut"), "--resume"])
    assert r.exit_code == 0, r.output
    assert_identical(tmp_path / "whole", tmp_path / "cut", [1, 2, 3, 4, 5])
    ema_whole, _ = read_safetensors(tmp_path / "whole" / "ema.safetensors")
    ema_cut, _ = read_safetensors(tmp_path / "cut" / "ema.safetensors")
    assert all((ema_whole[n] == ema_cut[n]).all() for n in ema_whole)
    grids = sorted(p.name for p in (tmp_path / "cut" / "samples").iterdir())
    assert grids == sorted(p.name for p in (tmp_path / "whole" / "samples").iterdir())


def test_two_fresh_runs_with_one_seed_start_from_the_same_weights(tmp_path):
    """The U-Net is built after the run's seed is set: whatever ran before, the first checkpoints agree."""
    one = [*TRAIN, "--set", "train.steps=1"]
    torch.manual_seed(1)
    assert runner.invoke(app, [*one, "--out", str(tmp_path / "a")]).exit_code == 0
    torch.randn(1000)  # another global random state before the second run
    assert runner.invoke(app, [*one, "--out", str(tmp_path / "b")]).exit_code == 0
    for name in ("model.safetensors", "ema.safetensors"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    r = runner.invoke(app, [*one, "--set", "train.seed=1", "--out", str(tmp_path / "c")])
    assert r.exit_code == 0  # another seed: other weights (the comparison can fail)
    assert (tmp_path / "c" / "model.safetensors").read_bytes() != (tmp_path / "a" / "model.safetensors").read_bytes()


def test_a_second_run_into_the_folder_is_refused_and_sampling_checks_its_run(tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, [*TRAIN, "--out", str(out), "--set", "train.steps=2"]).exit_code == 0
    r = runner.invoke(app, [*TRAIN, "--out", str(out)])
    assert r.exit_code == 2 and "already holds a `kexue diffusion train` run" in r.stderr
    # sample_every may change on a resume (it is recorded as such); the schedule may not
    r = runner.invoke(app, ["diffusion", "train", "--no-progress", "--out", str(out), "--resume",
                            "--set", "T=20"])
    assert r.exit_code == 2 and "T=50" in r.stderr
    r = runner.invoke(app, ["diffusion", "train", "--no-progress", "--out", str(out), "--resume",
                            "--set", "sample_every=1", "--set", "train.steps=3"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "config.json").read_text())["run"]["sample_every"] == 1
    (tmp_path / "lru").mkdir()
    (tmp_path / "lru" / "run.json").write_text(json.dumps({"command": "kexue lru train"}))
    r = runner.invoke(app, ["diffusion", "sample", "--checkpoint", str(tmp_path / "lru"),
                            "--out", str(tmp_path / "s.png")])
    assert r.exit_code == 2 and "is a `kexue lru train` run" in r.stderr
    r = runner.invoke(app, ["diffusion", "sample", "--checkpoint", str(out), "--out", str(tmp_path)])
    assert r.exit_code == 2 and r.stderr.startswith("error: --out") and "is a folder" in r.stderr
    r = runner.invoke(app, ["diffusion", "sample", "--checkpoint", str(out), "--device", "cuda:7",
                            "--out", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "cuda:7" in r.stderr
