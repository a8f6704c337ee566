"""BIO token classification as text and character spans: the NER rows of the HF ecosystem.

A token-classification data set (conll2003, msra_ner, peoples_daily_ner, ...) holds `tokens` and
`ner_tags`, one tag per token: O, B-TYPE (an entity begins), I-TYPE (it goes on); the tags are names,
or ids into the names that the data set's features give (`kexue/data/tables.py`) or a list of them.
GPLinker (kexue.fm/archives/8373) reads an entity as a character span [start, end) of the text, so
the tokens are joined into a text and each entity's tokens into its span.

Where we choose: tokens are joined with a space only between two ASCII characters (English words),
with nothing otherwise (Chinese characters, CJK punctuation), so a Chinese set reads as its sentence.
An I-TYPE after O or after another type opens an entity, as conlleval reads it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Span = tuple[int, int, str]  # (start, end_exclusive, type) in characters


def bio_spans(tokens: list[Any], tags: list[Any], where: str,
              tag_names: list[str] | None = None) -> tuple[str, list[Span]]:
    """(text, entity spans) of one row; `where` names the row in an error (file, row, field)."""
    if not all(isinstance(t, str) for t in tokens):
        raise ValueError(f"{where}: field 'tokens' must be a list of strings")
    if len(tags) != len(tokens):
        raise ValueError(f"{where}: field 'ner_tags' has {len(tags)} tags for {len(tokens)} tokens")
    names = [_tag_name(t, k, where, tag_names) for k, t in enumerate(tags)]
    text, starts = "", []
    for k, tok in enumerate(tokens):
        if k and tokens[k - 1] and tok and tokens[k - 1][-1].isascii() and tok[0].isascii():
            text += " "
        starts.append(len(text))
        text += tok
    spans, open_ = [], None  # open_: (first token, type) of the entity being read
    for k, tag in enumerate([*names, "O"]):
        prefix, _, kind = tag.partition("-")
        if prefix not in ("B", "I", "O") or (prefix == "O") == bool(kind):
            raise ValueError(f"{where}: ner_tags[{k}] = {tag!r} is not a BIO tag (O, B-TYPE or I-TYPE)")
        continues = prefix == "I" and open_ is not None and open_[1] == kind
        if open_ is not None and not continues:
            spans.append((starts[open_[0]], starts[k - 1] + len(tokens[k - 1]), open_[1]))
            open_ = None
        if prefix != "O" and not continues:
            open_ = (k, kind)
    return text, spans


def read_tag_names(path: str | Path) -> list[str]:
    """BIO tag names in id order, from a JSON list or one name a line (O, B-PER, I-PER, ...)."""
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{path}: expected the tag names, one a line or a JSON list of strings")
    return names


def _tag_name(tag: Any, k: int, where: str, tag_names: list[str] | None) -> str:
    if isinstance(tag, str):
        return tag
    if isinstance(tag, bool) or not isinstance(tag, int):
        raise ValueError(f"{where}: ner_tags[{k}] = {tag!r} is neither a tag name nor a tag id")
    if tag_names is None:
        raise ValueError(f"{where}: field 'ner_tags' holds tag ids and the data names no tags; give the names, "
                         "one a line, with --schema FILE")
    if not 0 <= tag < len(tag_names):
        raise ValueError(f"{where}: ner_tags[{k}] = {tag} is not a tag id (there are {len(tag_names)} tags)")
    return tag_names[tag]
