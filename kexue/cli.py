"""The `kexue` command: `kexue TOPIC VERB [OPTIONS]` and `kexue reproduce`.

Each topic adds its own sub-commands from `kexue/<topic>/cli.py` (a `typer.Typer` named `app`), under
its package name with "_" written "-" (`kexue decoder-only`); every command follows one convention
(kexue/cli_common.py: errors, exit codes, --debug, settings, devices).
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from kexue.console import ResultsConsole

import kexue
from kexue.cli_common import adopt, fail, is_main, set_debug
from kexue.reproduce import PRESETS, TOPICS, default_jobs, run_topics

# what `kexue --help` says first: where each of the three kinds of user starts
START = """kexue: the models and claims of Scientific Spaces (kexue.fm) posts.

\b
Where to start:
  your own data   kexue gplinker ner train --train my.jsonl --out runs/ner
                  (and kexue diffusion / lru / roformer train)
  layers          from kexue.nn import RoPE, GlobalPointer, LRU
                  (the README has a ten-line example per post)
  the posts       kexue reproduce --preset quick
                  (one HTML page, a verdict per claim)

Shell completion: kexue --install-completion."""

app = typer.Typer(no_args_is_help=True, add_completion=True, help=START, rich_markup_mode=None)
console = Console(stderr=True)

for _topic in TOPICS:
    _cli = importlib.import_module(f"kexue.{_topic}.cli")
    app.add_typer(_cli.app, name=_topic.replace("_", "-"))  # decoder_only → kexue decoder-only
    if "_" in _topic:  # the package's spelling, as `kexue reproduce` and --set take it, works too (hidden)
        app.add_typer(_cli.app, name=_topic, hidden=True)
app.add_typer(importlib.import_module("kexue.report.cli").app, name="report")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kexue {kexue.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="show the traceback of an error (also KEXUE_DEBUG=1)"),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version"),
) -> None:
    set_debug(debug)


@app.command()
def reproduce(
    topics: Optional[list[str]] = typer.Argument(None, help=f"topics to run (default all): {', '.join(TOPICS)}"),
    preset: str = typer.Option("quick", help=f"one of {', '.join(PRESETS)}: quick = CPU minutes, full = the post's settings"),
    out: Path = typer.Option(Path("runs/reproduce"), help="folder for results.json, figures and index.html"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="TOPIC.key=value: a setting of that topic's "
                                             "preset (repeatable), e.g. --set gplinker.duee_dir=data/DuEE1.0"),
    jobs: Optional[int] = typer.Option(None, min=1, help="topics run at once, each in its own process "
                                       "(default: the cores for quick and standard, 1 for smoke and full)"),
) -> None:
    """Re-run each post's claims and write one HTML page with figures and a verdict per claim."""
    from kexue.report import ReportError, render_report

    smoke = preset == "smoke"
    if smoke and is_main():
        console.print("[bold yellow]smoke[/]: a wiring test at toy sizes; its verdicts mean nothing", soft_wrap=True)

    def done(name: str, r) -> None:
        if is_main():
            held = sum(c.verdict == "held" for c in r.claims)
            console.print(f"[bold]{name}[/] ({r.seconds:.0f} s): {held}/{len(r.claims)} claims held")

    jobs = jobs or default_jobs(preset, len(topics or TOPICS))
    if jobs > 1 and is_main():
        console.print(f"{len(topics or TOPICS)} topics, {jobs} at a time; each topic's progress is in "
                      f"{out}/<topic>/reproduce.log", soft_wrap=True, markup=False)
    try:
        results = run_topics(topics, preset, out, on_topic=done, sets=set_, jobs=jobs)
    except ValueError as e:  # a bad topic, preset or --set: one line, exit code 2
        fail(str(e), 2)
    try:
        page = render_report(out)
    except ReportError as e:
        fail(f"report: {e}", 1)
    if not is_main():  # under torchrun only rank 0 prints
        return
    results_console = ResultsConsole()  # full cells when stdout is not a terminal (kexue/console.py)
    title = f"kexue reproduce --preset {preset}" + (" (smoke: wiring test, verdicts mean nothing)" if smoke else "")
    table = Table(title=title, expand=False)
    table.add_column("post", no_wrap=True)
    table.add_column("claim", ratio=1, overflow="fold")
    table.add_column("verdict", no_wrap=True)
    for r in results:
        for c in r.claims:
            table.add_row(str(c.source or r.post), c.claim, c.verdict)  # the post the claim quotes
    results_console.print(table)
    results_console.print(f"page: {page}", soft_wrap=True)


def unset_flags(typer_app: typer.Typer, root: bool = True) -> dict[str, Any]:
    """click's `default_map` that gives `--help` of every group (and the root's completion flags) the value
    False when it is not given. typer coerces a flag left unset (None) through a pydantic TypeAdapter, so
    `kexue GROUP --help` imported pydantic (about 0.1 s) for the root's flags alone; a default of False is
    a bool already, and nothing is coerced."""
    out: dict[str, Any] = {"help": False}
    if root:
        out.update(install_completion=False, show_completion=False)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            out[group.name or group.typer_instance.info.name] = unset_flags(group.typer_instance, root=False)
    return out


def main() -> None:
    try:
        app(default_map=unset_flags(app))
    except SystemExit as e:
        if sys.modules.get("torch") is None:  # --help, a bad option, serve --onnx: nothing of torch to leave
            raise
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            raise
        from kexue.train import leave_and_exit

        if isinstance(e.code, str):  # SystemExit("message"): print it as Python would
            print(e.code, file=sys.stderr)
        leave_and_exit(e.code if isinstance(e.code, int) else 0 if e.code is None else 1)


adopt(app)  # every topic's commands, gplinker's included


if __name__ == "__main__":
    main()
