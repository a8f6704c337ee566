"""The posts' own recipes on the user's DuEE / DuIE data and pretrained encoder (the full preset's claims on
the published F1s: 8926's DuEE 81.47, 8888's DuIE 0.8268), and where their paths come from.

Each path is a setting (`--set duee_dir=…`, `duie_dir=…`, `encoder_path=…`), else its environment variable
(KEXUE_DUEE, KEXUE_DUIE, KEXUE_ENCODER), else absent. DuEE: maxlen 128, batch 32, Adam lr 2e-5, 200 epochs,
three EGP heads (duee_v1.py); DuIE: maxlen 128, batch 64, lr 2e-5, 20 epochs (duie_v1.py; the post's 1e-5
goes with EMA); `duee_steps` / `duie_steps` replace the epochs with a number of steps. Where we depart: the
posts' numbers are the leaderboard's test set (DuEE under the official soft argument metric); ours are dev
numbers beside them.
"""
from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kexue.gplinker.tasks import get_task
from kexue.gplinker.train import GPLinker, GPLinkerConfig

if TYPE_CHECKING:
    from kexue.gplinker.reproduce import GPLinkerPreset

# setting → environment variable read when the setting is empty
PATH_ENV = {"duee_dir": "KEXUE_DUEE", "duie_dir": "KEXUE_DUIE", "encoder_path": "KEXUE_ENCODER"}
# per task: its data setting (also the prefix of its recipe settings in the preset) and the files of its folder
DATA = {
    "events": ("duee", {"train": ["duee_train.json"], "dev": ["duee_dev.json"], "schema": ["duee_event_schema.json"]}),
    "relations": ("duie", {"train": ["train_data.json", "duie_train.json"], "dev": ["dev_data.json", "duie_dev.json"],
                           "schema": ["all_50_schemas", "duie_schema.json"]}),
}


def resolve_paths(cfg: GPLinkerPreset, environ: dict[str, str] | None = None) -> dict[str, Path | None]:
    """Each of duee_dir, duie_dir, encoder_path: the setting, else its environment variable, else None.
    A path that is given but is not a folder is an error naming where it came from."""
    environ = os.environ if environ is None else environ
    out = {}
    for name, env in PATH_ENV.items():
        value, where = getattr(cfg, name), f"--set {name}"
        if not value and environ.get(env):
            value, where = environ[env], f"${env}"
        if value and not Path(value).is_dir():
            raise FileNotFoundError(f"{where}={value}: no such folder")
        out[name] = Path(value) if value else None
    return out


def data_files(folder: Path, names: dict[str, list[str]], setting: str) -> dict[str, Path]:
    """The train / dev / schema files of a DuEE or DuIE folder (the first of each name list that exists)."""
    out = {}
    for part, candidates in names.items():
        found = [folder / c for c in candidates if (folder / c).is_file()]
        if not found:
            raise FileNotFoundError(f"{setting}={folder}: no {' or '.join(candidates)} in it")
        out[part] = found[0]
    return out


def missing_paths(name: str, paths: dict[str, Path | None]) -> list[str]:
    """The settings task `name`'s recipe lacks, each with its environment variable."""
    data = DATA[name][0] + "_dir"
    return [f"{n} (or ${PATH_ENV[n]})" for n in (data, "encoder_path") if paths.get(n) is None]


def run_recipe(name: str, cfg: GPLinkerPreset, paths: dict[str, Path | None], runs: Path,
               progress: bool = False) -> dict[str, Any]:
    """The post's recipe for task `name` on the user's folder and encoder: its dev metrics (the best dev
    weights, or `drop_subsets` applied to them), with the setup in words."""
    prefix, files = DATA[name]
    found = data_files(paths[prefix + "_dir"], files, prefix + "_dir")
    task = get_task(name)
    # bad training lines are skipped and counted; dev is read whole (never filtered)
    train, labels = task.read(found["train"], found["schema"], skip_bad=True)
    dev, _ = task.read(found["dev"], found["schema"])
    tcfg = getattr(cfg, prefix)
    epochs = getattr(cfg, prefix + "_epochs")
    steps = getattr(cfg, prefix + "_steps") or epochs * math.ceil(len(train) / tcfg.batch_size)
    encoder = paths["encoder_path"]
    g = GPLinker.pretrained(GPLinkerConfig(task=name, max_len=cfg.max_len, train=replace(tcfg, steps=steps),
                                           keep_best=cfg.keep_best, eval_every=cfg.eval_every), labels, encoder)
    fitted = g.fit(train, dev, runs / prefix, progress=progress)
    dev_m = g.evaluate(dev, drop_subsets=True) if cfg.drop_subsets else fitted["dev"]
    setup = (f"{len(train)} train / {len(dev)} dev sentences, {encoder.name}, maxlen {cfg.max_len}, batch "
             f"{tcfg.batch_size}, lr {tcfg.lr:g}, {steps} steps; {fitted['weights']}")
    return {**dev_m, "weights": fitted["weights"], "drop_subsets": cfg.drop_subsets, "setup": setup}
