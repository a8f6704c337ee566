"""Read `results.json` for the report, checking every field the page uses.

`kexue.result.load_results` builds the dataclasses; before it runs we walk the raw JSON once so that
a malformed file fails with one line naming the file and the field (`results.json: topics[1].claims[0]
.verdict: 'maybe' is not one of held, not held, inconclusive, not checkable`) instead of a bare KeyError/TypeError.
Figure paths are checked here too: each must name an existing file inside the output folder.
"""
from __future__ import annotations

import base64
import json
from dataclasses import fields
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

from kexue.result import VERDICTS, Check, Claim, TopicResult, load_results

# the image types a figure may have, by suffix; figures are embedded as data URIs of this type
IMAGE_TYPES: dict[str, str] = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                               ".gif": "image/gif", ".svg": "image/svg+xml", ".webp": "image/webp"}


class ReportError(ValueError):
    """A results.json or a figure the report cannot use; the message is one line naming file and field."""


def read_results(out_dir: Path) -> tuple[dict[str, Any], list[TopicResult]]:
    """Check and load `out_dir/results.json`: the run's metadata and the topics, as saved."""
    path = out_dir / "results.json"
    if not path.is_file():
        raise ReportError(f"{path}: no such file; run `kexue reproduce --out {out_dir}` first")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ReportError(f"{path}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise ReportError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    _check_payload(payload, path)
    return load_results(path)


def figure_paths(result: TopicResult) -> list[str]:
    """The topic's figures in page order: `figures` first, then any claim figure not listed there."""
    paths = list(result.figures)
    for c in [*result.claims, *result.checks]:
        if c.figure is not None and c.figure not in paths:
            paths.append(c.figure)
    return paths


def data_uri(out_dir: Path, figure: str, where: str) -> str:
    """The figure file as a `data:` URI, so the page needs no file beside it."""
    path = out_dir / figure
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ReportError(f"{out_dir / 'results.json'}: {where}: cannot read figure {path}: "
                          f"{e.strerror}") from None
    mime = IMAGE_TYPES[path.suffix.lower()]
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


# --- the checks, one per level of the file ---

_TOPIC_TYPES: dict[str, tuple[type, ...]] = {
    "topic": (str,), "post": (int,), "title": (str,), "date": (str,), "preset": (str,),
    "claims": (list,), "checks": (list,), "metrics": (dict,), "figures": (list,), "seconds": (int, float),
    "related_posts": (list,),
}
_TOPIC_REQUIRED = ("topic", "post", "title", "date", "preset")
_CLAIM_TYPES: dict[str, tuple[type, ...]] = {"claim": (str,), "measured": (str,), "verdict": (str,),
                                             "figure": (str, type(None)), "rule": (str,),
                                             "evidence": (dict, type(None)), "quote": (str,),
                                             "source": (int, type(None)), "needs": (str,)}
_CLAIM_REQUIRED = ("claim", "measured", "verdict")
_CHECK_TYPES: dict[str, tuple[type, ...]] = {"identity": (str,), "measured": (str,), "verdict": (str,),
                                             "rule": (str,), "control": (str,), "figure": (str, type(None))}
_CHECK_REQUIRED = ("identity", "measured", "verdict")


def _check_payload(payload: Any, path: Path) -> None:
    if not isinstance(payload, dict):
        raise ReportError(f"{path}: the top level must be an object with 'meta' and 'topics', "
                          f"not {_kind(payload)}")
    for key, kind in (("meta", dict), ("topics", list)):
        if key not in payload:
            raise ReportError(f"{path}: missing field '{key}'")
        if not isinstance(payload[key], kind):
            raise ReportError(f"{path}: field '{key}' must be {_kind(kind())}, not {_kind(payload[key])}")
    for key in ("machine", "versions"):
        if key in payload["meta"] and not isinstance(payload["meta"][key], (dict, type(None))):
            raise ReportError(f"{path}: meta.{key} must be an object, not {_kind(payload['meta'][key])}")
    seconds = payload["meta"].get("seconds")
    if seconds is not None and not _is_number(seconds):
        raise ReportError(f"{path}: meta.seconds must be a number, not {_kind(seconds)}")
    for i, topic in enumerate(payload["topics"]):
        _check_topic(topic, f"topics[{i}]", path)


def _check_topic(t: Any, where: str, path: Path) -> None:
    _check_object(t, where, path, _TOPIC_TYPES, _TOPIC_REQUIRED, {f.name for f in fields(TopicResult)})
    try:
        date.fromisoformat(t["date"])
    except ValueError:
        raise ReportError(f"{path}: {where}.date: {t['date']!r} is not a date YYYY-MM-DD") from None
    if t["post"] <= 0:
        raise ReportError(f"{path}: {where}.post: {t['post']} is not a kexue.fm archive number")
    for j, post in enumerate(t.get("related_posts", [])):
        if isinstance(post, bool) or not isinstance(post, int) or post <= 0:
            raise ReportError(f"{path}: {where}.related_posts[{j}]: {post!r} is not a kexue.fm archive number")
    for kind, types, required, known in (("claims", _CLAIM_TYPES, _CLAIM_REQUIRED, {f.name for f in fields(Claim)}),
                                         ("checks", _CHECK_TYPES, _CHECK_REQUIRED, {f.name for f in fields(Check)})):
        for j, item in enumerate(t.get(kind, [])):
            _check_object(item, f"{where}.{kind}[{j}]", path, types, required, known)
            if item["verdict"] not in VERDICTS:
                raise ReportError(f"{path}: {where}.{kind}[{j}].verdict: {item['verdict']!r} is not one of "
                                  f"{', '.join(VERDICTS)}")
            if item.get("figure") is not None:
                _check_figure(item["figure"], f"{where}.{kind}[{j}].figure", path)
    for j, fig in enumerate(t.get("figures", [])):
        if not isinstance(fig, str):
            raise ReportError(f"{path}: {where}.figures[{j}] must be a string path, not {_kind(fig)}")
        _check_figure(fig, f"{where}.figures[{j}]", path)


def _check_object(obj: Any, where: str, path: Path, types: dict[str, tuple[type, ...]],
                  required: tuple[str, ...], known: set[str]) -> None:
    if not isinstance(obj, dict):
        raise ReportError(f"{path}: {where} must be an object, not {_kind(obj)}")
    for key in required:
        if key not in obj:
            raise ReportError(f"{path}: {where}: missing field '{key}'")
    for key, value in obj.items():
        if key not in known:
            raise ReportError(f"{path}: {where}: unknown field '{key}'")
        want = types[key]
        # JSON true/false are Python bools, which are ints: never accept them as numbers
        if not isinstance(value, want) or (isinstance(value, bool) and bool not in want):
            names = " or ".join(_kind(k()) if k is not type(None) else "null" for k in want)
            raise ReportError(f"{path}: {where}.{key} must be {names}, not {_kind(value)}")


def _check_figure(figure: str, where: str, path: Path) -> None:
    out_dir = path.parent
    rel = PurePosixPath(figure)
    if rel.is_absolute() or ".." in rel.parts or not figure:
        raise ReportError(f"{path}: {where}: figure {figure!r} must be a path inside {out_dir}")
    if rel.suffix.lower() not in IMAGE_TYPES:
        raise ReportError(f"{path}: {where}: figure {figure!r} is not an image "
                          f"({', '.join(IMAGE_TYPES)})")
    if not (out_dir / figure).is_file():
        raise ReportError(f"{path}: {where}: figure file {out_dir / figure} does not exist")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _kind(x: Any) -> str:
    """The JSON name of a value's type, for error messages."""
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "a boolean"
    for kind, name in ((dict, "an object"), (list, "a list"), (str, "a string"), (int, "an integer"),
                       (float, "a number")):
        if isinstance(x, kind):
            return name
    return type(x).__name__
