"""The error convention of every `kexue` command: one plain line on stderr, its exit status, no traceback.

Errors: one unwrapped line on stderr, `error: <what and what to do>`, plain text (no rich markup, so
"[start, end_exclusive, type]" survives); exit status 2 for a user's mistake (a ValueError, a missing
or wrong file, a bad option: bad path, bad setting, bad data, wrong run folder) and 1 for a failure at
run time (anything else); no traceback unless `kexue --debug` (or KEXUE_DEBUG=1). A run stopped by
SIGINT/SIGTERM prints "interrupted at step N; continue with --resume" and exits 130/143; one that
diverged (a non-finite loss) or found the disk full says so in one line and exits 1. The locks a command
took on run folders are given back when it ends. Results go to stdout, messages and progress to stderr.

A topic adopts it in one line at the end of its cli.py, `adopt(app)`, which wraps every command of the
Typer app (`kexue.cli` adopts every topic's app again; wrapping is idempotent). `fail`/`warn`/`say` are
the one printer of a command's own lines.
"""
from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import typer

try:  # typer ≥ 0.20 carries its own copy of click, whose exceptions are not click's
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - an older typer on plain click
    from click import exceptions as click_exceptions

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
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except _loaded("kexue.train.diverge:TrainingDiverged", "kexue.train.checkpoint:DiskFullError") as e:
            # a failure at run time that says all there is to say
            if debug():
                raise
            fail(_one_line(e.strerror if isinstance(e, OSError) else str(e)), 1)
        except _loaded("kexue.train.interrupt:TrainingInterrupted") as e:
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
            lock = sys.modules.get("kexue.train.lock")  # a command that took no lock never imported it
            if lock is not None:
                lock.release_all()  # the run folders' locks this command took (kexue/train/lock.py)

    run._kexue_guarded = True  # type: ignore[attr-defined]
    return run


def _loaded(*names: str) -> tuple[type, ...]:
    """The exception classes `module:Class` of `names` whose module has been imported. A class whose module
    was never imported cannot have been raised, and the guard imports nothing: a command that needs no torch
    (`serve --onnx`, `--help`) runs without it (kexue.train's modules import torch)."""
    out = []
    for name in names:
        module, _, cls = name.partition(":")
        if sys.modules.get(module) is not None:
            out.append(getattr(sys.modules[module], cls))
    return tuple(out)


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
