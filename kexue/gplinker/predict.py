"""Streaming prediction: a JSONL (or plain text) file of any size through an Extractor, in constant memory.

Not from the posts (duee_v1.py and duie_v1.py predict a whole test file held in memory); this is what
running GPLinker on a corpus needs. The input is read lazily, `window` lines at a time; the lines of a
window are sorted by length and run in batches of `batch_size` texts (short with short: little padding),
and the window's results are appended to the output in input order and flushed before the next window
is read. Memory holds one window, whatever the file's size.

One output line per non-blank input line: the input row (a JSON object with "text" and any other
fields, or a plain line as {"text": line}) with the Extractor's result merged in. `resume=True`
continues an interrupted run: the complete lines already in the output are kept (a torn last line,
written when the process died, is cut), as many input lines are skipped, and the last kept line must be
the prediction of the input line it stands for (else the output belongs to another input: an error).
So an interrupted and resumed run writes exactly the lines of an uninterrupted one.
"""
from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from kexue.train.interrupt import TrainingInterrupted


@dataclass
class PredictConfig:
    batch_size: int = 32  # texts per forward pass
    window: int = 1024  # lines read ahead and sorted by length; the memory bound

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.window < 1:
            raise ValueError(f"PredictConfig: batch_size={self.batch_size} and window={self.window} must be ≥ 1")


@dataclass
class PredictSummary:
    written: int  # lines written by this run
    kept: int  # lines found in the output and kept (resume)
    seconds: float

    @property
    def lines_per_s(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


Progress = Callable[[int, int], None]  # (lines done in this run, input bytes read so far)


def read_rows(f: BinaryIO, name: str) -> Iterator[tuple[int, dict[str, Any], int]]:
    """Lazily (line number, row, bytes read so far) of each non-blank line: a JSON object with a string
    "text", or plain text as {"text": line}."""
    read = 0
    for lineno, raw in enumerate(f, 1):
        read += len(raw)
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as e:
            raise ValueError(f"{name}:{lineno}: not UTF-8 (byte {e.start}); convert the file to UTF-8") from None
        if not line.strip():
            continue
        if _json_array(line):
            raise ValueError(f"{name}:{lineno}: a JSON array; give one JSON object or one text per line "
                             f"(JSONL), e.g. jq -c '.[]' {name}")
        if line.lstrip().startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{name}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise ValueError(f"{name}:{lineno}: a JSON line needs a string field 'text'")
        else:
            row = {"text": line}
        yield lineno, row, read


class PredictInterrupted(TrainingInterrupted):
    """Ctrl-C stopped a prediction; every line predicted before it is in the output (flushed)."""

    def __init__(self, lines: int, out: Path | str, signum: int = signal.SIGINT):
        super().__init__(lines, signum, None, unit="line")
        self.args = (f"interrupted: {out} holds {lines} complete lines; the same command with --resume "
                     "continues after them",)


def predict_file(extract: Callable[[list[str]], list[dict[str, Any]]], src: str | Path | BinaryIO,
                 out: str | Path | TextIO, cfg: PredictConfig | None = None, resume: bool = False,
                 progress: Progress | None = None, overwrite: bool = False) -> PredictSummary:
    """Stream `src` through `extract` (an Extractor) into the JSONL file `out` (or a text stream, such as
    stdout for `--output -`); see the module docstring. An existing `out` is continued with `resume` and
    replaced with `overwrite`; otherwise it is refused, before anything is predicted."""
    cfg = cfg or PredictConfig()
    start = time.perf_counter()
    if hasattr(out, "write"):  # a stream: nothing to resume, nothing to overwrite
        if resume:
            raise ValueError("--resume needs an --output file to continue, not a stream")
        return _predict(extract, src, out, cfg, 0, None, progress, start)
    out = Path(out)
    if out.is_file() and out.stat().st_size and not (resume or overwrite):
        raise FileExistsError(f"--output {out} exists; add --resume to continue it, or --overwrite to replace it")
    kept, last_text = _kept_lines(out) if resume and out.is_file() else (0, None)
    with open(out, "a" if kept else "w", encoding="utf-8") as sink:
        return _predict(extract, src, sink, cfg, kept, last_text, progress, start, out)


def _predict(extract: Callable[[list[str]], list[dict[str, Any]]], src: str | Path | BinaryIO, sink: TextIO,
             cfg: PredictConfig, kept: int, last_text: str | None, progress: Progress | None, start: float,
             out: Path | str = "-") -> PredictSummary:
    own = not hasattr(src, "read")
    f = open(src, "rb") if own else src
    name = str(src) if own else getattr(src, "name", "<input>")
    written = [0]  # lines written by this run, counted as they are flushed
    try:
        rows = read_rows(f, name)
        for k in range(kept):  # what the output already holds
            lineno, row, _ = next(rows, (None, None, None))
            if row is None:
                raise ValueError(f"{out}: holds {kept} lines but {name} has only {k} non-blank lines; "
                                 "it belongs to another input (drop --resume to start over)")
            if k == kept - 1 and row["text"] != last_text:
                raise ValueError(f"{out}: line {kept} is not the prediction of {name}:{lineno} (another text); "
                                 "it belongs to another input (drop --resume to start over)")
        window: list[dict[str, Any]] = []
        read = 0
        for _, row, read in rows:
            window.append(row)
            if len(window) == cfg.window:
                _run_window(extract, window, sink, cfg, written, read, progress)
                window = []
        if window:
            _run_window(extract, window, sink, cfg, written, read, progress)
    except KeyboardInterrupt:
        raise PredictInterrupted(kept + written[0], out) from None
    finally:
        if own:
            f.close()
    return PredictSummary(written[0], kept, time.perf_counter() - start)


def _run_window(extract: Callable[[list[str]], list[dict[str, Any]]], window: list[dict[str, Any]], sink: Any,
                cfg: PredictConfig, written: list[int], read: int, progress: Progress | None) -> None:
    """Run one window in length-sorted batches; after each batch, append (and flush) the lines that are
    now complete in input order, so an interrupt keeps every line whose predecessors are done."""
    order = sorted(range(len(window)), key=lambda k: len(window[k]["text"]))
    results: list[Any] = [None] * len(window)
    done = 0  # window lines written, in input order
    for at in range(0, len(order), cfg.batch_size):
        batch = order[at:at + cfg.batch_size]
        for k, result in zip(batch, extract([window[k]["text"] for k in batch])):
            results[k] = result
        ready = done
        while ready < len(window) and results[ready] is not None:
            ready += 1
        if ready > done:
            sink.write("".join(json.dumps({**row, **res}, ensure_ascii=False) + "\n"
                               for row, res in zip(window[done:ready], results[done:ready])))
            sink.flush()
            written[0] += ready - done
            done = ready
        if progress is not None:
            progress(written[0] - done + at + len(batch), read)


def _kept_lines(out: Path) -> tuple[int, str | None]:
    """(complete lines of `out`, the text of the last one); a torn last line is cut off the file."""
    lines, last, end = 0, None, 0
    with open(out, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            lines, last, end = lines + 1, raw, end + len(raw)
    if end != os.path.getsize(out):
        os.truncate(out, end)
    if last is None:
        return 0, None
    try:
        text = json.loads(last)["text"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"{out}:{lines}: not a prediction line (no JSON 'text'); not an output of predict") from None
    return lines, text


def _json_array(line: str) -> bool:
    """A line that opens a JSON array (a whole file written as one array, or pretty-printed)."""
    stripped = line.strip()
    if stripped == "[":
        return True
    if not stripped.startswith("["):
        return False
    try:
        return isinstance(json.loads(stripped), list)
    except json.JSONDecodeError:
        return False
