"""A run folder on disk: open or create it, refuse what would lose work, record each session in run.json.

A training command calls `open_run(out, "kexue lru train", resume=..., overwrite=...)` before it reads
any data. That
  - refuses, in one line, a path that is a file, a folder of another command ("runs/ee is a `kexue
    gplinker events` run"), a non-empty folder without `--resume` (or `--overwrite`, which empties a
    kexue run folder and nothing else), and `--resume` where there is nothing to resume
    (`auto_resume=True` then starts afresh and says so, also in a folder whose run of this command
    stopped before its first checkpoint: there is nothing else to do with it);
  - and, once the caller's own checks passed too, `record_session(run)` writes run.json: the command, its
    argv, the kexue version, the options that chose the preset (and, for a command that records them, the
    data it trained on), and one entry per session.
`read_run_folder(out, command)` opens a finished run for reading (evaluate, predict, serve, from_pretrained).
`default_out("lru")` is a fresh runs/lru/version_N (N one past the largest there), as Lightning's.
The run's settings (config.json) are kexue/runs/settings.py's; docs/ARCHITECTURE.md has the folder's format.

Every error here is a RunFolderError (a ValueError: a user's mistake, exit status 2 on the command line).
"""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import kexue
from kexue.train.checkpoint import CKPT_PREFIX, CONFIG_FILE, MODEL_FILE, STATE_FILE, has_checkpoint, read_json
from kexue.train.lock import LOCK_FILE, hold, release

T = TypeVar("T")
RUN_FILE = "run.json"
RUN_MARKS = (RUN_FILE, CONFIG_FILE, STATE_FILE, MODEL_FILE)  # what makes a folder a kexue run


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (a user's mistake)."""


@dataclass
class Run:
    """An opened run folder: `resume` says whether to continue it, `note` is a line to show the user.

    `options` are the command-line choices the run was started with (run.json's, e.g. {"task": "copy"}
    or gplinker's {"data": {...}, "recipe": ...}); `settings(cls)` are its settings (config.json)."""
    out: Path
    command: str
    resume: bool
    recorded: dict[str, Any] | None = None
    note: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    sets: list[str] = field(default_factory=list)  # this session's --set items, recorded in run.json

    @property
    def task(self) -> str | None:
        """The run's task: its `task` option, else the word before `train` in its command
        ("kexue gplinker ner train" → "ner")."""
        if self.options.get("task"):
            return str(self.options["task"])
        words = self.command.split()
        return words[-2] if len(words) >= 4 and words[-1] == "train" else None

    @property
    def data(self) -> dict[str, Any]:
        """What the run trained on, as its command recorded it ({} when it records nothing)."""
        if "data" in self.options:
            return dict(self.options["data"] or {})
        from kexue.runs.settings import OLD_GPLINKER_FILE, read_settings
        return dict(read_settings(self.out).get("data") or {}) if (self.out / OLD_GPLINKER_FILE).is_file() else {}

    def settings(self, cls: type[T], section: str | None = None) -> T:
        """The run's settings as a `cls` (config.json's `run` section; kexue/runs/settings.py)."""
        from kexue.runs.settings import load_settings
        return load_settings(self.out, cls, section)


def default_out(topic: str, root: str | Path = "runs") -> Path:
    """runs/<topic>/version_N: N is one past the largest version there (0 for the first)."""
    base = Path(root) / topic
    taken = [int(m.group(1)) for p in (base.iterdir() if base.is_dir() else [])
             if (m := re.fullmatch(r"version_(\d+)", p.name))]
    return base / f"version_{max(taken, default=-1) + 1}"


def read_run(out: str | Path) -> dict[str, Any] | None:
    """The run.json of a folder, or None where there is none."""
    file = Path(out) / RUN_FILE
    if not file.is_file():
        return None
    try:
        record = read_json(file)
    except ValueError as e:
        raise RunFolderError(f"{e}; move the file away") from None
    if not isinstance(record, dict) or "command" not in record:
        raise RunFolderError(f"{file}: not a kexue run record (no 'command'); move the file away")
    return record


def check_command(out: str | Path, command: str) -> dict[str, Any] | None:
    """The folder's run.json, after checking it is a run of `command` (for evaluate/predict/sample too)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"{out}: is a file, not a run folder; give a folder")
    recorded = read_run(out)
    if recorded is not None and recorded["command"] != command:
        raise RunFolderError(f"{out} is a `{recorded['command']}` run, not a `{command}` one; give another folder")
    return recorded


def read_run_folder(out: str | Path, command: str | None = None) -> Run:
    """A finished (or interrupted) run to read, not to train: its folder must exist and, with `command`,
    be a run of it. A folder without run.json (a run of an older kexue, or save_pretrained's) opens with
    the command unknown ("")."""
    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"{out}: not found; give a run folder" if not out.exists() else
                                f"{out}: is a file, not a run folder; give a folder")
    recorded = check_command(out, command) if command else read_run(out)
    return Run(out, (recorded or {}).get("command", ""), False, recorded, None,
               dict((recorded or {}).get("options") or {}))


def open_run(out: str | Path, command: str, *, resume: bool = False, auto_resume: bool = False,
             overwrite: bool = False, options: dict[str, Any] | None = None,
             given: tuple[str, ...] = (), has_state: Callable[[Path], bool] | None = None) -> Run:
    """Check `out` for a run of `command` and record this session in its run.json (see the module doc).

    options are the command-line choices that pick the preset (e.g. {"task": "copy"}); on a resume
    the ones named in `given` (set explicitly on this command line) must equal the run's. `has_state`:
    whether a folder holds a checkpoint to resume (default: the Trainer's; mad's loop keeps its own).
    """
    out, options = Path(out), dict(options or {})
    for parent in [out, *out.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise RunFolderError(f"--out {out}: {parent} is a file; give a folder")
            if not os.access(parent, os.W_OK):
                raise RunFolderError(f"--out {out}: {parent} is not writable; give another folder")
            break
    if _is_main():  # before anything is looked at: one writer per folder (kexue/train/lock.py)
        hold(out)
    try:
        return _open(out, command, resume, auto_resume, overwrite, options, given, has_state or has_checkpoint)
    except BaseException:
        release(out)
        raise


def _open(out: Path, command: str, resume: bool, auto_resume: bool, overwrite: bool, options: dict[str, Any],
          given: tuple[str, ...], has_checkpoint: Callable[[Path], bool]) -> Run:
    recorded = check_command(out, command)
    if resume and auto_resume:
        raise RunFolderError("--resume and --auto-resume: give one of them")
    if resume and overwrite:
        raise RunFolderError("--resume and --overwrite: give one of them")
    note = None
    # a checkpoint in the folder, or in one of its runs (attention quality's folder holds four)
    has_state = has_checkpoint(out) or any(has_checkpoint(p) for p in _entries(out)
                                           if p.is_dir() and not p.name.startswith((".", CKPT_PREFIX)))
    if (resume or auto_resume) and has_state:
        ran = (recorded or {}).get("options", {})
        for name in given:
            if name in ran and name in options and ran[name] != options[name]:
                raise RunFolderError(f"--{name.replace('_', '-')} {options[name]}: the run in {out} was started "
                                     f"with --{name.replace('_', '-')} {ran[name]}; a resume keeps the run's "
                                     f"settings (drop --{name.replace('_', '-')})")
        return Run(out, command, True, recorded, None, {**options, **ran})
    if resume:  # each message names a way out that works, never the option that sent the user here
        if recorded is not None:
            raise RunFolderError(f"--resume: the run in {out} stopped before its first checkpoint; start it anew "
                                 "with --overwrite (or --auto-resume)")
        if out.is_dir() and _entries(out):
            raise RunFolderError(f"--resume: {out} is not a kexue run (no {RUN_FILE}); give the run's folder, or "
                                 "another --out for a new run")
        raise RunFolderError(f"--resume: {out} has no checkpoint to continue ({STATE_FILE} not found); drop "
                             "--resume to start a new run (or pass --auto-resume)")
    if auto_resume:
        note = f"--auto-resume: nothing to resume in {out}; starting a new run"
        if recorded is not None:  # a run of this command stopped before its first checkpoint: start it again
            note = f"--auto-resume: the run in {out} has no checkpoint yet; starting it anew"
    if _is_main() and out.is_dir() and _entries(out):
        if not (overwrite or (auto_resume and recorded is not None)):
            if recorded is None:  # not a run: nothing to resume, and --overwrite empties only runs
                raise RunFolderError(f"{out} already holds files that are not a kexue run; give another --out "
                                     "(or empty the folder yourself)")
            if not has_state:
                raise RunFolderError(f"{out} holds a `{recorded['command']}` run that stopped before its first "
                                     "checkpoint; start it anew with --overwrite (or --auto-resume), or give "
                                     "another --out")
            raise RunFolderError(f"{out} already holds a `{recorded['command']}` run; continue it with --resume, "
                                 "replace it with --overwrite, or give another --out")
        if not any((out / m).exists() for m in RUN_MARKS):
            raise RunFolderError(f"--overwrite: {out} is not a kexue run folder (no {RUN_FILE} or "
                                 "config.json); empty it yourself or give another --out")
        for p in _entries(out):  # all but the lock this process holds
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    return Run(out, command, False, None, note, options)


def _entries(out: Path) -> list[Path]:
    """What a folder holds, but its lock file."""
    return [p for p in out.iterdir() if p.name != LOCK_FILE] if out.is_dir() else []


def recorded_sets(recorded: dict[str, Any] | None) -> list[str]:
    """The `--set`s the run was started with (its run.json's first session).

    Only the first: under torchrun rank 0 may already have added this session when another rank reads
    the file, and this session's own --sets must not count as restated (or that rank would skip them)."""
    sessions = (recorded or {}).get("sessions") or [{}]
    return list(sessions[0].get("sets", []))


def record_session(run: Run) -> None:
    """Write the folder's run.json: a new record, or this session added to the run's (rank 0 only)."""
    new = not run.resume or run.recorded is None
    if not _is_main():
        return
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    session = {"argv": sys.argv[1:], "sets": list(run.sets), "started": now, "resume": run.resume,
               "kexue": kexue.__version__}
    if new:
        record = {"command": run.command, "kexue": kexue.__version__, "created": now, "options": run.options,
                  "sessions": [session]}
    else:
        record = dict(run.recorded or {})
        record["sessions"] = [*record.get("sessions", []), session]
    run.out.mkdir(parents=True, exist_ok=True)
    from kexue.train.checkpoint import write_json
    write_json(run.out / RUN_FILE, record)


def _is_main() -> bool:
    """Rank 0 (or no torchrun): the one process that checks emptiness and writes run.json."""
    return os.environ.get("RANK", "0") == "0"

