"""Merge several `kexue reproduce` output folders into one page.

A reader who runs the topics one at a time (each alone on the machine, so that its time is its own,
or on different machines) still wants one page. `merge_runs(sources, out)` checks that every source is a
run of the same preset, that no topic appears twice, copies each topic's folder of figures, and writes
`out/results.json` and `out/index.html` as `kexue reproduce` would have. The page's time is the sum of
the topics' own times (they did not run one after the other); the colophon names the merged folders; a
source that did not finish (meta "complete": false) leaves the merged page incomplete while a topic it
did not finish is in no source.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from kexue.report.html import render_report
from kexue.report.load import ReportError, read_results
from kexue.result import TopicResult, save_results


def merge_runs(sources: list[Path], out: Path, order: list[str] | None = None) -> Path:
    """Write one results.json and page in `out` from the `sources` (folders of `kexue reproduce`);
    topics in `order` (unknown ones after, in the sources' order). Returns the page's path."""
    if not sources:
        raise ReportError("nothing to merge: name at least one folder of `kexue reproduce`")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ReportError(f"{out}: exists and is not an empty folder; merge into a new folder")
    runs = [(src, *read_results(src)) for src in sources]
    presets = {meta.get("preset") for _, meta, _ in runs}
    if len(presets) > 1:
        which = ", ".join(f"{src} is {meta.get('preset')}" for src, meta, _ in runs)
        raise ReportError(f"cannot merge runs of different presets ({which}); merge runs of one preset")
    seen: dict[str, Path] = {}
    topics: list[tuple[Path, TopicResult]] = []
    for src, _, results in runs:
        for r in results:
            if r.topic in seen:
                raise ReportError(f"topic {r.topic!r} is in both {seen[r.topic]} and {src}; merge each topic once")
            seen[r.topic] = src
            topics.append((src, r))
    rank = {name: i for i, name in enumerate(order or [])}
    topics.sort(key=lambda item: rank.get(item[1].topic, len(rank)))  # stable: unknown topics keep their order
    out.mkdir(parents=True, exist_ok=True)
    for src, r in topics:
        if (src / r.topic).is_dir():
            shutil.copytree(src / r.topic, out / r.topic)
    save_results([r for _, r in topics], out / "results.json", _meta(runs))
    return render_report(out)


def _meta(runs: list[tuple[Path, dict[str, Any], list[TopicResult]]]) -> dict[str, Any]:
    """The first run's machine and versions; the earliest start; the sum of the topics' own seconds."""
    meta = dict(runs[0][1])
    meta["started"] = min(str(m.get("started", "")) for _, m, _ in runs)
    meta["seconds"] = round(sum(r.seconds for _, _, results in runs for r in results), 1)
    meta["command"] = "kexue report merge " + " ".join(str(src) for src, _, _ in runs)
    meta["merged_from"] = [{"folder": str(src), "command": m.get("command"), "started": m.get("started"),
                            "seconds": m.get("seconds")} for src, m, _ in runs]
    # a source saved before its run finished ("complete": false) leaves its topics "to_run" that no source has
    merged = {r.topic for _, _, results in runs for r in results}
    to_run = [t for _, m, _ in runs for t in m.get("to_run") or [] if t not in merged]
    meta.pop("to_run", None)
    meta["complete"] = not to_run
    if to_run:
        meta["to_run"] = to_run
    return meta
