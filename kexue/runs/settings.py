"""A run's settings: the one place that reads and writes them (config.json, and the old layouts).

The settings of a run are config.json's `run` section (what the Trainer trained with: `Trainer(...,
run_config=cfg)` writes {"run": cfg, "train": cfg.train}); a command whose run holds more than one
dataclass keeps each under a key (`section`: roformer finetune's {"finetune": ..., "labels": ...},
gplinker's {"gplinker": ..., "labels": ...}).
- `read_settings(out)`: the `run` section as plain data. An old GPLinker run (gplinker.json beside
  config.json, kexue ≤ 0.3) reads as the new layout: {"gplinker": its config, "labels": its labels}.
- `load_settings(out, cls, section)`: the same as a `cls` (`from_dict`: an unknown key is an error).
- `write_settings(out, run)`: config.json for a command that trains without the Trainer (mad's loops,
  attention's and decoder-only's folders of several runs).
- `resume_settings(out, cls, sets)`: the run's own settings with only what may change on a resume taken
  from `--set` (more steps, log/eval/checkpoint frequency: TrainConfig's MAY_CHANGE_ON_RESUME, plus a
  topic's own, e.g. diffusion's `sample_every`); restating a setting at the run's value is fine, another
  value is one line naming the key. The Trainer checks the same again (kexue/train/resume.py), so
  config.json is never rewritten with settings the weights were not trained with.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from kexue.config import from_dict, override
from kexue.runs.folder import RunFolderError
from kexue.train.checkpoint import CONFIG_FILE, read_json, write_json
from kexue.train.settings import MAY_CHANGE_ON_RESUME

T = TypeVar("T")
OLD_GPLINKER_FILE = "gplinker.json"  # kexue ≤ 0.3: GPLinker's task, config, labels and data beside config.json


def read_settings(out: str | Path, whole: bool = False) -> dict[str, Any]:
    """The `run` section of a run's config.json (the whole file where it has none, or with `whole`), old
    layouts included."""
    out = Path(out)
    old = out / OLD_GPLINKER_FILE
    if old.is_file():
        meta = read_json(old)
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise RunFolderError(f"{old}: not the settings of a GPLinker run (no 'config'); move the file away")
        config = {**meta["config"], "task": meta.get("task") or meta["config"].get("task", "events")}
        return {"gplinker": config, "labels": meta.get("labels", []), "data": meta.get("data") or {}}
    file = out / CONFIG_FILE
    if not file.is_file():
        raise RunFolderError(f"{file}: not found; this folder has no settings (not a kexue run, or one stopped "
                             "before it started training)")
    raw = read_json(file)
    if not isinstance(raw, dict):
        raise RunFolderError(f"{file}: expected an object of settings; move the file away")
    return raw["run"] if isinstance(raw.get("run"), dict) and not whole else raw


def load_settings(out: str | Path, cls: type[T], section: str | None = None, raw: dict[str, Any] | None = None) -> T:
    """The run's settings as a `cls`; `section`: the key of the `run` section that holds them; `raw`: the
    run section already read (`read_settings`), not to read the file twice."""
    file = Path(out) / CONFIG_FILE
    raw = read_settings(out) if raw is None else raw
    if section is not None:
        if not isinstance(raw.get(section), dict):
            raise RunFolderError(f"{file}: no '{section}' settings in its run section; not a run of this command")
        raw = raw[section]
    try:
        return from_dict(cls, raw)
    except (TypeError, ValueError) as e:
        raise RunFolderError(f"{file}: not the settings of a {cls.__name__} of this kexue version ({e})") from None


def write_settings(out: str | Path, run: dict[str, Any] | None, **beside: Any) -> Path:
    """Write `run` as config.json's `run` section (atomically), `beside` as keys next to it (mad's loop
    record; a loop run from Python has no `run`); the file's path."""
    file = Path(out) / CONFIG_FILE
    file.parent.mkdir(parents=True, exist_ok=True)
    write_json(file, {**({"run": run} if run is not None else {}), **beside})
    return file


def resume_settings(out: str | Path, cls: type[T], sets: list[str] | None,
                    may_change: tuple[str, ...] = (), restated: list[str] | tuple[str, ...] = (),
                    section: str | None = None) -> T:
    """The run's own settings (config.json's `run` section as a `cls`), with the allowed `--set`s applied.

    A `--set` in `restated` (one the run was started with: `recorded_sets(run.json)`) is left
    out: the run's value stands, also where the run resolved it further (roformer's vocab_size = the
    vocabulary built, not the `--set model.vocab_size=800` that capped it). `section` names the key of
    the `run` section that holds the `cls` (roformer finetune's run is {"finetune": ..., "labels": ...})."""
    cfg = load_settings(out, cls, section)
    for item in sets or []:
        if item in restated:
            continue
        changed = override(cfg, [item])
        if changed == cfg:
            continue  # restated at the run's own value
        key = item.split("=", 1)[0].strip()
        if not changeable_on_resume(key, may_change):
            allowed = [f"train.{k}" for k in MAY_CHANGE_ON_RESUME] + list(may_change)
            raise RunFolderError(f"--set {item}: the run in {out} was trained with {key}={_get(cfg, key)!r}; "
                                 f"a resume keeps the run's settings, only {', '.join(allowed)} may change")
        cfg = changed
    return cfg


def check_unchanged(out: str | Path, cfg: Any, section: str | None = None, may_change: tuple[str, ...] = ()) -> None:
    """`cfg` must be the run's own settings but for what may change on a resume: else one line naming the
    first setting that differs (for a library caller that resumes with settings of its own)."""
    from kexue.config import to_dict
    from kexue.train.resume import flatten

    saved, now = flatten(to_dict(load_settings(out, type(cfg), section))), flatten(to_dict(cfg))
    for key, value in now.items():
        if key in saved and saved[key] != value and not changeable_on_resume(key, may_change):
            allowed = [f"train.{k}" for k in MAY_CHANGE_ON_RESUME] + list(may_change)
            raise RunFolderError(f"{key}={value!r}: the run in {out} was trained with {key}={saved[key]!r}; a resume "
                                 f"keeps the run's settings, only {', '.join(allowed)} may change")


def changeable_on_resume(key: str, extra: tuple[str, ...] = ()) -> bool:
    """Whether the dotted setting `key` may differ between a run and its resume."""
    parts = key.split(".")
    return key in extra or (parts[-1] in MAY_CHANGE_ON_RESUME and (len(parts) == 1 or parts[-2] == "train"))


def _get(cfg: Any, key: str) -> Any:
    for name in key.split("."):
        cfg = getattr(cfg, name)
    return cfg


