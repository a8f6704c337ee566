"""LAMB vs Adam on Su's DDPM (kexue.fm/archives/9152): loss curve and FD of short CPU runs on 8×8 digits.

    .venv/bin/python benchmarks/diffusion_optim.py --steps 1500 --seeds 0 1

Keras-DDPM trains with LAMB (bert4keras's Adam + layer adaptation) at lr 1e−3 with the piecewise-linear
schedule {4000: 1, 20000: 0.5, 40000: 0.1}; kexue used plain Adam at the same rate before LAMB existed.
Each run here is the `su` preset on digits (Su's U-Net sized `digits8`, Keras-DDPM's init) shortened to
--steps, its schedule's knots scaled by steps/40000, EMA decay scaled so that 1 − β is 40000/steps times
Su's 1e−4; and the `quick` preset (a smaller U-Net, Adam 3e−3 cosine) with its own optimizer and with LAMB.
Both sides of a pair get the same seed, data order, init and schedule. FD-digits (kexue/diffusion/
metrics.py) is measured on `--draws` sets of `--n` samples from a `--sample-steps` respaced chain
against half of the data; the other half gives the data-vs-data FD at the same n.
Writes benchmarks/results/diffusion-optim.json and prints a markdown table (min and median over draws).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from kexue.diffusion.ddpm import sample
from kexue.diffusion.metrics import ClassifierConfig, ImageMetrics, load_or_fit_classifier
from kexue.diffusion.train import DiffusionConfig, load_data, load_run, train
from kexue.train import read_metrics


def configs(steps: int) -> dict[str, DiffusionConfig]:
    su = DiffusionConfig.preset("su", data="digits")
    k = steps / 40_000
    knots = {int(4000 * k): 1.0, int(20000 * k): 0.5, steps: 0.1}
    beta = 1 - 1e-4 / k
    su_train = replace(su.train, steps=steps, piecewise=knots, ema=beta, log_every=50, ckpt_every=0)
    quick = DiffusionConfig.preset("quick", data="digits")
    quick_train = replace(quick.train, steps=steps, log_every=50)
    return {
        "su + LAMB 1e-3": replace(su, train=su_train),
        "su + Adam 1e-3": replace(su, train=replace(su_train, optimizer="adam", eps=1e-8)),
        "quick + Adam 3e-3 (its own)": replace(quick, train=quick_train),
        "quick + LAMB 1e-3": replace(quick, train=replace(quick_train, optimizer="lamb", lr=1e-3, eps=1e-7)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--runs", nargs="*", default=None, help="names of the runs (default: all)")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--sample-steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/results/diffusion-optim.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x, y, name = load_data(DiffusionConfig(data="digits"))
    clf, info = load_or_fit_classifier(name, x, y, Path(tempfile.gettempdir()) / "kexue-bench-clf", ClassifierConfig())
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    ref, held = x[perm[:len(x) // 2]], x[perm[len(x) // 2:]]
    measure = ImageMetrics(name, ref, clf, info["num_classes"])
    fd = measure.fd_key
    data_fd = [measure(held[torch.randperm(len(held), generator=torch.Generator().manual_seed(100 + i))[:args.n]])[fd]
               for i in range(args.draws)]
    results = {"data_vs_data": data_fd, "runs": {}}
    chosen = configs(args.steps)
    for label in args.runs or list(chosen):
        for seed in args.seeds:
            cfg = replace(chosen[label], train=replace(chosen[label].train, seed=seed))
            with tempfile.TemporaryDirectory() as tmp:
                torch.manual_seed(seed)
                t0 = time.perf_counter()
                summary = train(cfg, tmp, progress=False, data=(x, y, name))
                seconds = time.perf_counter() - t0
                curve = [(r["step"], r["loss"]) for r in read_metrics(Path(tmp) / "metrics.jsonl") if "loss" in r]
                row = {"seed": seed, "train_seconds": seconds, "curve": curve, "final_loss": summary["final_loss"]}
                for kind in ("ema", "raw"):
                    model, schedule, _ = load_run(tmp, ema=kind == "ema")
                    gen = torch.Generator().manual_seed(seed + 1)
                    xs = sample(model, schedule, (args.draws * args.n, *x.shape[1:]), "beta", args.sample_steps,
                                generator=gen).clamp(-1, 1)
                    row[f"FD_{kind}"] = [measure(xs[i * args.n:(i + 1) * args.n])[fd] for i in range(args.draws)]
            results["runs"].setdefault(label, []).append(row)
            print(f"{label} seed {seed}: loss {row['final_loss']:.2f}, FD ema {statistics.median(row['FD_ema']):.2f}, "
                  f"raw {statistics.median(row['FD_raw']):.2f} ({seconds:.0f} s)", flush=True)
    results["meta"] = {"steps": args.steps, "seeds": args.seeds, "n": args.n, "draws": args.draws,
                       "sample_steps": args.sample_steps, "threads": args.threads, "torch": torch.__version__,
                       "machine": platform.processor() or platform.machine()}
    print(f"\n{args.steps} steps; {fd} over {args.draws} draws of {args.n} (min / median); "
          f"held-out data: {min(data_fd):.2f} / {statistics.median(data_fd):.2f}\n")
    print("| run | seed | final loss | FD EMA | FD raw |\n|---|---|---|---|---|")
    for label, rows in results["runs"].items():
        for r in rows:
            ema, raw = r["FD_ema"], r["FD_raw"]
            print(f"| {label} | {r['seed']} | {r['final_loss']:.2f} | {min(ema):.2f} / {statistics.median(ema):.2f} | "
                  f"{min(raw):.2f} / {statistics.median(raw):.2f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
