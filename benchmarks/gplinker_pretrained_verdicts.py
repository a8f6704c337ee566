"""The verdicts of benchmarks/gplinker_pretrained.py (issue 22): arms against each other, and runs with a feature
(lexicon, bigrams) against the same arm and seed without it, paired by fine-tuning seed (kexue/verdicts.py:
`better` on the `paired_interval` of the per-seed differences)."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path


def verdicts(runs: list[dict]) -> dict:
    """pretrained vs random and pretrained vs scratch, over the seeds, paired by fine-tuning seed."""
    from kexue.verdicts import better, paired_interval
    f1 = {arm: {r["seed"]: r["test"]["f1"] for r in runs if r["arm"] == arm} for arm in ("pretrained", "random", "scratch")}
    out = {}
    for other in ("random", "scratch"):
        seeds = sorted(f1["pretrained"].keys() & f1[other].keys())
        a, b = [f1["pretrained"][s] for s in seeds], [f1[other][s] for s in seeds]
        if not seeds:
            continue
        d = better(a, b, interval=paired_interval([x - y for x, y in zip(a, b)]), names=("pretrained", other))
        out[f"pretrained_vs_{other}"] = {**asdict(d), "seeds": seeds, "mean_difference": sum(a) / len(a) - sum(b) / len(b)}
    return out


def against_plain(runs: list[dict], plain: Path, names: tuple[str, str] = ("lexicon", "none")) -> dict:
    """Runs with a feature (names[0]) against the runs without it in `plain` (the same arm and fine-tuning
    seed), per arm."""
    from kexue.verdicts import better, paired_interval
    if not plain.is_file():
        return {}
    data = json.loads(plain.read_text(encoding="utf-8"))
    before = {(r["arm"], r["seed"]): r["test"]["f1"] for r in data["runs"]}
    out = {}
    for arm in ("pretrained", "random", "scratch"):
        pairs = sorted((r["seed"], r["test"]["f1"], before[arm, r["seed"]]) for r in runs
                       if r["arm"] == arm and (arm, r["seed"]) in before)
        if pairs:
            a, b = [p[1] for p in pairs], [p[2] for p in pairs]
            d = better(a, b, interval=paired_interval([x - y for x, y in zip(a, b)]), names=names)
            out[arm] = {**asdict(d), "seeds": [p[0] for p in pairs], "mean_difference": sum(a) / len(a) - sum(b) / len(b),
                        "from": plain.name}
            if arm == "pretrained":  # the encoder each side fine-tuned (they differ unless --encoder was the same)
                out[arm]["plain_pretrain_steps"] = data["pretrain"]["steps"]
                out[arm]["plain_encoder"] = data["pretrain"].get("folder", "")
    return out
