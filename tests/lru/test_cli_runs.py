"""`kexue lru train` as a run: protected folders, resume from the run's settings, interrupt and resume."""
import json

from typer.testing import CliRunner

from kexue.cli import app
from tests.interrupt import assert_identical, random_step, signal_after

runner = CliRunner()
TRAIN = ["lru", "train", "--preset", "smoke", "--no-progress"]


def test_sigint_at_a_random_step_then_resume_is_bit_identical(tmp_path):
    steps = 6
    r = runner.invoke(app, [*TRAIN, "--set", f"train.steps={steps}", "--set", "train.log_every=1",
                            "--out", str(tmp_path / "whole")])
    assert r.exit_code == 0, r.output
    k = random_step(steps)
    with signal_after(k):
        r = runner.invoke(app, [*TRAIN, "--set", f"train.steps={steps}", "--set", "train.log_every=1",
                                "--out", str(tmp_path / "cut")])
    assert r.exit_code == 130, r.output
    assert f"interrupted at step {k}; continue with --resume --out {tmp_path / 'cut'}" in r.stderr
    # the resume names nothing but the folder: the run's own settings (steps=6, log_every=1) come back
    r = runner.invoke(app, ["lru", "train", "--no-progress", "--out", str(tmp_path / "cut"), "--resume"])
    assert r.exit_code == 0, r.output
    assert_identical(tmp_path / "whole", tmp_path / "cut", list(range(1, steps + 1)))
    sessions = json.loads((tmp_path / "cut" / "run.json").read_text())["sessions"]
    assert [s["resume"] for s in sessions] == [False, True]


def test_the_run_folder_is_protected(tmp_path):
    out = tmp_path / "run"
    first = [*TRAIN, "--set", "train.steps=2", "--out", str(out)]
    assert runner.invoke(app, first).exit_code == 0
    weights = (out / "model.safetensors").read_bytes()
    record = json.loads((out / "run.json").read_text())
    assert record["command"] == "kexue lru train" and record["kexue"] and record["options"]["task"] == "copy"

    r = runner.invoke(app, first)  # the same command again: refused, nothing touched
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "--resume" in r.stderr and "--overwrite" in r.stderr
    assert (out / "model.safetensors").read_bytes() == weights
    r = runner.invoke(app, [*first, "--overwrite", "--set", "train.seed=1"])
    assert r.exit_code == 0, r.output
    assert (out / "model.safetensors").read_bytes() != weights

    (tmp_path / "ee").mkdir()
    (tmp_path / "ee" / "run.json").write_text(json.dumps({"command": "kexue gplinker events train"}))
    r = runner.invoke(app, [*TRAIN, "--out", str(tmp_path / "ee"), "--resume"])
    assert r.exit_code == 2
    assert r.stderr == f"error: {tmp_path / 'ee'} is a `kexue gplinker events train` run, not a `kexue lru train` one; " \
                       "give another folder\n"
    (tmp_path / "file").write_text("x")
    r = runner.invoke(app, [*TRAIN, "--out", str(tmp_path / "file")])
    assert r.exit_code == 2 and "is a file" in r.stderr
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    r = runner.invoke(app, [*TRAIN, "--out", str(tmp_path / "mine"), "--overwrite"])
    assert r.exit_code == 2 and "not a kexue run folder" in r.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_default_out_is_a_fresh_version_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for n in range(2):
        r = runner.invoke(app, [*TRAIN, "--set", "train.steps=1"])
        assert r.exit_code == 0, r.output
        assert f"run folder: runs/lru/version_{n}" in r.stderr
    assert sorted(p.name for p in (tmp_path / "runs" / "lru").iterdir()) == ["version_0", "version_1"]


def test_resume_keeps_the_runs_settings(tmp_path):
    out = str(tmp_path / "r")
    assert runner.invoke(app, [*TRAIN, "--set", "train.steps=2", "--set", "train.lr=0.01", "--out", out]).exit_code == 0
    config = (tmp_path / "r" / "config.json").read_text()
    r = runner.invoke(app, [*TRAIN, "--set", "train.steps=4", "--out", out, "--resume", "--set", "train.lr=0.001"])
    assert r.exit_code == 2 and "train.lr=0.01" in r.stderr and "only train.steps" in r.stderr
    r = runner.invoke(app, [*TRAIN, "--out", out, "--resume", "--task", "adding"])
    assert r.exit_code == 2 and "--task adding: the run" in r.stderr and "--task copy" in r.stderr
    assert (tmp_path / "r" / "config.json").read_text() == config  # never rewritten by a refused resume
    r = runner.invoke(app, [*TRAIN, "--out", out, "--resume", "--set", "train.steps=1"])
    assert r.exit_code == 2 and "at step 2, past train.steps=1" in r.stderr
    r = runner.invoke(app, [*TRAIN, "--out", str(tmp_path / "none"), "--resume"])
    assert r.exit_code == 2 and "nothing" not in r.stderr and "no checkpoint to continue" in r.stderr
    r = runner.invoke(app, [*TRAIN, "--set", "train.steps=1", "--out", str(tmp_path / "none"), "--auto-resume"])
    assert r.exit_code == 0 and "nothing to resume" in r.stderr and "starting a new run" in r.stderr
    # the lr restated at the run's value, more steps and another eval frequency: allowed
    r = runner.invoke(app, ["lru", "train", "--no-progress", "--out", out, "--resume", "--set", "train.lr=0.01",
                            "--set", "train.steps=3", "--set", "train.eval_every=1"])
    assert r.exit_code == 0, r.output
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["train"]["lr"] == 0.01 and saved["train"]["steps"] == 3


def test_print_config_and_config_files(tmp_path):
    r = runner.invoke(app, [*TRAIN, "--print-config", "--set", "train.lr=0.05"])
    assert r.exit_code == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert "train.lr = 0.05" in [line.split("#")[0].strip() for line in lines]
    assert any(line.startswith("model.d_state = ") and line.endswith("# int") for line in lines)
    # what --print-config prints is a TOML file --config takes back
    (tmp_path / "c.toml").write_text(r.stdout)
    r2 = runner.invoke(app, ["lru", "train", "--print-config", "--config", str(tmp_path / "c.toml")])
    assert r2.exit_code == 0 and r2.stdout == r.stdout
    (tmp_path / "c.json").write_text(json.dumps({"train": {"lrr": 1}}))
    r = runner.invoke(app, [*TRAIN, "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "unknown setting 'train.lrr' (did you mean 'lr'?)" in r.stderr
    assert not (tmp_path / "x").exists()
