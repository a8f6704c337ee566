"""Settings on the command line: the preset, then `--config FILE`, then `--set key=value`; `--print-config`.

`settings(preset, config_file, sets)` is what a command trains with before its run folder is looked at:
`read_config_file` reads a JSON or TOML file (a run's own config.json gives its `run` section),
`kexue.config.merge` checks each value against its field's type, `kexue.config.override` applies the
`--set`s. `print_config` writes every setting as TOML a `--config` file takes back. Part of the
command-line convention (kexue/cli_common.py, docs/ARCHITECTURE.md).
"""
from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from pathlib import Path
from typing import Any, TypeVar

import typer

from kexue.config import merge, override

T = TypeVar("T")


def settings(cfg: T, config_file: Path | None = None, sets: list[str] | None = None,
             section: str | None = None) -> T:
    """The preset `cfg`, then the settings of config_file, then the `--set key=value`s; `section`: the key
    under which a run's config.json keeps them, when not at the top of its `run` section."""
    if config_file is not None:
        cfg = merge(cfg, read_config_file(config_file, section), f"--config {config_file}")
    return override(cfg, sets)


def read_config_file(path: Path, section: str | None = None) -> dict[str, Any]:
    """A JSON or TOML file of settings; a run's config.json gives its `run` section (its `section` key,
    when given and present: roformer finetune's run is {"finetune": ..., "labels": ...})."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--config {path}: no such file")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--config {path}:{e.lineno}: not valid JSON ({e.msg})") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"--config {path}: not valid TOML ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"--config {path}: expected an object of settings, got {type(data).__name__}")
    data = data["run"] if isinstance(data.get("run"), dict) else data
    return data[section] if section is not None and isinstance(data.get(section), dict) else data


def settings_rows(cfg: Any, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, value, type) for every leaf setting of a dataclass, dotted keys in field order."""
    rows = []
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            rows += settings_rows(value, f"{prefix}{f.name}.")
            continue
        tp = hints[f.name]
        name = tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")
        rows.append((prefix + f.name, json.dumps(value, ensure_ascii=False, default=str), name))
    return rows


def print_config(cfg: Any) -> None:
    """Every setting as `key = value  # type` on stdout: TOML a `--config` file can take back."""
    rows = settings_rows(cfg)
    width = max(len(k) + len(v) for k, v, _ in rows) + 3
    for key, value, tp in rows:
        value = "{" + ", ".join(f'"{k}" = {json.dumps(v)}' for k, v in json.loads(value).items()) + "}" \
            if value.startswith("{") else value
        line = f"{key} = {value}"
        typer.echo(f"{line:<{width}}  # {tp}" if value != "null" else f"# {key} = (none)  # {tp}")
