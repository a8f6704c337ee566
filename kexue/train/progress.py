"""What a run shows and records: the progress bar, metrics.jsonl and the summary at the end.

Only rank 0 shows or writes anything. The bar (rich, on stderr) shows the last logged loss, the
current learning rate, steps per second and the time left. metrics.jsonl gets one JSON object per
logged step; on resume, the records after the checkpoint's step (written by the run that died) are
dropped first, so the file reads as if the run had never stopped.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

from kexue.train.checkpoint import atomic_path


class StepProgress:
    """A rich progress bar over optimizer steps; does nothing when disabled."""

    def __init__(self, total: int, start: int, enabled: bool, console: Console | None = None,
                 description: str = "train"):
        self.enabled = enabled
        if not enabled:
            return
        self._bar = Progress(
            TextColumn(f"[bold]{description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TextColumn("lr {task.fields[lr]}"),
            _RateColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=console or Console(stderr=True), transient=False)
        self._task = self._bar.add_task(description, total=total, completed=start, loss="–", lr="–")
        self._bar.start()

    def update(self, step: int, lr: float, loss: float | None = None) -> None:
        if not self.enabled:
            return
        fields: dict[str, Any] = {"lr": f"{lr:.3g}"}
        if loss is not None:
            fields["loss"] = f"{loss:.4g}"
        self._bar.update(self._task, completed=step, **fields)

    def close(self) -> None:
        if self.enabled:
            self._bar.stop()


class MetricsLog:
    """metrics.jsonl: one JSON object per line, appended and flushed as each record comes."""

    def __init__(self, path: Path, enabled: bool, keep_until: int | None = None):
        """Start the file anew, or with keep_until=k keep the records of steps ≤ k (a resume)."""
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        kept: list[str] = []
        if keep_until is not None and path.exists():
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut short when the run was killed
                    continue
                if not isinstance(record, dict) or "step" not in record:
                    raise ValueError(f"{path}:{lineno}: not a metrics record (no 'step'); "
                                     "move the file away to resume")
                if record["step"] <= keep_until:
                    kept.append(line)
        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file, or of the one in a run directory."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


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
        return Text("– it/s" if speed is None else f"{speed:.1f} it/s")
