"""The options every training command shares, defined once: `--set`, `--config`, `--print-config`,
`--out`, `--resume`, `--auto-resume`, `--overwrite`, `--device`, `--precision`, `--log`, `--progress`.

A command takes them all with `@train_options(topic)` as one `opts: RunOptions` argument and hands
that to `kexue.cli_common.start_run`; the `opt_*()` functions are the single definitions, for a
command that takes only some of them (`--device` on an evaluate command). kexue/cli_common.py
re-exports everything here.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer


def opt_config():
    return typer.Option(None, "--config", help="a JSON or TOML file of settings (a run's config.json too); "
                                               "--set applies on top")


def opt_print_config():
    return typer.Option(False, "--print-config", help="print every setting (value, type) of the chosen preset "
                                                      "and exit")


def opt_set(example: str = "train.steps=800"):
    return typer.Option(None, "--set", help=f"override a setting, e.g. --set {example} (repeatable)")


def opt_out(topic: str):
    return typer.Option(None, "--out", help=f"the run folder (default: a new runs/{topic}/version_N)")


def opt_resume():
    return typer.Option(False, "--resume", help="continue the run in --out from its last checkpoint, with the "
                                                "run's own settings (only steps and frequencies may change)")


def opt_auto_resume():
    return typer.Option(False, "--auto-resume", help="continue the run in --out if it has a checkpoint, "
                                                     "else start one there")


def opt_overwrite():
    return typer.Option(False, "--overwrite", help="replace the run in --out (without it a non-empty --out is "
                                                   "refused)")


def opt_device():
    return typer.Option(None, "--device", help="cpu | cuda | cuda:N | mps (default: cuda if available)")


def opt_precision():
    return typer.Option(None, "--precision", help="fp32 | bf16 | fp16 (fp16 with a gradient scaler)")


def opt_log():
    # torchrun's own --log-dir takes a later `--log` for an abbreviation of it: there, --set train.log=...
    return typer.Option(None, "--log", help="jsonl | tensorboard (TensorBoard event files beside metrics.jsonl, "
                                            "with the tensorboard package: the log extra); under torchrun: "
                                            "--set train.log=tensorboard")


def opt_progress():
    return typer.Option(True, "--progress/--no-progress", help="show progress (a bar on a terminal, lines in a log)")


@dataclasses.dataclass
class RunOptions:
    """What the options every training command shares said (see `train_options`)."""
    ctx: typer.Context
    sets: list[str] | None  # --set key=value, repeated
    config: Path | None  # --config FILE
    show_config: bool  # --print-config
    out: Path | None  # --out, else a fresh runs/<topic>/version_N
    resume: bool
    auto_resume: bool
    overwrite: bool
    device: str | None
    precision: str | None
    log: str | None  # jsonl | tensorboard
    progress: bool


def _shared_options(topic: str, set_example: str) -> list[tuple[str, Any, Any]]:
    """(name, type, typer.Option) of RunOptions' fields, in the order `--help` lists them."""
    return [("sets", list[str] | None, opt_set(set_example)), ("config", Path | None, opt_config()),
            ("show_config", bool, opt_print_config()), ("out", Path | None, opt_out(topic)),
            ("resume", bool, opt_resume()), ("auto_resume", bool, opt_auto_resume()),
            ("overwrite", bool, opt_overwrite()), ("device", str | None, opt_device()),
            ("precision", str | None, opt_precision()), ("log", str | None, opt_log()),
            ("progress", bool, opt_progress())]


def train_options(topic: str, set_example: str = "train.steps=800") -> Callable[[Callable], Callable]:
    """A training command's shared options, defined once: the decorated function takes its own options
    and `opts: RunOptions`; the command line gets --set, --config, --print-config, --out, --resume,
    --auto-resume, --overwrite, --device, --precision, --log and --progress after its own.

        @app.command()
        @train_options("lru", "train.steps=800")
        def train(task: str = typer.Option("copy"), *, opts: RunOptions) -> None: ...
    """
    def wrap(fn: Callable) -> Callable:
        hints = typing.get_type_hints(fn)  # the function's own annotations, resolved
        own = [p.replace(annotation=hints.get(p.name, p.annotation))
               for p in inspect.signature(fn).parameters.values() if p.name != "opts"]
        ctx = inspect.Parameter("_ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
        shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=tp)
                  for name, tp, option in _shared_options(topic, set_example)]

        @functools.wraps(fn)
        def command(*args: Any, **kwargs: Any) -> Any:
            opts = RunOptions(ctx=kwargs.pop("_ctx"), **{p.name: kwargs.pop(p.name) for p in shared})
            return fn(*args, opts=opts, **kwargs)

        params = [ctx, *own, *shared]
        command.__signature__ = inspect.Signature(params, return_annotation=hints.get("return"))  # type: ignore
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return wrap
