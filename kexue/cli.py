"""The `kexue` command: `kexue TOPIC VERB [OPTIONS]` and `kexue reproduce`.

Each topic adds its own sub-commands from `kexue/<topic>/cli.py` (a `typer.Typer` named `app`), under
its package name with "_" written "-" (`kexue decoder-only`).
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from kexue.reproduce import PRESETS, TOPICS, run_topics

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="kexue: the models and claims of Scientific Spaces (kexue.fm) posts.")
console = Console(stderr=True)

for _topic in TOPICS:
    _cli = importlib.import_module(f"kexue.{_topic}.cli")
    app.add_typer(_cli.app, name=_topic.replace("_", "-"))  # decoder_only → kexue decoder-only
app.add_typer(importlib.import_module("kexue.report.cli").app, name="report")


@app.command()
def reproduce(
    topics: Optional[list[str]] = typer.Argument(None, help=f"topics to run (default all): {', '.join(TOPICS)}"),
    preset: str = typer.Option("quick", help=f"one of {', '.join(PRESETS)}: quick = CPU minutes, full = the post's settings"),
    out: Path = typer.Option(Path("runs/reproduce"), help="folder for results.json, figures and index.html"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="TOPIC.key=value: a setting of that topic's "
                                             "preset (repeatable), e.g. --set gplinker.duee_dir=data/DuEE1.0"),
) -> None:
    """Re-run each post's claims and write one HTML page with figures and a verdict per claim."""
    from kexue.report import ReportError, render_report

    def done(name: str, r) -> None:
        held = sum(c.verdict == "held" for c in r.claims)
        console.print(f"[bold]{name}[/] ({r.seconds:.0f} s): {held}/{len(r.claims)} claims held")

    try:
        results = run_topics(topics, preset, out, on_topic=done, sets=set_)
    except ValueError as e:  # a bad topic, preset or --set: one line, exit code 2
        console.print(f"[red]error:[/] {e}", soft_wrap=True)
        raise typer.Exit(2) from None
    try:
        page = render_report(out)
    except ReportError as e:
        console.print(f"[red]report:[/] {e}")
        raise typer.Exit(1) from None
    table = Table(title=f"kexue reproduce --preset {preset}")
    for col in ("post", "claim", "verdict"):
        table.add_column(col)
    for r in results:
        for c in r.claims:
            table.add_row(str(r.post), c.claim[:70], c.verdict)
    console.print(table)
    console.print(f"page: {page}")


def main() -> None:
    try:
        app()
    except SystemExit as e:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            raise
        from kexue.train import leave_and_exit

        if isinstance(e.code, str):  # SystemExit("message"): print it as Python would
            print(e.code, file=sys.stderr)
        leave_and_exit(e.code if isinstance(e.code, int) else 0 if e.code is None else 1)


if __name__ == "__main__":
    main()
