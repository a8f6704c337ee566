"""What a run shows and records: the progress bar, metrics.jsonl and the summary at the end.

Only rank 0 shows or writes anything. On a terminal a rich bar (on stderr) shows the last logged loss,
the current learning rate, the rate and the time left; in a log, a plain line every 30 s says the same
(StepProgress). `phase(...)` gives evaluation, sampling, prediction and data generation theirs. metrics.jsonl gets one JSON object per
logged step (and, with TrainConfig.log = "tensorboard", an events file beside it); on resume, the records after the checkpoint's step (written by the run that died) are
dropped first, so the file reads as if the run had never stopped.
"""
from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

from kexue.train.checkpoint import atomic_path, raise_if_disk_full
from kexue.train.estimate import clock  # 42s, 6m24s, 3h05m, 12d04h


class StepProgress:
    """Progress over optimizer steps (or any count): a rich bar on a terminal, plain lines in a log.

    On a terminal: the bar, the last logged loss, the learning rate, the rate (it/s, or s/it when a step
    takes longer than a second) and the time left, both from the whole session (not a recent window, so
    steps slower than rich's 30 s window still get a rate and an ETA). Elsewhere (`> log`, nohup, SLURM,
    CI): one line every `every` seconds (KEXUE_PROGRESS_SECONDS, default 30) and one at the end, e.g.
    `train 120/1000 (12 %) loss 2.31 lr 0.001 3.2 s/it elapsed 6m24s eta 47m`. Does nothing when disabled.
    """

    def __init__(self, total: int | None, start: int = 0, enabled: bool = True, console: Console | None = None,
                 description: str = "train", every: float | None = None):
        self.enabled, self.total, self.start, self.description = enabled, total, start, description
        if not enabled:
            return
        self._console = console or Console(stderr=True)
        self._every = every if every is not None else float(os.environ.get("KEXUE_PROGRESS_SECONDS", "30"))
        self._t0 = self._last_line = time.perf_counter()
        self._done, self._fields = start, {"loss": "–", "lr": "–"}
        self._bar: Progress | None = None
        if self._console.is_terminal:
            columns = [TextColumn("[bold]{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn()]
            if description == "train":
                columns += [TextColumn("loss {task.fields[loss]}"), TextColumn("lr {task.fields[lr]}")]
            columns += [_RateColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
            self._bar = Progress(*columns, console=self._console, transient=False,
                                 speed_estimate_period=1e9)  # the rate of the whole session
            self._task = self._bar.add_task(escape(description), total=total, completed=start, **self._fields)
            self._bar.start()

    def update(self, step: int, lr: float | None = None, loss: float | None = None) -> None:
        if not self.enabled:
            return
        self._done = step
        if lr is not None:
            self._fields["lr"] = f"{lr:.3g}"
        if loss is not None:
            self._fields["loss"] = f"{loss:.4g}"
        if self._bar is not None:
            self._bar.update(self._task, completed=step, **self._fields)
        elif time.perf_counter() - self._last_line >= self._every:
            self._line()

    def phase(self, name: str | None) -> None:
        """Name what the run is doing now (e.g. "eval"): the bar's label; None goes back to the own name."""
        if self.enabled and self._bar is not None:
            self._bar.update(self._task, description=name or self.description)

    def note(self, text: str) -> None:
        """A line of its own: above the bar on a terminal, in the log otherwise."""
        if self.enabled:
            self._console.print(text, markup=False, highlight=False, soft_wrap=True)

    def advance(self, n: int = 1) -> None:
        if self.enabled:
            self.update(self._done + n)

    def line(self) -> str:
        """The plain progress line as it stands (what a log gets every `every` seconds)."""
        elapsed = time.perf_counter() - self._t0
        done = self._done - self.start
        parts = [self.description, f"{self._done}/{self.total}" if self.total else str(self._done)]
        if self.total:
            parts.append(f"({100 * self._done / self.total:.0f} %)")
        if self.description == "train":
            parts += [f"loss {self._fields['loss']}", f"lr {self._fields['lr']}"]
        if done > 0 and elapsed > 0:
            parts.append(_rate(done / elapsed))
        parts.append(f"elapsed {clock(elapsed)}")
        if done > 0 and self.total:
            # ETA = (steps left) × (seconds per step of this session)
            parts.append(f"eta {clock((self.total - self._done) * elapsed / done)}")
        return " ".join(parts)

    def _line(self) -> None:
        self._last_line = time.perf_counter()
        self._console.print(self.line(), markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.stop()
        elif self._done > self.start:
            self._line()


@contextmanager
def phase(description: str, total: int | None = None, enabled: bool = True) -> Iterator[StepProgress]:
    """A bar (terminal) or plain lines (log) for a long phase: evaluation, sampling, prediction, data."""
    bar = StepProgress(total, 0, enabled, description=description)
    try:
        yield bar
    finally:
        bar.close()


class MetricsLog:
    """metrics.jsonl: one JSON object per line, appended and flushed as each record comes."""

    def __init__(self, path: Path, enabled: bool, keep_until: int | None = None, tensorboard: bool = False,
                 logger: str = "jsonl", config: dict[str, Any] | None = None):
        """Start the file anew, or with keep_until=k keep the records of steps ≤ k (a resume); every record
        also goes to the logger `logger` names (loggers.py; tensorboard=True is logger="tensorboard"),
        which gets the run's settings `config`."""
        from kexue.train.loggers import make_logger

        self.path, self.enabled = path, enabled
        self.board = make_logger("tensorboard" if tensorboard else logger, path.parent, enabled, keep_until, config)
        if not enabled:
            return
        kept: list[str] = []
        if keep_until is not None and path.exists():
            for record in read_metrics(path):
                if "step" not in record:
                    raise ValueError(f"{path}: a record without 'step' ({json.dumps(record)[:60]}); move the "
                                     "file away to resume")
                if record["step"] <= keep_until:
                    kept.append(json.dumps(record, ensure_ascii=False))
        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        line = json.dumps(json_safe(record), ensure_ascii=False, allow_nan=False)
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError as e:
            raise_if_disk_full(e, self.path.parent)
            raise
        self.board.write(record)

    def close(self) -> None:
        self.board.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file, or of the one in a run directory: what every reader of the
    file goes through. A last line cut short (the run was killed as it wrote it) is skipped; any other
    line that is not a JSON object is a ValueError naming the file and the line."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    records = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if lineno == len(lines):  # the last line, with no newline after it: its write was cut short
                break
            raise ValueError(f"{path}:{lineno}: not a JSON record ({e.msg}); move the file away, or delete "
                             "the line") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}:{lineno}: not a metrics record (a JSON object); move the file away, or "
                             "delete the line")
        records.append(record)
    return records


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float as None: what JSON can hold (a bare NaN is not JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def summary_table(summary: dict[str, Any]) -> Table:
    """The end-of-run summary as a rich table: one row per number, then where the files are."""
    table = Table(title="training summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, Any]] = [("final loss", summary.get("final_loss")), ("steps", summary.get("steps")),
                                   ("time", f"{summary.get('seconds', 0.0):.1f} s")]
    if summary.get("resumed_from") is not None:
        rows.append(("resumed from step", summary["resumed_from"]))
    if summary.get("tokens_per_s") is not None:
        rows.append(("tokens/s", f"{summary['tokens_per_s']:,.0f}"))
    rows += [(k, v) for k, v in summary.items() if k.startswith("eval")]
    rows.append(("checkpoint", summary.get("checkpoint")))
    for name, value in rows:
        if isinstance(value, float):
            value = f"{value:.5g}"
        table.add_row(name, str(value))
    return table


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    (console or Console(stderr=True)).print(summary_table(summary))


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("– it/s" if not speed else _rate(speed))


def _rate(per_second: float) -> str:
    """3.2 it/s, or 4.1 s/it when a step takes longer than a second."""
    return f"{per_second:.1f} it/s" if per_second >= 1 else f"{1 / per_second:.1f} s/it"
