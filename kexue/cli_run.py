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
              options: dict[str, Any] | None = None, may_change: tuple[str, ...] = (),
              section: str | None = None) -> tuple[T, Any]:
    """`start_training` for a command decorated with `train_options`: the preset, then --config and
    --set, then the run folder. Returns (settings to train with, kexue.runs.Run)."""
    cfg = settings(preset, opts.config, opts.sets, section)
    return start_training(opts.ctx, command, topic, cfg, cls, out=opts.out, resume=opts.resume,
                          auto_resume=opts.auto_resume, overwrite=opts.overwrite, config=opts.config,
                          sets=opts.sets, device=opts.device, precision=opts.precision,
                          show_config=opts.show_config, options=options, may_change=may_change, log=opts.log,
                          section=section)


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


def start_training(ctx: typer.Context, command: str, topic: str, cfg: T, cls: type[T], *, out: Path | None,
                   resume: bool, auto_resume: bool, overwrite: bool, config: Path | None, sets: list[str] | None,
                   device: str | None, precision: str | None, show_config: bool,
                   options: dict[str, Any] | None = None, may_change: tuple[str, ...] = (),
                   log: str | None = None, section: str | None = None) -> tuple[T, Any]:
    """The preamble of a training command: --print-config, the run folder, the run's own settings on a
    resume. `cfg` is the preset with --config and --set applied (what a new run trains with); `section`:
    where config.json's `run` keeps it, when not at the top (see kexue.runs.resume_settings).

    Returns (settings to train with, kexue.runs.Run); everything is checked before any data is read.
    Under torchrun rank 0 alone looks at the folder (refuses, clears it for --overwrite, writes run.json,
    reads the run's settings); the other ranks wait for its answer, so none reads a folder being cleared.
    """
    from kexue.runs import open_run, record_session, recorded_sets, resume_settings

    cfg = with_device(cfg, device, precision, log)
    if show_config:
        if is_main():
            print_config(cfg)
        raise typer.Exit(0)
    out = run_folder(out, topic)

    def prepare() -> tuple[T, Any]:
        chosen = dict(options or {})
        run = open_run(out, command, resume=resume, auto_resume=auto_resume, overwrite=overwrite, options=chosen,
                       given=given(ctx, chosen))
        if run.note:
            say(run.note)
        settled = cfg
        if run.resume:
            if config is not None:
                raise ValueError(f"--config {config} with --resume: a resume trains with the run's own settings "
                                 f"({out}/config.json); drop --config")
            settled = with_device(resume_settings(out, cls, sets, may_change, recorded_sets(run.recorded),
                                                  section), device, precision, log)
            say(f"resuming {out} with its own settings")
        train = getattr(settled, "train", None)
        if train is not None:
            train.check()  # e.g. log=tensorboard without its package: one line before any data is read
        run.sets = list(sets or [])
        record_session(run)
        return settled, run

    train = getattr(cfg, "train", None)
    return rank_zero_first(prepare, getattr(train, "device", "auto"))


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
