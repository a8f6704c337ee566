"""Run folders (kexue/runs/): what a run records, what is refused, what a resume may change."""
import json
from dataclasses import dataclass, field

import pytest

import kexue
from kexue.config import to_dict
from kexue.runs import (RunFolderError, changeable_on_resume, check_command, default_out, open_run, read_run,
                        record_session, recorded_sets, resume_settings)
from kexue.train import TrainConfig


@dataclass
class Run:
    width: int = 4
    sample_every: int = 0
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=10, lr=0.01))


def trained(out, cfg: Run = Run(), command: str = "kexue x train") -> None:
    """A folder as a finished `command` leaves it (what the refusals look at)."""
    run = open_run(out, command, options={"task": "copy"})
    record_session(run)
    (out / "config.json").write_text(json.dumps({"run": to_dict(cfg), "train": to_dict(cfg.train)}))
    (out / "trainer_state.pt").write_bytes(b"")


def test_default_out_counts_versions(tmp_path):
    assert default_out("lru", tmp_path) == tmp_path / "lru" / "version_0"
    for name in ("version_0", "version_3", "version_x", "other"):
        (tmp_path / "lru" / name).mkdir(parents=True)
    assert default_out("lru", tmp_path) == tmp_path / "lru" / "version_4"


def test_a_run_records_command_version_and_sessions(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["kexue", "x", "train", "--set", "width=8"])
    trained(tmp_path / "r")
    record = read_run(tmp_path / "r")
    assert record["command"] == "kexue x train" and record["kexue"] == kexue.__version__
    assert record["options"] == {"task": "copy"} and record["sessions"][0]["argv"] == ["x", "train", "--set", "width=8"]
    run = open_run(tmp_path / "r", "kexue x train", resume=True)
    assert run.resume and run.options == {"task": "copy"}
    record_session(run)
    assert [s["resume"] for s in read_run(tmp_path / "r")["sessions"]] == [False, True]
    assert read_run(tmp_path / "r")["created"] == record["created"]


def test_refusals_come_before_anything_is_written(tmp_path):
    trained(tmp_path / "r")
    before = sorted(p.name for p in (tmp_path / "r").iterdir())
    cases = [
        (dict(command="kexue y train"), "is a `kexue x train` run, not a `kexue y train` one"),
        (dict(), "already holds a `kexue x train` run; continue it with --resume"),
        (dict(resume=True, auto_resume=True), "give one of them"),
        (dict(resume=True, overwrite=True), "give one of them"),
        (dict(resume=True, options={"task": "add"}, given=("task",)), "--task add: the run in"),
    ]
    for kwargs, message in cases:
        with pytest.raises(RunFolderError, match=message.replace("(", r"\(")):
            open_run(tmp_path / "r", kwargs.pop("command", "kexue x train"), **kwargs)
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == before
    # the option restated at the run's value, or not given on this command line: fine
    open_run(tmp_path / "r", "kexue x train", resume=True, options={"task": "copy"}, given=("task",))
    open_run(tmp_path / "r", "kexue x train", resume=True, options={"task": "add"}, given=())
    (tmp_path / "f").write_text("")
    with pytest.raises(RunFolderError, match="is a file"):
        open_run(tmp_path / "f" / "sub", "kexue x train")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text("{")
    with pytest.raises(RunFolderError, match="not valid JSON"):
        check_command(tmp_path / "bad", "kexue x train")


def test_resume_and_auto_resume_and_overwrite(tmp_path):
    with pytest.raises(RunFolderError, match="no checkpoint to continue"):
        open_run(tmp_path / "new", "kexue x train", resume=True)
    run = open_run(tmp_path / "new", "kexue x train", auto_resume=True)
    assert not run.resume and "nothing to resume" in run.note
    trained(tmp_path / "r")
    assert open_run(tmp_path / "r", "kexue x train", auto_resume=True).resume
    (tmp_path / "r" / "old-grid.png").write_text("")
    run = open_run(tmp_path / "r", "kexue x train", overwrite=True)
    # emptied (no stale grids beside the new run) but for the lock this process holds on it
    assert not run.resume and [p.name for p in (tmp_path / "r").iterdir()] == [".lock"]
    # a run stopped before its first checkpoint: --resume has nothing, --auto-resume starts it anew
    trained(tmp_path / "cut")
    (tmp_path / "cut" / "trainer_state.pt").unlink()
    with pytest.raises(RunFolderError, match="stopped before its first checkpoint; start it anew with --overwrite"):
        open_run(tmp_path / "cut", "kexue x train", resume=True)
    run = open_run(tmp_path / "cut", "kexue x train", auto_resume=True)
    assert not run.resume and "has no checkpoint yet; starting it anew" in run.note
    assert [p.name for p in (tmp_path / "cut").iterdir()] == [".lock"]
    (tmp_path / "notes").mkdir()  # not a run: --auto-resume refuses as a new run would
    (tmp_path / "notes" / "a.txt").write_text("keep")
    with pytest.raises(RunFolderError, match="already holds files that are not a kexue run; give another --out"):
        open_run(tmp_path / "notes", "kexue x train", auto_resume=True)
    # neither message sends the user to the option that refused them (they pointed at each other)
    with pytest.raises(RunFolderError, match="is not a kexue run") as e:
        open_run(tmp_path / "notes", "kexue x train", resume=True)
    assert "--resume" not in str(e.value).split(":", 1)[1]
    with pytest.raises(RunFolderError) as e:
        open_run(tmp_path / "notes", "kexue x train")
    assert "--resume" not in str(e.value) and "another --out" in str(e.value)
    # a folder of several runs (attention quality) has something to resume when one of them has
    (tmp_path / "multi" / "lm").mkdir(parents=True)
    (tmp_path / "multi" / "lm" / "trainer_state.pt").write_bytes(b"")
    assert open_run(tmp_path / "multi", "kexue x train", resume=True).resume


def test_torchrun_ranks_but_rank_0_neither_check_emptiness_nor_write(tmp_path, monkeypatch):
    trained(tmp_path / "r")
    monkeypatch.setenv("RANK", "1")
    (tmp_path / "r" / "run.json").unlink()
    run = open_run(tmp_path / "r", "kexue x train")  # rank 0 has written it by now: no refusal here
    record_session(run)
    assert not (tmp_path / "r" / "run.json").exists()


def test_resume_settings_are_the_runs_own(tmp_path):
    trained(tmp_path / "r", Run(width=8, train=TrainConfig(steps=10, lr=0.05)))
    assert resume_settings(tmp_path / "r", Run, None) == Run(width=8, train=TrainConfig(steps=10, lr=0.05))
    cfg = resume_settings(tmp_path / "r", Run, ["train.steps=20", "train.lr=0.05", "width=8",
                                                 "train.eval_every=5", "sample_every=3"], ("sample_every",))
    assert (cfg.train.steps, cfg.train.eval_every, cfg.sample_every, cfg.width) == (20, 5, 3, 8)
    with pytest.raises(RunFolderError, match=r"--set train.lr=0.01: the run in .* was trained with train.lr=0.05"):
        resume_settings(tmp_path / "r", Run, ["train.lr=0.01"])
    with pytest.raises(RunFolderError, match="sample_every=0"):
        resume_settings(tmp_path / "r", Run, ["sample_every=3"])  # not on this topic's list
    with pytest.raises(ValueError, match="did you mean 'width'"):
        resume_settings(tmp_path / "r", Run, ["widht=3"])
    # a --set the run was started with, restated, keeps the run's (perhaps resolved further) value
    assert resume_settings(tmp_path / "r", Run, ["width=16"], restated=["width=16"]).width == 8
    run = open_run(tmp_path / "r", "kexue x train", resume=True)
    run.sets = ["width=16"]
    record_session(run)
    # the first session's only: a later session's --sets (this one's, under torchrun) are not restated
    assert read_run(tmp_path / "r")["sessions"][-1]["sets"] == ["width=16"]
    assert recorded_sets(read_run(tmp_path / "r")) == []


def test_what_changeable_on_resume():
    assert changeable_on_resume("train.steps") and changeable_on_resume("steps")
    assert changeable_on_resume("pretrain.train.eval_every") and changeable_on_resume("sample_every", ("sample_every",))
    assert not changeable_on_resume("train.lr") and not changeable_on_resume("model.steps")
    assert not changeable_on_resume("sample_every")


def test_a_run_read_back_knows_its_task_data_and_settings(tmp_path):
    """read_run_folder: the run's command, task and settings (config.json through kexue/runs/settings.py);
    check_unchanged refuses, naming it, a setting a resume may not change."""
    from kexue.runs import Run as RunFolder
    from kexue.runs import check_unchanged, read_run_folder
    trained(tmp_path / "r")
    run = read_run_folder(tmp_path / "r", "kexue x train")
    assert (run.command, run.task, run.data) == ("kexue x train", "copy", {}) and run.settings(Run) == Run()
    with pytest.raises(RunFolderError, match="is a `kexue x train` run, not a `kexue y train` one"):
        read_run_folder(tmp_path / "r", "kexue y train")
    with pytest.raises(FileNotFoundError, match="not found; give a run folder"):
        read_run_folder(tmp_path / "nothing")
    assert RunFolder(tmp_path, "kexue gplinker ner train", False).task == "ner"  # the task in the command
    check_unchanged(tmp_path / "r", Run(train=TrainConfig(steps=99, lr=0.01)))  # more steps: fine
    with pytest.raises(RunFolderError, match=r"width=5: the run in .* was trained with width=4"):
        check_unchanged(tmp_path / "r", Run(width=5))
    with pytest.raises(RunFolderError, match=r"train.lr=0.5: the run in .* was trained with train.lr=0.01"):
        check_unchanged(tmp_path / "r", Run(train=TrainConfig(steps=10, lr=0.5)))
