"""What a user sees when a run's files are damaged, the disk fills or the run diverges: one line on stderr
naming the file (or folder) and the cause, no traceback, exit 2 (a file to fix) or 1 (a run that failed);
and a cut-off last line of metrics.jsonl does not stop a resume. Through the real commands."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kexue.cli import app
from kexue.gplinker import fixture
from kexue.train import read_metrics
from kexue.train.checkpoint import checkpoint_dir, checkpoint_step, has_checkpoint

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
LRU = ["lru", "train", "--task", "copy", "--preset", "smoke", "--no-progress"]
TINY = ["--set", "train.batch_size=4", "--set", "encoder.hidden=16", "--set", "encoder.heads=2",
        "--set", "encoder.layers=1", "--set", "head.head_size=8"]


def one_error_line(r, code: int) -> str:
    assert r.exit_code == code, r.output
    lines = r.stderr.splitlines()
    assert "Traceback" not in r.output and lines[-1].startswith("error: "), r.stderr
    return lines[-1]


@pytest.fixture(scope="module")
def lru_run(tmp_path_factory) -> Path:
    """A finished 2-step `kexue lru train` run (a copy of it per test: `fresh`)."""
    out = tmp_path_factory.mktemp("lru") / "run"
    r = runner.invoke(app, [*LRU, "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture
def fresh(lru_run, tmp_path) -> Path:
    import shutil
    shutil.copytree(lru_run, tmp_path / "run", symlinks=True)
    return tmp_path / "run"


def test_a_flipped_bit_in_the_weights_is_a_checksum_mismatch(fresh):
    weights = checkpoint_dir(fresh) / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x40  # the high exponent bit of the file's last float32: a huge weight, a test loss of inf
    weights.write_bytes(bytes(data))
    line = one_error_line(runner.invoke(app, ["lru", "evaluate", str(fresh)]), 2)
    assert line.startswith(f"error: {weights}: checksum mismatch")


def test_a_truncated_model_file_names_the_file(fresh):
    weights = checkpoint_dir(fresh) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:300])
    line = one_error_line(runner.invoke(app, ["lru", "evaluate", str(fresh)]), 2)
    assert line.startswith(f"error: {weights}: not a readable safetensors file (") and "cut short" in line


def test_a_truncated_trainer_state_names_the_file(fresh):
    state = checkpoint_dir(fresh) / "trainer_state.pt"
    state.write_bytes(state.read_bytes()[:1000])
    line = one_error_line(runner.invoke(app, [*LRU, "--out", str(fresh), "--resume", "--set", "train.steps=3"]), 2)
    assert line.startswith(f"error: {state}: cannot be read (") and "cut short" in line


def test_a_broken_config_names_the_file_and_line(fresh):
    (fresh / "config.json").write_text('{"run": {"task": ')
    line = one_error_line(runner.invoke(app, [*LRU, "--out", str(fresh), "--resume", "--set", "train.steps=3"]), 2)
    assert line == f"error: {fresh / 'config.json'}:1: not valid JSON (Expecting value at column 18); the file " \
                   "is damaged or was cut short"


def test_a_broken_gplinker_config_json_names_the_file(tmp_path):
    run = tmp_path / "run"
    r = runner.invoke(app, ["gplinker", "events", "train", "--train", str(fixture("duee_sample.json")), "--out",
                            str(run), "--set", "train.steps=2", *TINY])
    assert r.exit_code == 0, r.output
    (run / "config.json").write_text('{"run": {"gplinker": ')
    line = one_error_line(runner.invoke(app, ["gplinker", "events", "evaluate", "--model", str(run), "--data",
                                              str(fixture("duee_sample.json"))]), 2)
    assert f"{run / 'config.json'}:1: not valid JSON" in line


def test_a_cut_off_last_line_of_metrics_does_not_stop_a_gplinker_resume(tmp_path):
    r = runner.invoke(app, ["gplinker", "events", "train", "--train", str(fixture("duee_sample.json")), "--out",
                            str(tmp_path / "cut"), "--set", "train.steps=2", *TINY])
    assert r.exit_code == 0, r.output
    with open(tmp_path / "cut" / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "loss": 1.2, "lr": 0.001, "seco')
    r = runner.invoke(app, ["gplinker", "events", "train", "--train", str(fixture("duee_sample.json")), "--out",
                            str(tmp_path / "cut"), "--resume", "--set", "train.steps=3", *TINY])
    assert r.exit_code == 0, r.output
    steps = [rec["step"] for rec in read_metrics(tmp_path / "cut")]
    assert steps[-1] == 3 and steps == sorted(set(steps))  # the cut record is gone, step 3 written anew


def test_a_bad_line_inside_metrics_is_named(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2, "lo\n{"step": 3}\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl:2: not a JSON record"):
        read_metrics(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2, "lo')
    assert read_metrics(tmp_path) == [{"step": 1}]


def test_weight_decay_nan_is_blamed_on_weight_decay(tmp_path):
    line = one_error_line(runner.invoke(app, [*LRU, "--out", str(tmp_path / "r"), "--set",
                                              "train.weight_decay=nan"]), 2)
    assert "weight_decay" in line and "lr" not in line.replace("weight_decay", "")


def test_a_diverged_run_stops_with_exit_1_and_json_valid_metrics(tmp_path):
    out = tmp_path / "r"
    r = runner.invoke(app, [*LRU, "--out", str(out), "--set", "train.lr=1e30"])
    line = one_error_line(r, 1)
    assert line.startswith("error: step 2: ") and "the run diverged; lower the learning rate (train.lr=1e+30)" in line
    assert "test loss" not in r.output
    text = (out / "metrics.jsonl").read_text()

    def no_bare_constants(name):
        raise AssertionError(f"metrics.jsonl holds a bare {name}, which is not JSON")

    records = [json.loads(x, parse_constant=no_bare_constants) for x in text.splitlines()]
    assert None in records[-1].values()  # the non-finite loss, as JSON's null
    assert not has_checkpoint(out) or checkpoint_step(out) < 2  # the diverged weights were not checkpointed


def test_a_full_disk_names_the_folder_and_the_last_checkpoint_stays(tmp_path):
    """`kexue lru train`, the disk full during its second checkpoint (os.write fails with ENOSPC there)."""
    spec = {"args": [*LRU, "--set", "train.steps=4", "--set", "train.ckpt_every=2", "--set",
                     "train.ckpt_minutes=0"], "root": str(tmp_path), "full_disk_at_save": 2}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "tests.faults", json.dumps(spec)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads(p.stdout.splitlines()[-1]) == {"full": 1}, p.stderr[-3000:]
    out = tmp_path / "full"
    assert f"error: no space left on {out} (writing the checkpoint of step 4; the last complete one is intact)\n" \
           in p.stderr
    assert checkpoint_step(out) == 2 and not [x for x in os.listdir(out) if ".tmp-" in x]
    r = runner.invoke(app, [*LRU, "--out", str(out), "--resume", "--set", "train.steps=4"])
    assert r.exit_code == 0, r.output
    assert checkpoint_step(out) == 4
