"""`benchmarks/gplinker_pretrained.py --longer M1,M2`: do longer pretraining runs pay? (issue 22 §2)

The full run's msra-encoder pretraining (kexue.fm/archives/8998) resumed stage by stage to M1, M2, ... CPU
minutes in all, as a user with a night would (`kexue roformer pretrain --resume` with a later clock cap); a
copy of the encoder is kept at the end of each stage (encoder-M), and each copy is fine-tuned by the full
run's msra-pretrained recipe, seed and budget beside the next stage (→ results/gplinker-pretrained-longer.json).
"""
from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from gplinker_pretrained import Scale, _cpu_clocks, _job, encoder_cfg


def pretrain_more(scale: Scale, encoder: Path, out: Path, minutes: float) -> dict:
    """A copy of `encoder` (a pretraining run folder) in `out`, pretrained `minutes` more CPU minutes by
    `pretrain(resume=True)`; the clock cap counts the earlier session's seconds as its trainer_state has them."""
    import shutil

    import torch

    from kexue.roformer.pretrain import _resumed_seconds, pretrain as run
    torch.set_num_threads(1)
    _cpu_clocks()
    part = out.with_name(out.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    shutil.copytree(encoder, part)
    cfg = replace(encoder_cfg(scale), max_minutes=_resumed_seconds(part) / 60.0 + minutes)
    w0, c0 = time.perf_counter(), time.process_time()
    summary = run(cfg, part, progress=False, resume=True)
    stage = {"steps": summary["steps"], "cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - w0,
             "mlm_loss": summary.get("eval/mlm_loss"), "mlm_acc": summary.get("eval/mlm_acc")}
    (part / "stage.json").write_text(json.dumps(stage, indent=1) + "\n", encoding="utf-8")
    part.rename(out)
    return stage


def longer(scale: Scale, work: Path, stages: list[float], result: Path, seed: int = 0) -> dict:
    """Pretraining past the full run's 30 CPU minutes: stage by stage to each M in `stages`, every stage's
    encoder fine-tuned (seed `seed`, 25 CPU min) in a second process while the next stage pretrains. A stage
    whose folder is there (encoder-M with its stage.json) is not pretrained again."""
    import multiprocessing
    full = json.loads(result.read_text(encoding="utf-8"))
    pre = full["pretrain"]
    start = next(r for r in full["runs"] if r["arm"] == "pretrained" and r["seed"] == seed)
    rows = [{"pretrain_cpu_min": pre["cpu_s"] / 60, "steps": pre["steps"], "mlm_acc": pre["mlm_acc"],
             "mlm_loss": pre["mlm_loss"], "run": start, "from": result.name}]
    out = {"seed": seed, "finetune_cpu_min": scale.finetune_minutes, "rows": rows}
    file = result.with_name(result.stem + "-longer.json")

    def write() -> None:
        out.update(load_average=os.getloadavg()[0])
        file.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    def harvest(wait: bool) -> None:  # the finished fine-tunings written as they end: a cut run keeps them
        while tuned and (wait or tuned[0][1].done()):
            row, f = tuned.pop(0)
            rows.append({**row, "run": f.result()})
            write()
            print(f"{row['pretrain_cpu_min']:.0f} CPU min of pretraining: test F1 {rows[-1]['run']['test']['f1']:.4f}",
                  flush=True)

    encoder, cpu_min, tuned = work / "encoder", pre["cpu_s"] / 60, []
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        for m in stages:
            harvest(wait=False)
            nxt = work / f"encoder-{m:g}"
            if not (nxt / "stage.json").exists():
                pool.submit(pretrain_more, scale, encoder, nxt, m - cpu_min).result()
            stage = json.loads((nxt / "stage.json").read_text(encoding="utf-8"))
            cpu_min += stage["cpu_s"] / 60
            print(f"pretrained to {cpu_min:.1f} CPU min, step {stage['steps']}: MLM acc {stage['mlm_acc']:.4f}", flush=True)
            row = {"pretrain_cpu_min": cpu_min, **{k: stage[k] for k in ("steps", "mlm_acc", "mlm_loss")}}
            tuned.append((row, pool.submit(_job, ("pretrained", seed, scale, nxt, scale.finetune_minutes,
                                                  work / f"pretrained-{m:g}m-{seed}"))))
            encoder = nxt
        harvest(wait=True)
    out["complete"] = True
    write()
    return out
