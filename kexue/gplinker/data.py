"""DuEE / DuIE / NER JSONL readers and the event and relation schemas of GPLinker.

kexue.fm/archives/8926 (events, DuEE 1.0 and DuEE-fin) and kexue.fm/archives/8888 (relations, DuIE /
LIC2019). An event is the post's list of arguments `(event_type, role, text, start)`, sorted, with the
trigger as one more role, "触发词", exactly as bojone/GPLinker's duee_v1.py holds it; a triple is
`(subject, predicate, object)` texts as duie_v1.py compares them. We keep subject/object starts as well,
and DuEE's per-argument `alias` lists (EventSample.aliases), which the leaderboard's soft metric reads.

Where we depart, and why:
- A reader never crashes on a bad line. Every structural fault — a line that is not JSON or not
  UTF-8, a field of the wrong JSON type anywhere (`event_list: 5`, `arguments: 7`, `trigger: 12`,
  `spo_list: 3`, `title: 7`), a negative start index (−1 is reserved for enum values), a role or event
  type not in the schema — is one ValueError naming file, line and field; with skip_bad=True that line
  is dropped and counted in `Problems.lines` instead. A file with no sample is an error ("FILE holds
  no samples").
- A label that cannot be placed (an argument that is not at its start index, a DuIE subject that does
  not occur in the text) is not a bad line: as in Su's scripts the sample stays, the label stays in
  the gold set that evaluation scores, and only training leaves it out (the codecs skip a span that is
  not in the text). It is counted in `Problems.unplaced`, so nothing is dropped silently; dev and test
  are never filtered.
- DuEE-fin: `title` is prepended as title + "\\n" + text (the post's recipe); arguments without a
  start index are placed at their first occurrence in the text; an enumerated role's argument (one of
  the schema's `enum_items`) has no span and gets start −1. DuIE has no offsets: text, subject and
  object are whitespace-normalised as duie_v1.py's `normalize` (' '.join(x.split())) and subject and
  object placed at their first occurrence, as its data generator does (start −1 when absent).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kexue.data.bio import bio_spans
from kexue.data.tables import is_table, read_table

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
    """What a reader met: `lines` the bad lines skip_bad=True dropped (one message each), `unplaced` the
    labels kept for evaluation that training cannot place (one message each)."""

    lines: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lines)

    def summary(self, path: str | Path) -> str:
        """One line for the command line ("" when nothing happened)."""
        parts = []
        if self.lines:
            parts.append(f"skipped {len(self.lines)} bad lines of {path} (first: {self.lines[0]})")
        if self.unplaced:
            parts.append(f"{len(self.unplaced)} labels of {path} cannot be placed in their text: kept for "
                         f"evaluation, left out of training (first: {self.unplaced[0]})")
        return "; ".join(parts)


def read_duee(path: str | Path, schema: EventSchema | None = None, skip_bad: bool = False,
              problems: Problems | None = None) -> list[EventSample]:
    """DuEE 1.0 / DuEE-fin JSONL; a line without event_list (a test file) reads as no events."""
    problems = problems if problems is not None else Problems()
    return _read_samples(path, lambda obj, where: _duee_sample(obj, where, schema, problems), skip_bad, problems)


def read_duie(path: str | Path, schema: RelationSchema | None = None, skip_bad: bool = False,
              problems: Problems | None = None) -> list[RelationSample]:
    """DuIE JSONL (text, spo_list of subject / predicate / object), whitespace-normalised as duie_v1.py."""
    problems = problems if problems is not None else Problems()
    return _read_samples(path, lambda obj, where: _duie_sample(obj, where, schema, problems), skip_bad, problems)


def read_ner(path: str | Path, skip_bad: bool = False, problems: Problems | None = None,
             tag_names: list[str] | None = None) -> list[NERSample]:
    """NER samples from JSONL, a `save_to_disk` folder, parquet or Arrow (`kexue/data/tables.py`), each row
    either the common {"text", "entities": [[start, end_exclusive, type], ...]} or a BIO token
    classification {"tokens", "ner_tags"}. Tag ids are read as `tag_names`, else as the names the
    dataset's features give `ner_tags`."""
    problems = problems if problems is not None else Problems()
    if not is_table(path):
        return _read_samples(path, lambda obj, where: _ner_row(obj, where, tag_names), skip_bad, problems)
    table, names = read_table(path)
    tag_names = tag_names or names.get("ner_tags")
    rows = ((f"{path}: row {i}", obj) for i, obj in enumerate(table))
    return _read_samples(path, lambda obj, where: _ner_row(obj, where, tag_names), skip_bad, problems, rows)


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


def _duee_sample(obj: dict, where: str, schema: EventSchema | None, problems: Problems) -> EventSample:
    text = _field(obj, "text", str, where)
    title = _optional(obj, "title", str, where, "")
    if title:
        text = f"{title}\n{text}"
    events, aliases = [], {}
    for k, e in enumerate(_optional(obj, "event_list", list, where, [])):
        w = f"{where}: event_list[{k}]"
        if not isinstance(e, dict):
            raise ValueError(f"{w}: should be an object, got {_kind(e)}")
        t = _field(e, "event_type", str, w)
        if schema is not None and t not in schema.roles:
            raise ValueError(f"{w}: event_type '{t}' is not in the schema; add it or fix the line")
        event = []
        trig = _optional(e, "trigger", str, w, "")
        if trig:
            event.append((t, TRIGGER, trig, _at(text, trig, e.get("trigger_start_index"), f"{w}.trigger",
                                                 title, problems)))
        for m, a in enumerate(_optional(e, "arguments", list, w, [])):
            wa = f"{w}.arguments[{m}]"
            if not isinstance(a, dict):
                raise ValueError(f"{wa}: should be an object, got {_kind(a)}")
            r, arg = _field(a, "role", str, wa), _field(a, "argument", str, wa)
            if schema is not None and r not in schema.roles[t]:
                raise ValueError(f"{wa}: role '{r}' is not a role of '{t}' in the schema; add it or fix the line")
            if schema is not None and (t, r) in schema.enums:
                if arg not in schema.enums[(t, r)]:
                    raise ValueError(f"{wa}: '{arg}' is not one of the enum_items of role '{r}' of '{t}'")
                event.append((t, r, arg, -1))
            else:
                event.append((t, r, arg, _at(text, arg, a.get("argument_start_index"), f"{wa}.argument", title,
                                             problems)))
            alias = a.get("alias") or []
            if not (isinstance(alias, list) and all(isinstance(x, str) for x in alias)):
                raise ValueError(f"{wa}.alias: {alias!r} is not a list of strings")
            if alias:
                names = aliases.setdefault((t, r, arg), [])
                names.extend(x for x in alias if x not in names)
        events.append(tuple(sorted(set(event))))
    return EventSample(text, events, str(obj.get("id", "")), aliases)


def _duie_sample(obj: dict, where: str, schema: RelationSchema | None, problems: Problems) -> RelationSample:
    text = normalize(_field(obj, "text", str, where))
    triples = []
    for k, spo in enumerate(_optional(obj, "spo_list", list, where, [])):
        w = f"{where}: spo_list[{k}]"
        if not isinstance(spo, dict):
            raise ValueError(f"{w}: should be an object, got {_kind(spo)}")
        s, p = normalize(_field(spo, "subject", str, w)), _field(spo, "predicate", str, w)
        o = spo.get("object")
        o = o.get("@value") if isinstance(o, dict) else o  # DuIE 2.0 writes {"@value": ...}
        if not isinstance(o, str):
            raise ValueError(f"{w}: field 'object' is missing or not a string")
        o = normalize(o)
        if schema is not None and p not in schema.types:
            raise ValueError(f"{w}: predicate '{p}' is not in the schema; add it or fix the line")
        triples.append((s, _first(text, s, f"{w}.subject", problems), p, o, _first(text, o, f"{w}.object", problems)))
    return RelationSample(text, triples, str(obj.get("id", "")))


def _ner_row(obj: dict, where: str, tag_names: list[str] | None) -> NERSample:
    if "text" in obj or "tokens" not in obj:
        return _ner_sample(obj, where)
    return NERSample(*bio_spans(_field(obj, "tokens", list, where), _field(obj, "ner_tags", list, where), where,
                                tag_names))


def _ner_sample(obj: dict, where: str) -> NERSample:
    text = _field(obj, "text", str, where)
    ents = []
    for k, e in enumerate(_field(obj, "entities", list, where)):
        if not (isinstance(e, (list, tuple)) and len(e) == 3 and _is_int(e[0]) and _is_int(e[1])
                and 0 <= e[0] < e[1] <= len(text) and isinstance(e[2], str)):
            raise ValueError(f"{where}: entities[{k}] = {e!r} is not [start, end_exclusive, type] inside the text")
        ents.append((e[0], e[1], e[2]))
    return NERSample(text, ents)


def normalize(text: str) -> str:
    """duie_v1.py's `normalize`: runs of whitespace become one space, ends stripped."""
    return " ".join(text.split())


def _at(text: str, span: str, start: Any, where: str, title: str, problems: Problems) -> int:
    """The start of `span` in `text`: its given index (shifted past a title), else its first occurrence.
    A span not at its index keeps that index (the gold as written) and is counted as unplaced."""
    if start is None:
        return _first(text, span, where, problems)
    if not _is_int(start):
        raise ValueError(f"{where}: start index {start!r} is not an integer")
    if start < 0:
        raise ValueError(f"{where}: start index {start} is negative (−1 is reserved for the values of an enum role, "
                         "which the schema lists in enum_items); fix the index")
    if title:
        start += len(title) + 1
    if text[start:start + len(span)] != span:
        problems.unplaced.append(f"{where}: '{span}' is not at index {start} of the text "
                                 f"(found '{text[start:start + len(span)]}')")
    return start


def _first(text: str, span: str, where: str, problems: Problems) -> int:
    """The first occurrence of `span` in `text`, as duie_v1.py's `text.index`; −1 (unplaced) when absent."""
    if not span or span not in text:
        problems.unplaced.append(f"{where}: '{span}' does not occur in the text")
        return -1
    return text.index(span)


def _object_type(t: Any) -> str:
    return t.get("@value", "") if isinstance(t, dict) else str(t)


def _read_samples(path: str | Path, parse, skip_bad: bool, problems: Problems, rows=None) -> list:
    """parse(obj, where) on every JSON line of `path` (or every (where, obj) of `rows`); a bad line raises,
    or with skip_bad is counted."""
    out = []
    for where, obj in rows if rows is not None else _json_lines(path, skip_bad, problems):
        try:
            out.append(parse(obj, where))
        except ValueError as e:
            if not skip_bad:
                raise
            problems.lines.append(str(e))
    if not out:
        skipped = f" ({len(problems.lines)} bad lines skipped; first: {problems.lines[0]})" if problems.lines else ""
        raise ValueError(f"{path} holds no samples{skipped}")
    return out


def _json_lines(path: str | Path, skip_bad: bool = False, problems: Problems | None = None):
    """(where, object) for every non-blank line; a line that is not UTF-8 or not a JSON object raises,
    or with skip_bad is counted in `problems` and passed over."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            where = f"{path}:{lineno}"
            try:
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise ValueError(f"{where}: not UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                                     "save the file as UTF-8") from None
                if not line.strip():
                    continue
                obj = _loads(line, where)
            except ValueError as e:
                if not skip_bad:
                    raise
                (problems if problems is not None else Problems()).lines.append(str(e))
                continue
            yield where, obj


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
        raise ValueError(f"{where}: field '{name}' should be {_KINDS[kind]}, got {_kind(obj[name])}")
    return obj[name]


def _optional(obj: dict, name: str, kind: type, where: str, default: Any) -> Any:
    """obj[name] when present and not null, else `default`; of the wrong JSON type, an error naming it."""
    value = obj.get(name)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise ValueError(f"{where}: field '{name}' should be {_KINDS[kind]}, got {_kind(value)} ({value!r:.40})")
    return value


_KINDS = {str: "a string", list: "a list", dict: "an object", int: "an integer"}


def _kind(value: Any) -> str:
    """The JSON name of a value's type."""
    return {str: "a string", list: "a list", dict: "an object", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def count_roles(samples: list[EventSample]) -> Counter:
    """(event_type, role) → number of arguments, for summaries."""
    return Counter((t, r) for s in samples for e in s.events for t, r, _, _ in e)
