"""The one command-line convention of every `kexue` command: errors, exit codes, settings, devices.

Errors: one unwrapped line on stderr, `error: <what and what to do>`, plain text (no rich markup, so
"[start, end_exclusive, type]" survives); exit status 2 for a user's mistake (a ValueError, a missing
or wrong file, a bad option: bad path, bad setting, bad data, wrong run folder) and 1 for a failure at
run time (anything else); no traceback unless `kexue --debug` (or KEXUE_DEBUG=1). A run stopped by
SIGINT/SIGTERM prints "interrupted at step N; continue with --resume" and exits 130/143; one that
diverged (a non-finite loss) or found the disk full says so in one line and exits 1. The locks a command
took on run folders are given back when it ends. Results go to stdout, messages and progress to stderr.

A topic adopts it in one line at the end of its cli.py, `adopt(app)`, which wraps every command of the
Typer app (`kexue.cli` adopts every topic's app again; wrapping is idempotent). For settings, a training
command takes `--config FILE` (JSON or TOML, a run's own config.json included), `--set key=value` on top
and `--print-config` (every key, its value for the chosen preset and its type), through `settings()`;
`--device`, `--precision` and `--log` through `with_device()`; its folder through `run_folder()` (kexue/runs.py).
Those options are defined once: `@train_options(topic)` gives a command all of them as one `opts:
RunOptions`, and `start_run(opts, ...)` is the preamble that uses them (`start_training`).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import tomllib
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

try:  # typer ≥ 0.20 carries its own copy of click, whose exceptions are not click's
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - an older typer on plain click
    from click import exceptions as click_exceptions

from kexue.cli_options import OPTIONS, RunOptions, option, train_options  # noqa: F401
from kexue.config import _strip_optional, did_you_mean, override, parse_value

T = TypeVar("T")
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
               PermissionError, KeyError)
_debug = [False]


def set_debug(on: bool) -> None:
    _debug[0] = on


def debug() -> bool:
    return _debug[0] or os.environ.get("KEXUE_DEBUG", "") not in ("", "0")


def is_main() -> bool:
    """Rank 0 under torchrun (or no torchrun): the one process that prints results and notes."""
    return os.environ.get("RANK", "0") == "0"


def say(message: str) -> None:
    """One plain line on stderr (a note, not a result), from rank 0."""
    if is_main():
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def warn(message: str) -> None:
    """`warning: message` on stderr, plain text (no markup: "[start, end)" and "kexue[serve]" survive)."""
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


def fail(message: str, code: int = 2) -> NoReturn:
    """`error: message` on stderr, then exit with `code` (2: the user's mistake, 1: a failure)."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise typer.Exit(code)


# a package that the lean install leaves out → the extra of pyproject.toml that brings it
EXTRAS = {"matplotlib": "reproduce", "scipy": "reproduce", "sklearn": "reproduce", "threadpoolctl": "reproduce",
          "jieba": "reproduce", "pypinyin": "reproduce", "transformers": "hf", "fastapi": "serve",
          "uvicorn": "serve", "fastapi_offline": "serve", "tensorboard": "log", "onnx": "onnx",
          "onnxruntime": "onnx", "onnxscript": "onnx"}


def extra_of(module: str | None) -> str | None:
    """The extra that brings the top-level package of `module`, if kexue names one."""
    return EXTRAS.get((module or "").partition(".")[0])


def guard(fn: Callable) -> Callable:
    """Run a command under the convention (see the module doc)."""
    if getattr(fn, "_kexue_guarded", False):
        return fn

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        from kexue.train.checkpoint import DiskFullError
        from kexue.train.interrupt import TrainingInterrupted
        from kexue.train.lock import release_all
        from kexue.train.loop import TrainingDiverged

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except (TrainingDiverged, DiskFullError) as e:  # a failure at run time that says all there is to say
            if debug():
                raise
            fail(_one_line(e.strerror if isinstance(e, OSError) else str(e)), 1)
        except TrainingInterrupted as e:
            say(str(e) if e.out_dir is None else f"{e} --out {e.out_dir}")
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            say("interrupted")
            raise typer.Exit(130) from None
        except click_exceptions.ClickException as e:  # typer.BadParameter raised inside a command
            if debug():
                raise
            fail(_one_line(e.format_message()), 2)
        except ModuleNotFoundError as e:
            if debug() or extra_of(e.name) is None:
                raise
            fail(f"this command needs the {e.name} package: pip install 'kexue[{extra_of(e.name)}]'", 2)
        except USER_ERRORS as e:
            if debug():
                raise
            fail(_one_line(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)), 2)
        except Exception as e:  # a failure at run time
            if debug():
                raise
            fail(f"{type(e).__name__}: {_one_line(str(e))} (kexue --debug shows the traceback)", 1)
        finally:
            release_all()  # the run folders' locks this command took (kexue/train/lock.py)

    run._kexue_guarded = True  # type: ignore[attr-defined]
    return run


def adopt(app: typer.Typer) -> typer.Typer:
    """Wrap every command of `app` (and of its sub-apps) in `guard`; returns app."""
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = guard(info.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            adopt(group.typer_instance)
    return app


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ---- settings: --config FILE, --set, --print-config ----

def settings(cfg: T, config_file: Path | None = None, sets: list[str] | None = None,
             section: str | None = None) -> T:
    """The preset `cfg`, then the settings of config_file, then the `--set key=value`s; `section`: the key
    under which a run's config.json keeps them, when not at the top of its `run` section."""
    if config_file is not None:
        cfg = merge(cfg, read_config_file(config_file, section), str(config_file))
    return override(cfg, sets)


def read_config_file(path: Path, section: str | None = None) -> dict[str, Any]:
    """A JSON or TOML file of settings; a run's config.json gives its `run` section (its `section` key,
    when given and present: roformer finetune's run is {"finetune": ..., "labels": ...})."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--config {path}: no such file")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--config {path}:{e.lineno}: not valid JSON ({e.msg})") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"--config {path}: not valid TOML ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"--config {path}: expected an object of settings, got {type(data).__name__}")
    data = data["run"] if isinstance(data.get("run"), dict) else data
    return data[section] if section is not None and isinstance(data.get(section), dict) else data


def merge(cfg: T, values: dict[str, Any], where: str, prefix: str = "") -> T:
    """`cfg` with the (nested) `values` set, each checked against the field's type."""
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    hints = typing.get_type_hints(type(cfg))
    changes: dict[str, Any] = {}
    for name, value in values.items():
        key = prefix + name
        if name not in fields:
            raise ValueError(f"--config {where}: unknown setting {key!r}{did_you_mean(name, fields)}; "
                             f"known: {', '.join(sorted(fields))}")
        current = getattr(cfg, name)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[name] = merge(current, value, where, key + ".")
            continue
        changes[name] = _coerce(value, hints[name], f"{where}: {key}")
    return dataclasses.replace(cfg, **changes)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    bare = _strip_optional(tp)
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str) and bare is not str and typing.get_origin(bare) is not typing.Literal:
        return parse_value(value, tp, where)
    if isinstance(value, list) and typing.get_origin(bare) is tuple:
        return tuple(value)
    if bare is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if bare in (int, float, bool, str) and not isinstance(value, bare):
        raise ValueError(f"--config {where}={value!r}: expected {bare.__name__}")
    if typing.get_origin(bare) is typing.Literal and value not in typing.get_args(bare):
        raise ValueError(f"--config {where}={value!r}: must be one of {', '.join(map(str, typing.get_args(bare)))}")
    return value


def settings_rows(cfg: Any, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, value, type) for every leaf setting of a dataclass, dotted keys in field order."""
    rows = []
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            rows += settings_rows(value, f"{prefix}{f.name}.")
            continue
        tp = hints[f.name]
        name = tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")
        rows.append((prefix + f.name, json.dumps(value, ensure_ascii=False, default=str), name))
    return rows


def print_config(cfg: Any) -> None:
    """Every setting as `key = value  # type` on stdout: TOML a `--config` file can take back."""
    rows = settings_rows(cfg)
    width = max(len(k) + len(v) for k, v, _ in rows) + 3
    for key, value, tp in rows:
        value = "{" + ", ".join(f'"{k}" = {json.dumps(v)}' for k, v in json.loads(value).items()) + "}" \
            if value.startswith("{") else value
        line = f"{key} = {value}"
        typer.echo(f"{line:<{width}}  # {tp}" if value != "null" else f"# {key} = (none)  # {tp}")


# ---- the options every training command shares (defined in kexue/cli_options.py) ----

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


# ---- devices, precision, run folders ----

def given(ctx: typer.Context, names) -> tuple[str, ...]:
    """The parameters among `names` set on this command line (not left at their defaults)."""
    sources = {n: ctx.get_parameter_source(n) for n in names}
    return tuple(n for n, src in sources.items() if src is not None and src.name in ("COMMANDLINE", "ENVIRONMENT"))


def with_device(cfg: T, device: str | None, precision: str | None, log: str | None = None) -> T:
    """cfg with train.device / train.precision / train.log set from `--device` / `--precision` / `--log`
    (None: keep)."""
    given_ = {"device": device, "precision": precision, "log": log}
    return override(cfg, [f"train.{k}={v}" for k, v in given_.items() if v is not None])


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
