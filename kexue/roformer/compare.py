"""The trained comparisons of post 8998, measured once per seed: RoFormerV2 against its `bert` variant,
and the residual ramp against ReZero.

kexue.fm/archives/8998. Both variants (or schemes) of one seed see the same batches in the same order,
the same masks, and (fine-tuning) the same shuffled train/dev split, so that seed i of each side form a
pair (`kexue.verdicts.paired_interval`):

    variants   pretrain (whole-word MLM, held-out loss) → fine-tune on review sentiment (dev accuracy)
    residual   pretrain with x_{t+1} = Norm(x_t + α_t F(x_t)), α_t = min(1, t / ramp), or with ReZero
               x_{t+1} = x_t + α F(x_t), α trainable from 0 (residual.py)

Run folders are `out_dir/runs/{pretrain,finetune,residual}-<name>-seed<seed>`; every run's training
curve is kept for the figure. The runs are independent, and run side by side on the cores the topic
has (kexue.parallel.map_runs).
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from kexue.parallel import map_runs
from kexue.roformer.config import bert_variant
from kexue.roformer.finetune import FinetuneConfig, finetune, load_task
from kexue.roformer.pretrain import PretrainConfig, pretrain
from kexue.roformer.residual import pretrain_scheme

VARIANTS: tuple[str, ...] = ("roformer_v2", "bert")

Curves = dict[str, list[tuple[int, float]]]  # "<variant or scheme> seed <s>" → [(step, training loss)]


def variant_runs(pre: PretrainConfig, fine: FinetuneConfig, seeds: Sequence[int], out_dir: Path,
                 progress: bool = False) -> tuple[dict[str, dict[str, list]], Curves]:
    """{variant: {"mlm_loss", "mlm_acc", "accuracy", "params": one value per seed}} and the curves: each
    variant pretrained with `pre` (the bert variant with the post's simplifications undone), then
    fine-tuned with `fine`, once per seed; the (seed, variant) runs side by side (kexue.parallel)."""
    runs = {v: {"mlm_loss": [], "mlm_acc": [], "accuracy": [], "params": []} for v in VARIANTS}
    curves: Curves = {}
    pairs = [(seed, variant) for seed in seeds for variant in VARIANTS]
    done = map_runs(variant_run, [(pre, fine, variant, seed, out_dir, progress) for seed, variant in pairs])
    for (seed, variant), (values, run_curve) in zip(pairs, done):
        for key, value in values.items():
            runs[variant][key].append(value)
        curves[f"{variant} seed {seed}"] = run_curve
    return runs, curves


def variant_run(pre: PretrainConfig, fine: FinetuneConfig, variant: str, seed: int, out_dir: Path,
                progress: bool = False) -> tuple[dict[str, float], list[tuple[int, float]]]:
    """One variant's pretraining and fine-tuning with one seed: its measures and its training curve."""
    model = pre.model if variant == "roformer_v2" else bert_variant(pre.model)
    pre_dir = out_dir / "runs" / f"pretrain-{variant}-seed{seed}"
    p = pretrain(replace(pre, model=model, train=replace(pre.train, seed=seed)), pre_dir, progress=progress)
    f = finetune(replace(fine, pretrained=str(pre_dir), train=replace(fine.train, seed=seed)),
                 out_dir / "runs" / f"finetune-{variant}-seed{seed}", progress=progress)
    values = {"mlm_loss": p["eval/mlm_loss"], "mlm_acc": p["eval/mlm_acc"], "accuracy": f["eval/acc"],
              "params": p["params"]}
    return values, curve(pre_dir)


def residual_runs(pre: PretrainConfig, ramp: int, seeds: Sequence[int], out_dir: Path,
                  progress: bool = False) -> tuple[dict[str, list[float]], Curves]:
    """{"ramp": held-out MLM loss per seed, "rezero": …} and the curves, each scheme pretrained like `pre`;
    the (seed, scheme) runs side by side (kexue.parallel)."""
    losses: dict[str, list[float]] = {"ramp": [], "rezero": []}
    curves: Curves = {}
    pairs = [(seed, scheme) for seed in seeds for scheme in losses]
    done = map_runs(residual_run, [(pre, scheme, ramp, seed, out_dir, progress) for seed, scheme in pairs])
    for (seed, scheme), (loss, run_curve) in zip(pairs, done):
        losses[scheme].append(loss)
        curves[f"{scheme} seed {seed}"] = run_curve
    return losses, curves


def residual_run(pre: PretrainConfig, scheme: str, ramp: int, seed: int, out_dir: Path,
                 progress: bool = False) -> tuple[float, list[tuple[int, float]]]:
    """One scheme's pretraining with one seed: its held-out MLM loss and its training curve."""
    run_dir = out_dir / "runs" / f"residual-{scheme}-seed{seed}"
    s = pretrain_scheme(replace(pre, train=replace(pre.train, seed=seed)), scheme, ramp, run_dir, progress=progress)
    return s["eval/mlm_loss"], curve(run_dir)


def majority_label(fine: FinetuneConfig, seeds: Sequence[int]) -> float:
    """The floor of sentiment accuracy: the share of the most common label in each seed's dev examples
    (the split is shuffled with the seed), averaged over the seeds."""
    shares = []
    for seed in seeds:
        _, dev = load_task(replace(fine, train=replace(fine.train, seed=seed)))
        labels = Counter(y for _, y in dev[:fine.max_dev])
        shares.append(labels.most_common(1)[0][1] / sum(labels.values()))
    return sum(shares) / len(shares)


def curve(run_dir: Path) -> list[tuple[int, float]]:
    """(step, training loss) of every logged step of a run."""
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [(r["step"], r["loss"]) for r in records if "loss" in r and "step" in r]
