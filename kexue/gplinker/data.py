"""DuEE / DuIE / NER JSONL readers and the event and relation schemas of GPLinker.

kexue.fm/archives/8926 (events, DuEE 1.0 and DuEE-fin) and kexue.fm/archives/8888 (relations, DuIE /
LIC2019). An event is the post's list of arguments `(event_type, role, text, start)`, sorted, with the
trigger as one more role, "触发词", exactly as bojone/GPLinker's duee_v1.py holds it; a triple is
`(subject, predicate, object)` texts as duie_v1.py compares them. We keep subject/object starts as well,
and DuEE's per-argument `alias` lists (EventSample.aliases), which the leaderboard's soft metric reads.

Where we depart, and why:
- Every mismatch is found on reading, named by file, line and field: a malformed JSON line, an
  argument whose text is not at its start index, a role or event type not in the schema. With
  skip_bad=True the sample is dropped and the problem is counted in `Problems` instead of raising.
- DuEE-fin: `title` is prepended as title + "\\n" + text (the post's recipe); arguments without a
  start index are placed at their first occurrence in the text; an enumerated role's argument (one of
  the schema's `enum_items`) has no span and gets start −1. DuIE has no offsets: subject and object
  are placed at their first occurrence, as duie_v1.py's `search` does.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRIGGER = "触发词"  # the post's role name for the trigger
Argument = tuple[str, str, str, int]  # (event_type, role, text, start); start −1 for an enum value
Event = tuple[Argument, ...]  # sorted
Triple = tuple[str, str, str]  # (subject, predicate, object)
Entity = tuple[int, int, str]  # (start, end_exclusive, type) in characters


@dataclass
class EventSchema:
    """DuEE's duee_event_schema.json: per event type its roles; DuEE-fin's enum roles with their values."""

    roles: dict[str, list[str]]  # event_type → roles (trigger excluded)
    enums: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (type, role) → values

    def labels(self) -> list[tuple[str, str]]:
        """The post's (event_type, role) label space: the trigger first, an enum role as one label per value."""
        out = []
        for t, roles in self.roles.items():
            out.append((t, TRIGGER))
            for r in roles:
                values = self.enums.get((t, r))
                out.extend((t, f"{r}={v}") for v in values) if values else out.append((t, r))
        return out

    @classmethod
    def read(cls, path: str | Path) -> "EventSchema":
        roles, enums = {}, {}
        for where, obj in _json_lines(path):
            t = _field(obj, "event_type", str, where)
            roles[t] = []
            for k, item in enumerate(_field(obj, "role_list", list, where)):
                r = _field(item, "role", str, f"{where}: role_list[{k}]")
                roles[t].append(r)
                if item.get("enum_items"):
                    enums[(t, r)] = [str(v) for v in item["enum_items"]]
        if not roles:
            raise ValueError(f"{path}: the schema has no event types; expected JSON lines with 'event_type' and 'role_list'")
        return cls(roles, enums)


@dataclass
class RelationSchema:
    """DuIE's schema: one JSON line per predicate with subject_type / object_type."""

    predicates: list[str]
    types: dict[str, tuple[str, str]] = field(default_factory=dict)  # predicate → (subject_type, object_type)

    @classmethod
    def read(cls, path: str | Path) -> "RelationSchema":
        preds, types = [], {}
        for where, obj in _json_lines(path):
            p = _field(obj, "predicate", str, where)
            if p not in types:
                preds.append(p)
                types[p] = (str(obj.get("subject_type", "")), _object_type(obj.get("object_type", "")))
        if not preds:
            raise ValueError(f"{path}: the schema has no predicates; expected JSON lines with 'predicate'")
        return cls(preds, types)


@dataclass
class EventSample:
    text: str
    events: list[Event]
    id: str = ""
    # (event_type, role, text) → the argument's other expressions (DuEE's "alias"), for the soft metric
    aliases: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)


@dataclass
class RelationSample:
    text: str
    triples: list[tuple[str, int, str, str, int]]  # (subject, s_start, predicate, object, o_start)
    id: str = ""

    def spo(self) -> set[Triple]:
        return {(s, p, o) for s, _, p, o, _ in self.triples}


@dataclass
class NERSample:
    text: str
    entities: list[Entity]


@dataclass
class Problems:
    """What skip_bad=True dropped: one line per problem, counted."""

    lines: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lines)


def read_duee(path: str | Path, schema: EventSchema | None = None, skip_bad: bool = False,
              problems: Problems | None = None) -> list[EventSample]:
    """DuEE 1.0 / DuEE-fin JSONL; a line without event_list (a test file) reads as no events."""
    out = []
    for where, obj in _json_lines(path):
        try:
            out.append(_duee_sample(obj, where, schema))
        except ValueError as e:
            if not skip_bad:
                raise
            (problems if problems is not None else Problems()).lines.append(str(e))
    return out


def read_duie(path: str | Path, schema: RelationSchema | None = None, skip_bad: bool = False,
              problems: Problems | None = None) -> list[RelationSample]:
    out = []
    for where, obj in _json_lines(path):
        try:
            text = _field(obj, "text", str, where)
            triples = []
            for k, spo in enumerate(obj.get("spo_list", []) or []):
                w = f"{where}: spo_list[{k}]"
                s, p = _field(spo, "subject", str, w), _field(spo, "predicate", str, w)
                o = spo.get("object")
                o = o.get("@value") if isinstance(o, dict) else o  # DuIE 2.0 writes {"@value": ...}
                if not isinstance(o, str):
                    raise ValueError(f"{w}: field 'object' is missing or not a string")
                if schema is not None and p not in schema.types:
                    raise ValueError(f"{w}: predicate '{p}' is not in the schema; add it or fix the line")
                triples.append((s, _locate(text, s, f"{w}.subject"), p, o, _locate(text, o, f"{w}.object")))
            out.append(RelationSample(text, triples, str(obj.get("id", ""))))
        except ValueError as e:
            if not skip_bad:
                raise
            (problems if problems is not None else Problems()).lines.append(str(e))
    return out


def read_ner_jsonl(path: str | Path) -> list[NERSample]:
    """The common {"text", "entities": [[start, end_exclusive, type], ...]} JSONL."""
    out = []
    for where, obj in _json_lines(path):
        text = _field(obj, "text", str, where)
        ents = []
        for k, e in enumerate(_field(obj, "entities", list, where)):
            if not (isinstance(e, (list, tuple)) and len(e) == 3 and isinstance(e[0], int) and isinstance(e[1], int)
                    and 0 <= e[0] < e[1] <= len(text)):
                raise ValueError(f"{where}: entities[{k}] = {e!r} is not [start, end_exclusive, type] inside the text")
            ents.append((e[0], e[1], str(e[2])))
        out.append(NERSample(text, ents))
    return out


def read_text_lines(path: str | Path) -> list[dict[str, Any]]:
    """Input for predict: JSONL with a "text" field, or plain text, one sentence a line."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if line.lstrip().startswith("{"):
                obj = _loads(line, f"{path}:{lineno}")
                rows.append({**obj, "text": _field(obj, "text", str, f"{path}:{lineno}")})
            else:
                rows.append({"text": line})
    return rows


def _duee_sample(obj: dict, where: str, schema: EventSchema | None) -> EventSample:
    text = _field(obj, "text", str, where)
    if obj.get("title"):
        text = f"{obj['title']}\n{text}"
    events, aliases = [], {}
    for k, e in enumerate(obj.get("event_list", []) or []):
        w = f"{where}: event_list[{k}]"
        t = _field(e, "event_type", str, w)
        if schema is not None and t not in schema.roles:
            raise ValueError(f"{w}: event_type '{t}' is not in the schema; add it or fix the line")
        event = []
        if e.get("trigger"):
            trig = e["trigger"]
            event.append((t, TRIGGER, trig, _at(text, trig, e.get("trigger_start_index"), f"{w}.trigger", obj)))
        for m, a in enumerate(e.get("arguments", []) or []):
            wa = f"{w}.arguments[{m}]"
            r, arg = _field(a, "role", str, wa), _field(a, "argument", str, wa)
            if schema is not None and r not in schema.roles[t]:
                raise ValueError(f"{wa}: role '{r}' is not a role of '{t}' in the schema; add it or fix the line")
            if schema is not None and (t, r) in schema.enums:
                if arg not in schema.enums[(t, r)]:
                    raise ValueError(f"{wa}: '{arg}' is not one of the enum_items of role '{r}' of '{t}'")
                event.append((t, r, arg, -1))
            else:
                event.append((t, r, arg, _at(text, arg, a.get("argument_start_index"), f"{wa}.argument", obj)))
            alias = a.get("alias") or []
            if not (isinstance(alias, list) and all(isinstance(x, str) for x in alias)):
                raise ValueError(f"{wa}.alias: {alias!r} is not a list of strings")
            if alias:
                names = aliases.setdefault((t, r, arg), [])
                names.extend(x for x in alias if x not in names)
        events.append(tuple(sorted(set(event))))
    return EventSample(text, events, str(obj.get("id", "")), aliases)


def _at(text: str, span: str, start: Any, where: str, obj: dict) -> int:
    if start is None:
        return _locate(text, span, where)
    if not isinstance(start, int) or isinstance(start, bool):
        raise ValueError(f"{where}: start index {start!r} is not an integer")
    if obj.get("title"):
        start += len(obj["title"]) + 1
    if text[start:start + len(span)] != span:
        raise ValueError(f"{where}: '{span}' is not at index {start} of the text "
                         f"(found '{text[start:start + len(span)]}'); fix the index or the text")
    return start


def _locate(text: str, span: str, where: str) -> int:
    if not span or span not in text:
        raise ValueError(f"{where}: '{span}' does not occur in the text")
    return text.index(span)


def _object_type(t: Any) -> str:
    return t.get("@value", "") if isinstance(t, dict) else str(t)


def _json_lines(path: str | Path):
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                yield f"{path}:{lineno}", _loads(line, f"{path}:{lineno}")


def _loads(line: str, where: str) -> dict:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _field(obj: Any, name: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict) or name not in obj:
        raise ValueError(f"{where}: field '{name}' is missing")
    if not isinstance(obj[name], kind):
        raise ValueError(f"{where}: field '{name}' should be a {kind.__name__}, got {type(obj[name]).__name__}")
    return obj[name]


def count_roles(samples: list[EventSample]) -> Counter:
    """(event_type, role) → number of arguments, for summaries."""
    return Counter((t, r) for s in samples for e in s.events for t, r, _, _ in e)
