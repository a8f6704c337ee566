"""Run folders under torchrun: rank 0 alone prepares the folder (`--overwrite` clears it, run.json is
written) while the other ranks wait, so no rank reads a folder that is being cleared."""
import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kexue.cli import app
from kexue.runs import read_run
from tests.launch import torchrun_cmd

HELPER = Path(__file__).with_name("slow_rank_zero.py")
LRU = ["lru", "train", "--preset", "smoke", "--no-progress", "--set", "train.steps=1"]


def torchrun(reads: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KEXUE_TEST_READS": str(reads)}
    return subprocess.run(torchrun_cmd(2, [str(HELPER), *args]), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=240)


def reads(path: Path, rank: int) -> list:
    file = path.with_name(f"{path.name}.{rank}")
    return [json.loads(line) for line in file.read_text().splitlines()] if file.exists() else []


GPLINKER = ["gplinker", "ner", "train", "--recipe", "quick", "--generate", "16", "--set", "encoder.hidden=16",
            "--set", "encoder.heads=2", "--set", "encoder.layers=1", "--set", "head.head_size=8",
            "--set", "train.batch_size=4", "--set", "train.steps=1"]
COMMANDS = {"lru": (LRU, "kexue lru train"), "gplinker": (GPLINKER, "kexue gplinker ner train")}


@pytest.mark.slow
@pytest.mark.parametrize("topic", COMMANDS)
def test_overwrite_under_torchrun_rank_0_clears_the_folder_while_the_others_wait(topic, tmp_path):
    command, name = COMMANDS[topic]
    out = tmp_path / "run"
    assert CliRunner().invoke(app, [*command, "--out", str(out)]).exit_code == 0
    record = read_run(out)
    (out / "run.json").write_text(json.dumps({**record, "marker": "old"}))  # the run to be replaced
    (out / "old-grid.png").write_text("")

    proc = torchrun(tmp_path / "reads", *command, "--set", "train.seed=1", "--out", str(out), "--overwrite")
    assert proc.returncode == 0, proc.stdout
    assert "old" in reads(tmp_path / "reads", 0)  # rank 0 looked at the old run (and cleared it)
    assert "old" not in reads(tmp_path / "reads", 1)  # rank 1 never saw it
    new = read_run(out)
    assert "marker" not in new and len(new["sessions"]) == 1 and not (out / "old-grid.png").exists()
    if topic == "lru":
        assert json.loads((out / "config.json").read_text())["run"]["train"]["seed"] == 1

    # a refusal on rank 0 (a second run without --overwrite): one line, and every rank leaves with 2
    proc = torchrun(tmp_path / "again", *command, "--out", str(out))
    assert proc.returncode != 0
    assert proc.stdout.count(f"error: {out} already holds a `{name}` run") == 1, proc.stdout
    assert proc.stdout.count("exitcode  : 2") == 2, proc.stdout  # torchrun's report of both workers
