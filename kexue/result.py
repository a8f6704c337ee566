"""What a topic's `reproduce(preset, out_dir)` returns: the post's claims, what we measured, a verdict.

Every topic fills a `TopicResult`; `kexue reproduce` collects them into `results.json` and the report
turns that file into one HTML page. Numbers before figures: a topic builds its `TopicResult` first and
draws through `save_then_draw`, which writes the topic's `result.json` before the first figure, so a
figure that fails loses no measurement. This module imports nothing from kexue, so topics (middle layer)
and the report (top layer) can both use it.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

# a figure: draw(path) writes the image to path
Draw = Callable[[Path], Any]
RESULT_FILE = "result.json"  # a topic's own result in its folder, written before its figures

Verdict = Literal["held", "not held", "inconclusive", "not checkable"]
VERDICTS: tuple[str, ...] = ("held", "not held", "inconclusive", "not checkable")


@dataclass
class Claim:
    """One claim of a post and the evidence for it at one preset."""

    claim: str  # what the post says, in our words
    measured: str  # what this run measured, with numbers
    verdict: Verdict  # held / not held / inconclusive / not checkable (at this preset)
    figure: str | None = None  # a PNG beside results.json, relative to the output folder
    rule: str = ""  # the rule that decided, in words with its numbers (kexue.verdicts.Decision.rule)
    evidence: dict[str, Any] | None = None  # per side: {"mean", "std", "n", "values"} over seeds
    quote: str = ""  # the sentence of the post that makes the claim, in the post's words (Chinese)
    source: int | None = None  # the kexue.fm archive number the quote is from
    needs: str = ""  # when not decided: what would decide it (seeds, steps, a GPU, data)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"Claim verdict {self.verdict!r} is not one of {VERDICTS}")


@dataclass
class Check:
    """An exact identity or a definition verified on the real code, with its negative control.

    Not a claim whose verdict a reader weighs (the identity cannot come out otherwise unless the code is
    wrong), so the page lists checks apart and leaves them out of the claims' tally. `verdict` is
    "held" only when the identity holds *and* the control (a deliberately wrong variant, `control`)
    was rejected; "not held" when the identity fails; "inconclusive" when the control also passed, so
    the check could not have failed.
    """

    identity: str  # what is verified, e.g. "SA = 4nh²d² + 2n²hd multiplications"
    measured: str  # what the code gave, with numbers
    verdict: Verdict
    rule: str = ""  # how it was decided, in words with its numbers
    control: str = ""  # the negative control and what the same rule said of it
    figure: str | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"Check verdict {self.verdict!r} is not one of {VERDICTS}")


@dataclass
class TopicResult:
    """The outcome of one topic's `reproduce` run."""

    topic: str  # the package name, e.g. "attention"
    post: int  # the main post, kexue.fm/archives/<post>
    title: str  # the post's title (Chinese, as published)
    date: str  # the post's publication date, YYYY-MM-DD
    preset: str  # quick | standard | full | smoke
    claims: list[Claim] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)  # identities and definitions, apart from the claims
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)  # PNGs, relative to the output folder
    seconds: float = 0.0
    related_posts: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TopicResult":
        d = dict(d)
        d["claims"] = [Claim(**c) for c in d.get("claims", [])]
        d["checks"] = [Check(**c) for c in d.get("checks", [])]
        return cls(**d)


class FigureError(RuntimeError):
    """A figure that could not be drawn; the message names its file and where the numbers were saved."""


def save_results(results: list[TopicResult], path: Path, meta: dict[str, Any]) -> None:
    """Write `results.json`: the run's metadata and every topic's result. The file is replaced whole
    (written beside, then renamed), so a run saved after each topic never leaves half a page."""
    payload = {"meta": meta, "topics": [r.to_dict() for r in results]}
    path = Path(path)
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(part, path)


def save_then_draw(result: TopicResult, out_dir: Path, figures: dict[str, Draw]) -> TopicResult:
    """Write `out_dir/result.json` (`result` as `save_results` writes a page of one topic, its paths
    relative to `out_dir`), then draw each figure, `figures[name](out_dir / name)`, in order. A figure
    that raises stops the topic with a FigureError naming its file (the cause kept); the numbers are on
    disk already. Returns `result`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = out_dir / RESULT_FILE
    save_results([result], saved, {"preset": result.preset, "topic": result.topic})
    for name, draw in figures.items():
        path = out_dir / name
        try:
            draw(path)
        except Exception as e:
            raise FigureError(f"{path}: the figure failed ({type(e).__name__}: {' '.join(str(e).split())}); "
                              f"the topic's numbers are in {saved}") from e
    return result


def load_results(path: Path) -> tuple[dict[str, Any], list[TopicResult]]:
    payload = json.loads(path.read_text(encoding="utf-8"))
    return payload["meta"], [TopicResult.from_dict(t) for t in payload["topics"]]
