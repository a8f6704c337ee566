"""The preamble of a training command: settings, the run folder and its Run, under torchrun too.

`@train_options(topic)` (kexue/cli_options.py) gives a command the shared options as one `opts`;
`start_run(opts, command, topic, preset, cls)` applies `--config` and `--set` to the preset
(kexue/cli_settings.py) and `--device`/`--precision`/`--log` to its `train` settings, answers
`--print-config`, opens the run folder (kexue/runs/: the refusals, run.json) and, on a resume, takes the
run's own settings with only what may change from `--set`. Under torchrun rank 0 alone does this
(`rank_zero_first`); the other ranks wait for its answer.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from kexue.cli_errors import USER_ERRORS, click_exceptions, is_main, say
from kexue.cli_options import RunOptions
from kexue.cli_settings import print_config, settings
from kexue.config import merge

T = TypeVar("T")


def start_run(opts: RunOptions, command: str, topic: str, preset: T, cls: type[T], *,
              options: dict[str, Any] | None = None, may_change: tuple[str, ...] = (), section: str | None = None,
              applied: bool = False, reread: bool = True,
              has_state: Callable[[Path], bool] | None = None) -> tuple[T, Any]:
    """The preamble of a training command decorated with `train_options`: the preset, then --config and
    --set (`applied`: the caller did that already, mad's run with its own options between them), then
    --print-config, the run folder and, on a resume, the run's own settings (`reread=False`: the
    command's library checks a resume's settings itself, mad's loop). `section`: where config.json's `run`
    keeps the `cls`, when not at the top (kexue.runs.resume_settings); `has_state`: whether a folder holds
    a checkpoint to resume (default: the Trainer's).

    Returns (settings to train with, kexue.runs.Run); everything is checked before any data is read.
    Under torchrun rank 0 alone looks at the folder (refuses, clears it for --overwrite, writes run.json,
    reads the run's settings); the other ranks wait for its answer, so none reads a folder being cleared."""
    from kexue.runs import open_run, record_session, recorded_sets, resume_settings

    cfg = preset if applied else settings(preset, opts.config, opts.sets, section)
    cfg = with_device(cfg, opts.device, opts.precision, opts.log)
    if opts.show_config:
        if is_main():
            print_config(cfg)
        raise typer.Exit(0)
    out = run_folder(opts.out, topic)
    if opts.resume and opts.config is not None:  # refused before the folder is looked at
        _config_with_resume(opts.config, out)

    def prepare() -> tuple[T, Any]:
        chosen = dict(options or {})
        run = open_run(out, command, resume=opts.resume, auto_resume=opts.auto_resume, overwrite=opts.overwrite,
                       options=chosen, given=given(opts.ctx, chosen), has_state=has_state)
        if run.note:
            say(run.note)
        settled = cfg
        if run.resume:
            if opts.config is not None:
                _config_with_resume(opts.config, out)
            if reread:
                settled = with_device(resume_settings(out, cls, opts.sets, may_change, recorded_sets(run.recorded),
                                                      section), opts.device, opts.precision, opts.log)
            say(f"resuming {out} with its own settings")
        train = getattr(settled, "train", None)
        if train is not None:
            train.check()  # e.g. log=tensorboard without its package: one line before any data is read
        run.sets = list(opts.sets or [])
        record_session(run)
        return settled, run

    return rank_zero_first(prepare, getattr(getattr(cfg, "train", None), "device", "auto"))


def _config_with_resume(config: Path, out: Path) -> None:
    raise ValueError(f"--config {config} with --resume: a resume trains with the run's own settings "
                     f"({out}/config.json); drop --config")


def given(ctx: typer.Context, names) -> tuple[str, ...]:
    """The parameters among `names` set on this command line (not left at their defaults)."""
    sources = {n: ctx.get_parameter_source(n) for n in names}
    return tuple(n for n, src in sources.items() if src is not None and src.name in ("COMMANDLINE", "ENVIRONMENT"))


def with_device(cfg: T, device: str | None, precision: str | None, log: str | None = None) -> T:
    """cfg with train.device / train.precision / train.log set from `--device` / `--precision` / `--log`
    (None: keep), each checked against its field's type."""
    given_ = {k: v for k, v in {"device": device, "precision": precision, "log": log}.items() if v is not None}
    if not given_:
        return cfg
    if not dataclasses.is_dataclass(getattr(cfg, "train", None)):
        raise ValueError(f"--{next(iter(given_))}: this command trains no model of its own (its settings have no "
                         "train section); see --print-config")
    return dataclasses.replace(cfg, train=merge(cfg.train, given_, "the command line", "train."))


def run_folder(out: Path | None, topic: str) -> Path:
    """`--out`, or a fresh runs/<topic>/version_N (said on stderr); torchrun needs an explicit --out."""
    if out is not None:
        return out
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError("under torchrun give --out: the ranks must agree on one run folder")
    from kexue.runs import default_out

    out = default_out(topic)
    say(f"run folder: {out}")
    return out


def rank_zero_first(prepare: Callable[[], T], device: str = "auto") -> T:
    """prepare() on rank 0; under torchrun (joining its process group on `device`) the other ranks
    wait for rank 0's result and return it, or leave with its exit status when it failed (rank 0 says
    why, in one line)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return prepare()
    from kexue.train.distributed import broadcast_from_main, init_distributed

    init_distributed(None if device == "auto" else device)
    if not is_main():
        ok, value = broadcast_from_main(None)
        if not ok:
            raise typer.Exit(value)
        return value
    try:
        value = prepare()
    except typer.Exit as e:
        broadcast_from_main((False, e.exit_code))
        raise
    except BaseException as e:
        broadcast_from_main((False, 2 if isinstance(e, (*USER_ERRORS, click_exceptions.ClickException)) else 1))
        raise
    broadcast_from_main((True, value))
    return value
