"""`--resume` with nothing to resume and `--auto-resume`, in every training command of the attention,
roformer, diffusion and lru command lines: one error line (exit 2, nothing written), or a new run said
in one line; and --auto-resume continues a run that has a checkpoint."""
import json

import pytest
from typer.testing import CliRunner

from kexue.cli import app

runner = CliRunner()
LINE = "今天天气很好，我们去公园玩了{}次。北京大学的学生在学习自然语言处理。"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny corpus, a sentence-pair set and a pretrained RoFormer folder for `finetune`."""
    root = tmp_path_factory.mktemp("data")
    (root / "corpus.txt").write_text("\n".join(LINE.format(i) for i in range(30)), encoding="utf-8")
    (root / "pairs.jsonl").write_text("\n".join(json.dumps({"sentence1": a, "sentence2": b, "label": y},
                                                           ensure_ascii=False)
                                                for a, b, y in [("很好", "不错", "1"), ("很差", "不错", "0")] * 4))
    r = runner.invoke(app, [*COMMANDS["roformer pretrain"](root), "--out", str(root / "pre")])
    assert r.exit_code == 0, r.output
    return root


COMMANDS = {  # a one-step run at toy size of each training command
    "attention quality": lambda d: ["attention", "quality", "--preset", "smoke", "--set", "train.steps=1"],
    "roformer pretrain": lambda d: ["roformer", "pretrain", "--preset", "smoke", "--corpus", str(d / "corpus.txt"),
                                    "--set", "train.steps=1", "--set", "max_len=32", "--set", "eval_texts=5"],
    "roformer finetune": lambda d: ["roformer", "finetune", "--pretrained", str(d / "pre"), "--train",
                                    str(d / "pairs.jsonl"), "--dev", str(d / "pairs.jsonl"), "--set",
                                    "train.steps=1", "--set", "train.batch_size=4"],
    "diffusion train": lambda d: ["diffusion", "train", "--preset", "smoke", "--set", "train.steps=1"],
    "lru train": lambda d: ["lru", "train", "--preset", "smoke", "--set", "train.steps=1"],
}


def checkpointed(out) -> bool:
    return (out / "trainer_state.pt").is_file() or any(out.glob("*/trainer_state.pt"))


@pytest.mark.parametrize("command", COMMANDS)
def test_resume_with_nothing_to_resume_and_auto_resume(command, files, tmp_path):
    args = [*COMMANDS[command](files), "--no-progress"]
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "none", tmp_path / "empty"):  # no folder; an empty one
        r = runner.invoke(app, [*args, "--out", str(out), "--resume"])
        assert r.exit_code == 2 and r.stdout == ""
        assert r.stderr == f"error: --resume: {out} has no checkpoint to continue (trainer_state.pt not found); " \
                           "drop --resume to start a new run (or pass --auto-resume)\n"
        assert not out.exists() or not any(out.iterdir())  # nothing written
    r = runner.invoke(app, [*args, "--out", str(out), "--auto-resume"])
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines().count(f"--auto-resume: nothing to resume in {out}; starting a new run") == 1
    assert checkpointed(out) and json.loads((out / "run.json").read_text())["command"] == f"kexue {command}"
    # with a checkpoint, --auto-resume continues the run (its own settings, one more step)
    r = runner.invoke(app, [*args[:2], "--no-progress", "--out", str(out), "--auto-resume",
                            "--set", "train.steps=2"])
    assert r.exit_code == 0, r.output
    assert f"resuming {out} with its own settings" in r.stderr and "nothing to resume" not in r.stderr
    assert [s["resume"] for s in json.loads((out / "run.json").read_text())["sessions"]] == [False, True]


def test_auto_resume_starts_anew_a_run_stopped_before_its_first_checkpoint(files, tmp_path):
    args, out = [*COMMANDS["lru train"](files), "--no-progress"], tmp_path / "cut"
    assert runner.invoke(app, [*args, "--out", str(out)]).exit_code == 0
    (out / "checkpoint").unlink()  # as a run killed before it committed one (its files then lead nowhere)
    r = runner.invoke(app, [*args, "--out", str(out), "--resume"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "stopped before its first checkpoint" in r.stderr
    r = runner.invoke(app, [*args, "--out", str(out), "--auto-resume"])
    assert r.exit_code == 0, r.output
    assert f"--auto-resume: the run in {out} has no checkpoint yet; starting it anew" in r.stderr.splitlines()
    assert checkpointed(out) and len(json.loads((out / "run.json").read_text())["sessions"]) == 1


@pytest.mark.parametrize("command", COMMANDS)
def test_a_runs_own_config_json_is_a_config_file(command, files, tmp_path):
    """`--config RUN/config.json --print-config` prints the run's settings (a setting the run changed from
    the preset included) — roformer finetune keeps them one level down, under "finetune"."""
    out = tmp_path / "run"
    r = runner.invoke(app, [*COMMANDS[command](files), "--set", "train.log_every=3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    shown = runner.invoke(app, [*COMMANDS[command](files)[:2], "--config", str(out / "config.json"),
                                "--print-config"])
    assert shown.exit_code == 0, shown.output
    assert "train.log_every = 3" in shown.output


def test_the_refusals_of_a_plain_run_and_of_resume_never_send_one_to_the_other(tmp_path, monkeypatch):
    """Issue 24 §7: on a folder that is not a run, and on a run stopped before its first checkpoint, a
    plain run said "continue it with --resume" and `--resume` said "drop --resume": a loop. Each now names
    a way out: --overwrite (or --auto-resume) for the cut run, another --out for the user's own folder."""
    from kexue.train.loop import Trainer

    args = ["lru", "train", "--task", "copy", "--preset", "smoke", "--set", "train.steps=2", "--no-progress"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's own file")
    built = Trainer.__init__

    def build_then_sigint(self, *a, **kw):  # Ctrl-C while the model is built, before any step: what Python's
        raise KeyboardInterrupt  # default SIGINT handler raises (an xdist worker ignores a real SIGINT)

    monkeypatch.setattr(Trainer, "__init__", build_then_sigint)
    cut = runner.invoke(app, [*args, "--out", str(tmp_path / "cut")])
    assert cut.exit_code == 130 and not checkpointed(tmp_path / "cut"), cut.output
    monkeypatch.setattr(Trainer, "__init__", built)
    for out, way_out in ((mine, "another --out"), (tmp_path / "cut", "--overwrite")):
        plain = runner.invoke(app, [*args, "--out", str(out)])
        resume = runner.invoke(app, [*args, "--out", str(out), "--resume"])
        for r in (plain, resume):
            assert r.exit_code == 2 and r.stderr.count("\n") == 1 and way_out in r.stderr, r.stderr
        assert "with --resume" not in plain.stderr and "drop --resume" not in resume.stderr
    assert (mine / "notes.txt").read_text() == "the user's own file"
