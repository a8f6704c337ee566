"""The default from-scratch GPLinker recipe, measured: `kexue gplinker TASK train` with no options, timed.

Issue 14 §6 (kexue.fm/archives/8373, 8926, 8888): the recipe's learning curve (dev F1 against minutes
and steps, from the run's metrics.jsonl), the test F1 of the weights the run ends with (the best dev
ones; ner: all 5000 MSRA test sentences, whole; events / relations: held-out templates and names),
the wall time of training and of the test evaluation, and the machine's load average sampled every
30 s during the run (the CPU is shared: a loaded machine stretches every minute here).

    python benchmarks/gplinker_recipe.py --task ner            # → benchmarks/results/gplinker_recipe.json
    python benchmarks/gplinker_recipe.py --task events --result benchmarks/results/gplinker_recipe-events.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="ner", choices=["ner", "events", "relations"])
    ap.add_argument("--out", type=Path, default=None, help="run folder (default: a temporary one)")
    ap.add_argument("--result", type=Path, default=None, help="JSON to write (default: "
                    "benchmarks/results/gplinker_recipe[-TASK].json)")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="passed on to train (a variant)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix=f"gplinker-recipe-{args.task}-")) / "run"
    result = args.result or ROOT / "benchmarks" / "results" / (
        "gplinker_recipe.json" if args.task == "ner" else f"gplinker_recipe-{args.task}.json")

    loads, done = [], threading.Event()

    def sample() -> None:
        while not done.is_set():
            loads.append(load_average())
            done.wait(30)

    threading.Thread(target=sample, daemon=True).start()
    cmd = [sys.executable, "-m", "kexue.cli", "gplinker", args.task, "train", "--out", str(out), "--overwrite"]
    for s in args.sets:
        cmd += ["--set", s]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    train_s = time.perf_counter() - t0
    done.set()
    if proc.returncode:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"train exited with {proc.returncode}")
    recipe_line = next((line for line in proc.stdout.splitlines() if line.startswith("recipe ")), "")
    stopped = next((line for line in proc.stdout.splitlines() if "final loss" in line), "")

    from kexue.gplinker.run_folder import read_linker_run
    from kexue.gplinker.tasks import get_task
    from kexue.gplinker.train import SELECT, load_run
    from kexue.train import read_metrics
    metric = SELECT[args.task]
    curve = [{"step": r["step"], "minutes": round(r["seconds"] / 60, 2), "dev_f1": round(r[f"eval/{metric}"], 4)}
             for r in read_metrics(out) if f"eval/{metric}" in r]
    losses = [{"step": r["step"], "loss": round(r["loss"], 4)} for r in read_metrics(out) if "loss" in r]
    t1 = time.perf_counter()
    g = load_run(out)
    run, task = read_linker_run(out), get_task(args.task)
    recipe = task.recipe(run.cfg.recipe)
    test = task.recipe_test(recipe)
    m = g.evaluate(test)
    test_s = time.perf_counter() - t1
    seen = round(g.evaluate(task.recipe_test(recipe, seen=True))[metric], 4) if task.builtin.has_seen_split else None
    report = {
        "task": args.task, "command": " ".join(cmd[1:]), "recipe": recipe_line, "end": stopped,
        "weights": g.weights, "test_sentences": len(test), "test": {k: round(v, 4) for k, v in m.items()},
        "test_f1": round(m[metric], 4), "seen_templates_f1": seen, "dev_curve": curve, "loss_curve": losses,
        "train_wall_s": round(train_s, 1), "test_eval_s": round(test_s, 1),
        "total_minutes": round((train_s + test_s) / 60, 2),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""), "cpus": os.cpu_count(),
        "load_average": {"samples_every_s": 30, "min": min(loads), "median": sorted(loads)[len(loads) // 2],
                         "max": max(loads), "values": loads},
        "data": run.data,
    }
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{args.task}: test {metric} {m[metric]:.4f} ({g.weights}); train {train_s / 60:.1f} min + test "
          f"{test_s:.0f} s; seen-template F1 {seen}; load average median {report['load_average']['median']} → {result}")


if __name__ == "__main__":
    main()
