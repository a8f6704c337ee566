"""`kexue gplinker <task> train` settings and interruptions (issue 11): --print-config, --config FILE (JSON,
TOML, a run's own config.json) with --set on top, and a real Ctrl-C of a training process, resumed to
the same bits as an unbroken run."""
import json
import os
import random
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kexue.gplinker.cli import app
from kexue.train import read_metrics
from tests.interrupt import assert_identical

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
TINY = ["--set", "encoder.hidden=16", "--set", "encoder.heads=2", "--set", "encoder.layers=1",
        "--set", "head.head_size=8", "--set", "train.batch_size=4"]
NER = [("张三在北京大学读书。", [[0, 2, "PER"], [3, 7, "ORG"]]), ("李四去了上海。", [[0, 2, "PER"], [4, 6, "LOC"]]),
       ("王五在清华大学工作。", [[0, 2, "PER"], [3, 7, "ORG"]]), ("赵六住在杭州。", [[0, 2, "PER"], [4, 6, "LOC"]]),
       ("孙七考上了复旦大学。", [[0, 2, "PER"], [5, 9, "ORG"]]), ("周八从南京来。", [[0, 2, "PER"], [3, 5, "LOC"]])]


@pytest.fixture
def ner_file(tmp_path):
    path = tmp_path / "ner.jsonl"
    path.write_text("".join(json.dumps({"text": t, "entities": e}, ensure_ascii=False) + "\n" for t, e in NER),
                    encoding="utf-8")
    return path


def settings_of(output: str) -> dict:
    """--print-config's lines, read back as TOML (the unset ones are comments)."""
    return tomllib.loads(output)


def test_print_config_shows_every_key_with_its_type_and_exits(tmp_path):
    out = tmp_path / "never"
    r = runner.invoke(app, ["ner", "train", "--print-config", "--set", "train.steps=7", "--out", str(out)])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "train.steps = 7" in next(x for x in lines if x.startswith("train.steps ")) and "# int" in r.stdout
    for key in ("task", "max_len", "encoder.hidden", "head.pointer", "train.lr", "keep_best", "eval_every"):
        assert any(x.startswith(f"{key} = ") for x in lines), key
    assert '# train.clip = (none)  # float | None' in r.stdout
    assert settings_of(r.stdout)["task"] == "ner" and not out.exists()  # nothing written


def test_print_config_is_a_config_file_and_set_goes_on_top(tmp_path):
    r = runner.invoke(app, ["events", "train", "--print-config", *TINY])
    assert r.exit_code == 0, r.output
    (tmp_path / "c.toml").write_text(r.stdout, encoding="utf-8")
    again = runner.invoke(app, ["events", "train", "--print-config", "--config", str(tmp_path / "c.toml"),
                                "--set", "train.lr=0.5"])
    assert again.exit_code == 0, again.output
    want = settings_of(r.stdout)
    want["train"]["lr"] = 0.5
    assert settings_of(again.stdout) == want and want["encoder"]["hidden"] == 16
    (tmp_path / "c.json").write_text(json.dumps({"encoder": {"layers": 3}, "train": {"steps": 11}}), encoding="utf-8")
    r = runner.invoke(app, ["relations", "train", "--print-config", "--config", str(tmp_path / "c.json")])
    got = settings_of(r.stdout)
    assert got["encoder"]["layers"] == 3 and got["train"]["steps"] == 11 and got["task"] == "relations"


def test_config_takes_a_runs_own_config_json(tmp_path, ner_file):
    first = tmp_path / "first"
    r = runner.invoke(app, ["ner", "train", "--train", str(ner_file), "--out", str(first), *TINY,
                            "--set", "train.steps=3", "--set", "train.lr=0.02"])
    assert r.exit_code == 0, r.output
    second = tmp_path / "second"
    r = runner.invoke(app, ["ner", "train", "--train", str(ner_file), "--out", str(second),
                            "--config", str(first / "config.json"), "--set", "train.seed=1"])
    assert r.exit_code == 0, r.output
    one, two = (json.loads((d / "config.json").read_text(encoding="utf-8"))["run"]["gplinker"] for d in (first, second))
    assert two["train"].pop("seed") == 1 and one["train"].pop("seed") == 0
    assert one == two and two["encoder"]["hidden"] == 16 and two["train"]["lr"] == 0.02


@pytest.mark.parametrize("content, says", [('{"encoder": {"hiden": 3}}', "unknown setting 'encoder.hiden'"),
                                           ('{"train": {"lr": "fast"}}', "train.lr"),
                                           ('{"train": ', "not valid JSON")])
def test_a_bad_config_file_is_one_line(tmp_path, content, says):
    (tmp_path / "c.json").write_text(content, encoding="utf-8")
    r = runner.invoke(app, ["ner", "train", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and says in r.output, r.output
    assert not (tmp_path / "x").exists()


def test_config_with_resume_is_refused(tmp_path):
    (tmp_path / "c.json").write_text("{}", encoding="utf-8")
    r = runner.invoke(app, ["ner", "train", "--config", str(tmp_path / "c.json"), "--resume",
                            "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "a resume trains with the run's own settings" in r.output


def kexue(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "kexue.cli", "gplinker", "ner", "train", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_ctrl_c_at_a_random_step_then_resume_is_bit_identical(tmp_path, ner_file):
    """A real process gets SIGINT once its metrics.jsonl shows step k (k random): exit 130 and the resume
    line; `--resume` finishes it; weights and metrics.jsonl equal an unbroken run's bit for bit (the unbroken
    run and the resume run in this process, on one thread as the interrupted one)."""
    import torch
    steps = 120
    args = ["--train", str(ner_file), *TINY, "--set", f"train.steps={steps}", "--set", "train.log_every=1",
            "--set", "train.lr=0.01"]
    k = random.SystemRandom().randrange(3, 60)
    cut = kexue(*args, "--out", str(tmp_path / "cut"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        r = runner.invoke(app, ["ner", "train", *args, "--out", str(tmp_path / "whole")])
        assert r.exit_code == 0, r.output
        metrics = tmp_path / "cut" / "metrics.jsonl"
        deadline = time.monotonic() + 240
        while cut.poll() is None and time.monotonic() < deadline:
            if metrics.is_file() and metrics.read_bytes().count(b"\n") >= k:
                cut.send_signal(signal.SIGINT)
                break
            time.sleep(0.002)
        out, err = cut.communicate(timeout=120)
        assert cut.returncode == 130, (cut.returncode, err)
        line = next(x for x in err.splitlines() if x.startswith("interrupted at step "))
        stopped = int(line.split()[3].rstrip(";"))
        assert k <= stopped < steps and line.endswith(f"continue with --resume --out {tmp_path / 'cut'}"), line
        r = runner.invoke(app, ["ner", "train", "--out", str(tmp_path / "cut"), "--resume"])
        assert r.exit_code == 0, r.output
    finally:
        torch.set_num_threads(threads)
        if cut.poll() is None:
            cut.kill()
    assert_identical(tmp_path / "whole", tmp_path / "cut", list(range(1, steps + 1)))


def test_resume_takes_the_runs_own_data_and_refuses_other_data(tmp_path, ner_file):
    out = tmp_path / "run"
    r = runner.invoke(app, ["ner", "train", "--train", str(ner_file), "--out", str(out), *TINY, "--set", "train.steps=2"])
    assert r.exit_code == 0, r.output
    other = tmp_path / "other.jsonl"
    other.write_text(ner_file.read_text(encoding="utf-8"), encoding="utf-8")
    r = runner.invoke(app, ["ner", "train", "--train", str(other), "--out", str(out), "--resume",
                            "--set", "train.steps=3"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert f"the run in {out} was trained with --train {ner_file.resolve()}" in r.output
    r = runner.invoke(app, ["ner", "train", "--out", str(out), "--resume", "--set", "train.steps=3"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))["run"]["data"]["train"] == str(ner_file.resolve())


def test_resume_takes_the_runs_own_recipe_and_refuses_another(tmp_path):
    """A run trained with --recipe quick on built-in data resumes on that recipe's data without --recipe;
    --recipe naming another one is one line, nothing trained."""
    out = tmp_path / "run"
    r = runner.invoke(app, ["relations", "train", "--recipe", "quick", "--generate", "24", "--out", str(out),
                            *TINY, "--set", "train.steps=2"])
    assert r.exit_code == 0, r.output
    again = runner.invoke(app, ["relations", "train", "--out", str(out), "--resume", "--set", "train.steps=3"])
    assert again.exit_code == 0, again.output
    assert "resuming" in again.output
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps[-1] == 3
    other = runner.invoke(app, ["relations", "train", "--out", str(out), "--resume", "--recipe", "generated",
                                "--set", "train.steps=4"])
    assert other.exit_code == 2
    assert "trained with --preset quick" in other.output  # --recipe: the old spelling of --preset


def test_a_stopped_run_resumed_trains_no_more(tmp_path, ner_file):
    """patience 1 with dev F1 every 2 steps: a tiny model's F1 soon stops rising and the run stops early;
    `--resume` with more steps stops again at once, without a step of training (the patience was not reset)."""
    run = tmp_path / "run"
    args = ["ner", "train", "--recipe", "quick", "--train", str(ner_file), "--dev", str(ner_file), "--out", str(run),
            *TINY, "--set", "eval_every=2", "--set", "patience=1", "--set", "train.log_every=1"]
    r = runner.invoke(app, [*args, "--set", "train.steps=20"])
    assert r.exit_code == 0, r.output
    first = read_metrics(run)
    assert "early stop" in r.output and first[-1]["step"] < 20, r.output
    r = runner.invoke(app, ["ner", "train", "--out", str(run), "--resume", "--set", "train.steps=30"])
    assert r.exit_code == 0, r.output
    assert "early stop" in r.output and read_metrics(run) == first, r.output
