"""The options every training command shares, defined once: `--set`, `--config`, `--print-config`,
`--out`, `--resume`, `--auto-resume`, `--overwrite`, `--device`, `--precision`, `--log`, `--progress`.

A command takes them all with `@train_options(topic)` as one `opts: RunOptions` argument and hands
that to `kexue.cli_common.start_run`; OPTIONS holds the single definitions and `option(name)` gives one
of them to a command that takes only some (`--device` on an evaluate command). kexue/cli_common.py
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


# name → (default, flag(s), help); `{topic}` and `{example}` in a help are filled in by `option`
OPTIONS: dict[str, tuple[Any, str, str]] = {
    "sets": (None, "--set", "override a setting, e.g. --set {example} (repeatable)"),
    "config": (None, "--config", "a JSON or TOML file of settings (a run's config.json too); --set applies on top"),
    "show_config": (False, "--print-config", "print every setting (value, type) of the chosen preset and exit"),
    "out": (None, "--out", "the run folder (default: a new runs/{topic}/version_N)"),
    "resume": (False, "--resume", "continue the run in --out from its last checkpoint, with the run's own "
                                  "settings (only steps and frequencies may change)"),
    "auto_resume": (False, "--auto-resume", "continue the run in --out if it has a checkpoint, else start one there"),
    "overwrite": (False, "--overwrite", "replace the run in --out (without it a non-empty --out is refused)"),
    "device": (None, "--device", "cpu | cuda | cuda:N | mps (default: cuda if available)"),
    "precision": (None, "--precision", "fp32 | bf16 | fp16 (fp16 with a gradient scaler)"),
    # torchrun's own --log-dir takes a later `--log` for an abbreviation of it: there, --set train.log=...
    "log": (None, "--log", "jsonl | tensorboard | mlflow | wandb: a logger beside metrics.jsonl (each with "
                           "its extra: log, mlflow, wandb; wandb offline); under torchrun: --set train.log=…"),
    "progress": (True, "--progress/--no-progress", "show progress (a bar on a terminal, lines in a log)"),
}


def alias(flag: str, of: str):
    """A hidden option: `flag`, the old spelling of the option `of`, still accepted (the one vocabulary:
    `--preset` for a named set of sizes or a recipe, `--model` for a run folder to read)."""
    return typer.Option(None, flag, hidden=True, help=f"the old spelling of {of}")


def either(value: Any, old: Any, flag: str, old_flag: str, default: Any = None) -> Any:
    """The value of an option given under its name or under its old spelling (not both, differently)."""
    if value is not None and old is not None and value != old:
        raise ValueError(f"{flag} {value} and {old_flag} {old}: give one ({old_flag} is the old spelling of {flag})")
    return value if value is not None else old if old is not None else default


def run_and_out(model: Path | None, folders: list[Path] | None, command: str) -> tuple[Path, Path]:
    """An export's run folder and the folder it writes: `--model RUN OUT`, or the old positional `RUN OUT`."""
    folders = list(folders or [])
    if model is not None and len(folders) == 1:
        return model, folders[0]
    if model is None and len(folders) == 2:
        return folders[0], folders[1]
    given = " ".join(["--model", str(model)] if model is not None else []) + "".join(f" {f}" for f in folders)
    raise ValueError(f"{command} {given.strip()}: give the run with --model and one folder to write, e.g. "
                     f"{command} --model runs/run runs/run-onnx")


def option(name: str, topic: str = "TOPIC", example: str = "train.steps=800"):
    """The typer.Option of one shared option (a key of OPTIONS), for a command that takes only some."""
    default, flag, text = OPTIONS[name]
    return typer.Option(default, flag, help=text.format(topic=topic, example=example))


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
    log: str | None  # jsonl | tensorboard | mlflow | wandb
    progress: bool


def _shared_options(topic: str, set_example: str) -> list[tuple[str, Any, Any]]:
    """(name, type, typer.Option) of RunOptions' fields, in the order `--help` lists them."""
    types = typing.get_type_hints(RunOptions)
    return [(f.name, types[f.name], option(f.name, topic, set_example))
            for f in dataclasses.fields(RunOptions) if f.name != "ctx"]


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
