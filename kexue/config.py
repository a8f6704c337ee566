"""Typed settings: every preset is a dataclass, and any field can be set from the command line.

`override(cfg, ["train.lr=3e-4", "train.steps=200"])` returns a copy with those fields replaced, each value parsed
to the field's declared type; an unknown key or a value of the wrong type is a one-line error that
names the key, suggests the nearest known one and lists what is allowed. Nested dataclasses are reached with dots (`train.lr=1e-3`).
`merge(cfg, values, where)` does the same for the nested values of a settings file (`--config`);
`from_dict` rebuilds a dataclass from `to_dict`'s data (a run's config.json).
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def override(cfg: T, sets: list[str] | None) -> T:
    """A copy of the dataclass `cfg` with each `key=value` of `sets` applied."""
    for item in sets or []:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected key=value, e.g. --set {example_setting(cfg)}")
        key, raw = item.split("=", 1)
        cfg = _set_path(cfg, key.strip().split("."), raw.strip(), key.strip())
    return cfg


def example_setting(cfg: Any) -> str:
    """A `key=value` that `cfg` accepts, for an error message: its training steps where it has them
    (`train.steps=…`), else its first plain field, each at its current value."""
    def plain(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
        out = []
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                out += plain(value, f"{prefix}{f.name}.")
            elif isinstance(value, (bool, int, float, str)):
                out.append((prefix + f.name, value))
        return out

    fields = plain(cfg) if dataclasses.is_dataclass(cfg) else []
    if not fields:
        return "key=value"
    key, value = next(((k, v) for k, v in fields if k.endswith("steps")), fields[0])
    return f"{key}={str(value).lower() if isinstance(value, bool) else value}"


def to_dict(cfg: Any) -> dict[str, Any]:
    """The dataclass as plain JSON-able data (what is written beside every checkpoint)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def from_dict(cls: type[T], d: dict[str, Any]) -> T:
    """Rebuild a (possibly nested) dataclass from `to_dict` output; unknown keys are an error."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        hints_ = "".join(did_you_mean(k, names) for k in sorted(unknown))
        raise ValueError(f"{cls.__name__}: unknown field(s) {sorted(unknown)}{hints_}; known: {sorted(names)}")
    kwargs = {}
    for k, v in d.items():
        tp = _strip_optional(hints[k])
        if dataclasses.is_dataclass(tp) and isinstance(v, dict):
            v = from_dict(tp, v)
        elif typing.get_origin(tp) is tuple and isinstance(v, list):
            v = tuple(v)
        kwargs[k] = v
    return cls(**kwargs)


def merge(cfg: T, values: dict[str, Any], where: str, prefix: str = "") -> T:
    """`cfg` with the (nested) `values` of a settings file set, each checked against the field's type (a
    string parsed as the field's type, as `--set` does); `where` names the source in errors, e.g.
    "--config run.toml"."""
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    hints = typing.get_type_hints(type(cfg))
    changes: dict[str, Any] = {}
    for name, value in values.items():
        key = prefix + name
        if name not in fields:
            raise ValueError(f"{where}: unknown setting {key!r}{did_you_mean(name, fields)}; "
                             f"known: {', '.join(sorted(fields))}")
        current = getattr(cfg, name)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[name] = merge(current, value, where, key + ".")
            continue
        changes[name] = _coerce(value, hints[name], f"{where}: {key}")
    return dataclasses.replace(cfg, **changes)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    bare = _strip_optional(tp)
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str) and bare is not str and typing.get_origin(bare) is not typing.Literal:
        return parse_value(value, tp, where)
    if isinstance(value, list) and typing.get_origin(bare) is tuple:
        return tuple(value)
    if bare is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if bare in (int, float, bool, str) and not isinstance(value, bare):
        raise ValueError(f"{where}={value!r}: expected {bare.__name__}")
    if typing.get_origin(bare) is typing.Literal and value not in typing.get_args(bare):
        raise ValueError(f"{where}={value!r}: must be one of {', '.join(map(str, typing.get_args(bare)))}")
    return value


def did_you_mean(name: str, known) -> str:
    """" (did you mean 'lr'?)" for the known name nearest to `name`, or "" when none is near."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _set_path(cfg: Any, path: list[str], raw: str, full: str) -> Any:
    if not dataclasses.is_dataclass(cfg):
        raise ValueError(f"--set {full}: {type(cfg).__name__} has no settings below it")
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    name = path[0]
    if name not in fields:
        raise ValueError(f"--set {full}: unknown setting {name!r} of {type(cfg).__name__}"
                         f"{did_you_mean(name, fields)}; known: {', '.join(sorted(fields))}")
    if len(path) > 1:
        value = _set_path(getattr(cfg, name), path[1:], raw, full)
    else:
        hint = typing.get_type_hints(type(cfg))[name]
        value = parse_value(raw, hint, full)
    return dataclasses.replace(cfg, **{name: value})


def _strip_optional(tp: Any) -> Any:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return tp


def comma_list(raw: str, tp: type, option: str, example: str, minimum: float | None = None) -> tuple:
    """'64, 256' → (64, 256): an option's comma-separated values, each a `tp` (int, float or str), blanks
    skipped; a value that is not one, or (with `minimum`) none or one below it, is one ValueError naming
    the option, with an example. What every list option of the command line is read with."""
    what = {int: "integers", float: "numbers", str: "names"}[tp]
    try:
        values = tuple(tp(p.strip()) for p in raw.split(",") if p.strip())
    except ValueError:
        raise ValueError(f"{option} {raw!r}: expected comma-separated {what}, e.g. {example}") from None
    if minimum is not None and (not values or min(values) < minimum):
        raise ValueError(f"{option} {raw!r}: expected comma-separated {what}, each at least {minimum:g}")
    return values


def parse_value(raw: str, tp: Any, key: str = "value") -> Any:
    """Parse the text `raw` as the type `tp` (bool, int, float, str, Literal, tuple, list, dict, Optional)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if raw.lower() in ("none", "null") and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return parse_value(raw, a, key)
            except ValueError:
                continue  # try the union's next type; the error below names the whole union
        raise ValueError(f"--set {key}={raw}: not a valid {tp}")
    if origin is typing.Literal:
        for a in args:
            if str(a) == raw:
                return a
        raise ValueError(f"--set {key}={raw}: must be one of {', '.join(map(str, args))}")
    if tp is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--set {key}={raw}: expected true or false")
    if tp in (int, float):
        try:
            return tp(float(raw)) if tp is int and "e" in raw.lower() else tp(raw)
        except ValueError:
            raise ValueError(f"--set {key}={raw}: expected a{'n int' if tp is int else ' float'}") from None
    if tp is str or tp is Any:
        return raw
    if origin in (tuple, list):
        parts = [p for p in raw.strip("()[]").split(",") if p.strip()]
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(parse_value(p.strip(), args[0], key) for p in parts)
        if origin is tuple and args:
            if len(parts) != len(args):
                raise ValueError(f"--set {key}={raw}: expected {len(args)} comma-separated values")
            return tuple(parse_value(p.strip(), a, key) for p, a in zip(parts, args))
        inner = args[0] if args else str
        return origin(parse_value(p.strip(), inner, key) for p in parts)
    if origin is dict or tp is dict:
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(f"--set {key}={raw}: expected JSON, e.g. '{{\"0\": 1.0}}'") from None
    raise ValueError(f"--set {key}: settings of type {tp} cannot be set from the command line")
