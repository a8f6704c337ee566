"""`kexue decoder-only train|compare|mlm` as runs: interrupt and resume bit-identical, settings files."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kexue.cli import app
from kexue.decoder_only import cli
from tests.busy import one_thread  # noqa: F401  (a fixture: one torch thread, as OMP_NUM_THREADS=1 in the subprocess)
from tests.interrupt import assert_identical, random_step, signal_after, steps_taken

runner = CliRunner()
TINY = ["--no-progress", "--set", "task.n_train=64", "--set", "task.n_test=8", "--set", "task.max_chars=200",
        "--set", "model.hidden=16", "--set", "n_generate=4", "--set", "train.batch_size=8",
        "--set", "train.log_every=1"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(cli.console, "width", 240)  # the tables unwrapped, as on a wide terminal


def _table(stdout: str) -> list[str]:
    """The table's rows without the tokens/s column (a rate, not a result) and the run folder line."""
    return [line.rsplit("│", 2)[0] for line in stdout.splitlines() if line.startswith("│")]


@pytest.mark.slow
def test_train_sigint_in_a_subprocess_then_resume_is_bit_identical(tmp_path, one_thread):
    steps = 6
    args = ["decoder-only", "train", "--task", "reverse", *TINY, "--set", f"train.steps={steps}"]
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "whole")])
    assert r.exit_code == 0, r.output
    k = random_step(steps)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, str(ROOT / "tests" / "decoder_only" / "sigint_after.py"), str(k), *args,
                        "--out", str(tmp_path / "cut")], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 130, p.stderr
    assert f"interrupted at step {k}; continue with --resume --out {tmp_path / 'cut'}" in p.stderr
    assert p.stdout == ""  # no table: the run is not finished
    # the resume names nothing but the folder: the run's own settings come back from it
    with steps_taken() as taken:
        r2 = runner.invoke(app, ["decoder-only", "train", "--no-progress", "--out", str(tmp_path / "cut"), "--resume"])
    assert r2.exit_code == 0, r2.output
    assert taken == list(range(k, steps))  # only the steps after the cut were trained
    assert_identical(tmp_path / "whole", tmp_path / "cut", list(range(1, steps + 1)))
    assert _table(r2.stdout) == _table(r.stdout)  # the held-out measurements too


@pytest.mark.slow
def test_compare_cut_in_its_second_run_resumes_to_the_same_table(tmp_path):
    args = ["decoder-only", "compare", "--arch", "decoder,prefix", "--seeds", "2", *TINY, "--set", "train.steps=4"]
    whole = runner.invoke(app, [*args, "--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    k = random_step(4)
    with signal_after(k, trainer=1):  # decoder seed 0 finished, decoder seed 1 cut
        r = runner.invoke(app, [*args, "--out", str(tmp_path / "cut")])
    assert r.exit_code == 130 and f"interrupted at step {k}" in r.stderr, r.output
    assert not (tmp_path / "cut" / "prefix-seed0").exists()
    finished = (tmp_path / "cut" / "decoder-seed0" / "model.safetensors").read_bytes()
    with steps_taken() as taken:
        r = runner.invoke(app, ["decoder-only", "compare", "--no-progress", "--out", str(tmp_path / "cut"), "--resume"])
    assert r.exit_code == 0, r.output
    assert taken == list(range(k, 4)) + [0, 1, 2, 3] * 2  # the rest of the cut run, then the two not begun
    assert (tmp_path / "cut" / "decoder-seed0" / "model.safetensors").read_bytes() == finished  # not retrained
    for name in ("decoder-seed0", "decoder-seed1", "prefix-seed0", "prefix-seed1"):
        assert_identical(tmp_path / "whole" / name, tmp_path / "cut" / name, [1, 2, 3, 4])
    assert _table(r.stdout) == _table(whole.stdout) and len(_table(r.stdout)) >= 2
    assert "2 seeds" in r.stdout  # the run's own --seeds, not the default 3
    sessions = json.loads((tmp_path / "cut" / "run.json").read_text())["sessions"]
    assert [s["resume"] for s in sessions] == [False, True]


@pytest.mark.slow
def test_mlm_cut_in_its_second_run_resumes_to_the_same_table(tmp_path):
    args = ["decoder-only", "mlm", "--direction", "bidirectional,mixed", "--seeds", "1", "--no-progress",
            "--set", "task.n_train=32", "--set", "task.n_test=8", "--set", "model.hidden=16",
            "--set", "train.batch_size=8", "--set", "train.log_every=1", "--set", "train.steps=4"]
    whole = runner.invoke(app, [*args, "--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    k = random_step(4)
    with signal_after(k, trainer=1):  # bidirectional finished, mixed cut at step k
        r = runner.invoke(app, [*args, "--out", str(tmp_path / "cut")])
    assert r.exit_code == 130 and f"interrupted at step {k}" in r.stderr, r.output
    finished = (tmp_path / "cut" / "bidirectional-seed0" / "model.safetensors").read_bytes()
    with steps_taken() as taken:
        r = runner.invoke(app, ["decoder-only", "mlm", "--no-progress", "--out", str(tmp_path / "cut"), "--resume"])
    assert r.exit_code == 0, r.output
    assert taken == list(range(k, 4))  # only the rest of the cut run
    assert (tmp_path / "cut" / "bidirectional-seed0" / "model.safetensors").read_bytes() == finished
    for name in ("bidirectional-seed0", "mixed-seed0"):
        assert_identical(tmp_path / "whole" / name, tmp_path / "cut" / name, [1, 2, 3, 4])
    assert _table(r.stdout) == _table(whole.stdout) and len(_table(r.stdout)) == 2


def test_print_config_and_config_files(tmp_path):
    for command, key in (("train", "model.arch = \"prefix\""), ("compare", "task.task = \"reverse\""),
                         ("mlm", "direction = \"bidirectional\"")):
        extra = ["--arch", "prefix"] if command == "train" else ["--task", "reverse"] if command == "compare" else []
        r = runner.invoke(app, ["decoder-only", command, *extra, "--print-config", "--set", "train.lr=0.05"])
        assert r.exit_code == 0 and r.stderr == "", r.output
        lines = [line.split("#")[0].strip() for line in r.stdout.splitlines()]
        assert "train.lr = 0.05" in lines and key in lines, (command, lines)
        assert any(line.startswith("model.hidden = ") and line.endswith("# int") for line in r.stdout.splitlines())
        (tmp_path / f"{command}.toml").write_text(r.stdout)
        back = runner.invoke(app, ["decoder-only", command, "--print-config", "--config",
                                   str(tmp_path / f"{command}.toml")])
        assert back.exit_code == 0 and back.stdout == r.stdout, command
    (tmp_path / "c.json").write_text(json.dumps({"model": {"hiden": 8}}))
    r = runner.invoke(app, ["decoder-only", "train", "--config", str(tmp_path / "c.json"),
                            "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "unknown setting 'model.hiden' (did you mean 'hidden'?)" in r.stderr
    assert r.stderr.count("\n") == 1 and not (tmp_path / "x").exists()


@pytest.mark.slow
def test_a_runs_config_json_is_a_config_file_and_the_folder_is_protected(tmp_path):
    first = ["decoder-only", "train", *TINY, "--set", "train.steps=2", "--set", "model.layers=1"]
    assert runner.invoke(app, [*first, "--out", str(tmp_path / "a")]).exit_code == 0
    r = runner.invoke(app, ["decoder-only", "train", "--print-config", "--config", str(tmp_path / "a" / "config.json")])
    assert r.exit_code == 0 and "model.layers = 1" in [line.split("#")[0].strip() for line in r.stdout.splitlines()]
    r = runner.invoke(app, [*first, "--out", str(tmp_path / "a")])  # again into the same folder: refused
    assert r.exit_code == 2 and "--resume" in r.stderr and "--overwrite" in r.stderr
    r = runner.invoke(app, ["decoder-only", "compare", *TINY, "--out", str(tmp_path / "a"), "--resume"])
    assert r.exit_code == 2 and "is a `kexue decoder-only train` run" in r.stderr
    r = runner.invoke(app, ["decoder-only", "train", "--no-progress", "--out", str(tmp_path / "a"), "--resume",
                            "--set", "model.hidden=32"])
    assert r.exit_code == 2 and "model.hidden" in r.stderr
