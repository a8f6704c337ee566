"""`kexue report render|merge|check`: write the page from a results.json, merge runs, check a page.

`kexue reproduce` renders the page itself; `render` redoes it (after editing results.json, or on
another machine); `merge` makes one page of several reproduce folders (topics run one at a time, or on
different machines); `check` opens a page in headless Chromium and fails (exit 1) when it did not load,
an image did not decode, the console showed an error, or the page tried to reach the network.
Each command imports the part of kexue.report it runs, so that `kexue report --help` (and every `kexue`
command, which loads this module to list its group) stays fast (benchmarks/cli_startup.py).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from kexue.cli_common import fail

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="The HTML page of `kexue reproduce`: render it, merge runs, check it in a browser.\n\n"
                       "\b\nExample:\n  kexue report merge runs/a runs/b --out runs/page\n"
                       "  kexue report check runs/page/index.html")
console = Console(stderr=True)


@app.command()
def render(out: Path = typer.Argument(Path("runs/reproduce"), help="the folder holding results.json")) -> None:
    """Write OUT/index.html from OUT/results.json and the figures beside it."""
    from kexue.report.html import render_report
    from kexue.report.load import ReportError
    try:
        page = render_report(out)
    except ReportError as e:
        fail(str(e))
    console.print(f"page: {page}", markup=False)


@app.command()
def merge(
    sources: list[Path] = typer.Argument(..., help="folders of `kexue reproduce` runs of one preset"),
    out: Path = typer.Option(..., "--out", help="a new (or empty) folder for the merged results.json and page"),
) -> None:
    """Write one page from several reproduce folders (each topic once, one preset)."""
    from kexue.report.load import ReportError
    from kexue.report.merge import merge_runs
    from kexue.reproduce import TOPICS
    try:
        page = merge_runs(list(sources), out, order=list(TOPICS))
    except ReportError as e:
        fail(str(e))
    console.print(f"page: {page}", markup=False)


@app.command()
def check(
    page: Path = typer.Argument(Path("runs/reproduce/index.html"), help="the HTML page to open"),
    timeout: float = typer.Option(30.0, help="seconds for the whole check, browser start-up included"),
    width: int = typer.Option(1024, help="viewport width in CSS pixels (below 600: a phone)"),
    screenshot: Optional[Path] = typer.Option(None, help="also write a full-page PNG here"),
    as_json: bool = typer.Option(False, "--json", help="print the whole report as JSON on stdout"),
) -> None:
    """Open PAGE in headless Chromium; exit 1 unless it loads cleanly with every image decoded."""
    from kexue.report.browser import BrowserError, check_page
    try:
        report = check_page(page, timeout=timeout, screenshot=screenshot, width=width)
    except (BrowserError, FileNotFoundError) as e:
        fail(str(e))
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    status = "[green]ok[/]" if report["ok"] else "[red]FAILED[/]"
    console.print(f"{status} {escape(str(page))}: loaded={report['loaded']}, images decoded "
                  f"{report['images_decoded']}/{report['images']}, "
                  f"{len(report['console_errors'])} console errors, "
                  f"{len(report['external_requests'])} network requests ({report['seconds']} s)",
                  highlight=False)
    problems = ([report["load_error"]] if report["load_error"] else []) + report["console_errors"] \
        + [f"image not decoded: {src}" for src in report["broken_images"]] \
        + [f"network request: {url}" for url in report["external_requests"]] \
        + ([f"no installed font has {''.join(report['missing_glyphs'])} (the Chinese renders as boxes): "
            "install a CJK font, e.g. apt-get install fonts-wqy-microhei"] if report["missing_glyphs"] else [])
    for line in problems:
        console.print(f"  {line}", highlight=False, markup=False)
    if report["screenshot"]:
        console.print(f"screenshot: {report['screenshot']}", markup=False)
    if not report["ok"]:
        raise typer.Exit(1)
