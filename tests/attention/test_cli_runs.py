"""`kexue attention quality` as one run of four trainings: interrupt in the third, resume, bit-identical."""
import json

from typer.testing import CliRunner

from kexue.cli import app
from tests.interrupt import assert_identical, random_step, signal_after

runner = CliRunner()
QUALITY = ["attention", "quality", "--preset", "smoke", "--no-progress", "--set", "train.steps=4"]


def test_sigint_in_the_third_run_then_resume_is_bit_identical(tmp_path):
    r = runner.invoke(app, [*QUALITY, "--out", str(tmp_path / "whole")])
    assert r.exit_code == 0, r.output
    k = random_step(8)  # the third run is the first MLM: 2 × 4 steps
    with signal_after(k, trainer=2):
        r = runner.invoke(app, [*QUALITY, "--out", str(tmp_path / "cut")])
    assert r.exit_code == 130 and f"interrupted at step {k}" in r.stderr, r.output
    assert not (tmp_path / "cut" / "mlm-elu-seed0").exists()  # the fourth never started
    r = runner.invoke(app, ["attention", "quality", "--no-progress", "--out", str(tmp_path / "cut"), "--resume"])
    assert r.exit_code == 0, r.output
    for name, steps in (("lm-softmax-seed0", 4), ("lm-elu-seed0", 4), ("mlm-softmax-seed0", 8), ("mlm-elu-seed0", 8)):
        assert_identical(tmp_path / "whole" / name, tmp_path / "cut" / name, list(range(1, steps + 1)))
    # the table on stdout is the same numbers (seconds aside)
    # (a row ends "│ seconds │": cut both; a resumed run's seconds add up its sessions)
    strip = lambda out: [line.rsplit("│", 2)[0] for line in out.splitlines() if "softmax " in line or "elu " in line]
    assert strip(r.stdout) == strip(runner.invoke(app, ["attention", "quality", "--no-progress", "--out",
                                                        str(tmp_path / "whole"), "--resume"]).stdout)
    assert json.loads((tmp_path / "cut" / "run.json").read_text())["command"] == "kexue attention quality"


def test_cost_fits_80_columns_and_errors_are_one_line():
    r = runner.invoke(app, ["attention", "cost"], terminal_width=80)
    assert r.exit_code == 0 and max(len(line) for line in r.stdout.splitlines()) <= 80
    assert "1.22e+11" in r.stdout  # SA at n = 8192, not cut
    r = runner.invoke(app, ["attention", "cost", "--lengths", "12,x"])
    assert r.exit_code == 2 and r.stderr == "error: --lengths '12,x': expected comma-separated integers, e.g. " \
                                            "128,512,2048\n"
    r = runner.invoke(app, ["attention", "measure", "--device", "cuda:3"])
    assert r.exit_code == 2 and "cuda:3" in r.stderr and r.stderr.count("\n") == 1
