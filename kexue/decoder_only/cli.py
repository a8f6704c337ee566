"""`kexue decoder-only rank|compare|mlm`: post 9529 from the command line."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from kexue.config import override

app = typer.Typer(no_args_is_help=True, help="Post 9529: why LLMs are decoder-only (attention rank; GPT vs "
                                             "prefix-LM vs encoder-decoder).")
console = Console()
SIZES = {"tiny": "quick", "small": "standard", "base": "full"}  # --size → the reproduce preset it comes from


def _ints(text: str, name: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter(f"--{name} {text!r}: expected comma-separated integers, e.g. 64,256") from None
    if not values or min(values) < 1:
        raise typer.BadParameter(f"--{name} {text!r}: expected positive integers")
    return values


@app.command()
def rank(
    n: str = typer.Option("64,128,256,512,1024", help="sequence lengths, comma-separated"),
    d: str = typer.Option("16,32,64", help="head sizes, comma-separated"),
    temperature: str = typer.Option("1.0", help="τ in softmax(QKᵀ/(τ√d)), comma-separated"),
    seeds: int = typer.Option(3, min=1),
    kinds: str = typer.Option("bidirectional,causal,prefix,linear,causal_linear",
                              help="bidirectional | causal | prefix | backward | linear | causal_linear"),
    rtol: float = typer.Option(1e-6, help="numerical rank counts σ_i > rtol·σ_max"),
    mixed: bool = typer.Option(True, help="also check the half-heads / alternate-layers fix"),
) -> None:
    """Numerical, float64 and effective rank of n×n attention matrices of random Q, K, mean ± std over seeds."""
    from kexue.decoder_only.rank import KINDS, RankConfig, mixed_direction, rank_table
    from kexue.verdicts import spread

    kind_list = tuple(k.strip() for k in kinds.split(",") if k.strip())
    bad = [k for k in kind_list if k not in KINDS]
    if bad:
        raise typer.BadParameter(f"--kinds: {bad} not among {', '.join(KINDS)}")
    try:
        taus = tuple(float(x) for x in temperature.split(","))
    except ValueError:
        raise typer.BadParameter(f"--temperature {temperature!r}: expected comma-separated numbers") from None
    if min(taus) <= 0 or not 0 < rtol < 1:
        raise typer.BadParameter("--temperature must be > 0 and --rtol in (0, 1)")
    cfg = RankConfig(ns=_ints(n, "n"), ds=_ints(d, "d"), temperatures=taus, seeds=seeds, kinds=kind_list, rtol=rtol)
    t = Table(title=f"attention rank, random Q, K ~ N(0, I), {seeds} seeds (numerical: σ > {rtol:g}·σ_max; "
                    "float64: σ > n·eps·σ_max)")
    for col in ("kind", "n", "d", "τ", "numerical rank", "float64 rank", "effective rank", "det > 0 (certified)"):
        t.add_column(col, justify="right")
    for r in rank_table(cfg):
        cert = r.get("certified_full_rank")
        t.add_row(r["kind"], str(r["n"]), str(r["d"]), f"{r['temperature']:g}", spread(r["numerical_rank"]).fmt(4),
                  spread(r["float64_rank"]).fmt(4), spread(r["effective_rank"]).fmt(3),
                  "" if cert is None else ("yes" if cert else "NO"))
    console.print(t)
    if mixed:
        m = mixed_direction(max(cfg.ns), min(cfg.ds), heads=8)
        console.print(f"mixed directions (n = {m['n']}, d = {m['d']}, 8 heads, half causal / half anti-causal): "
                      f"every head certified full rank: {all(m['head_certified_full_rank'])}; the layer reaches "
                      f"every pair: {m['half_heads_mix_all']}; causal then anti-causal layers reach every pair: "
                      f"{m['alternate_layers_mix_all']}; head effective rank "
                      f"{spread(m['head_effective_rank']).fmt()} vs bidirectional "
                      f"{spread(m['bidirectional_effective_rank']).fmt()}")


@app.command()
def compare(
    task: str = typer.Option("pinyin", help="pinyin (sentence → pinyin) | reverse (sentence → its words reversed)"),
    arch: str = typer.Option("decoder,prefix,encdec", help="decoder | prefix | encdec | encdec@params | "
                                                           "encdec@flops, comma-separated"),
    size: str = typer.Option("tiny", help="tiny (the quick preset's) | small (standard) | base (full)"),
    seeds: int = typer.Option(3, min=1),
    match: str = typer.Option("params", help="a plain encdec's width matched to decoder-only by params | flops | "
                                             "none (same depth and width: ≈ equal FLOPs, 2× params)"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="override a setting, e.g. --set train.steps=400 "
                                                                 "--set model.hidden=128 --set task.n_train=4000"),
    out: Path = typer.Option(Path("runs/decoder_only"), help="folder for each run's checkpoint and metrics"),
    progress: bool = typer.Option(True, help="show a progress bar"),
) -> None:
    """Train each architecture × seed on one task and print the table (mean ± std over seeds)."""
    from kexue.decoder_only.model import ARCHS
    from kexue.decoder_only.reproduce import LABELS, preset
    from kexue.decoder_only.tasks import TASKS, build_task, unigram_loss
    from kexue.decoder_only.train import compare as run_compare
    from kexue.verdicts import spread

    if task not in TASKS:
        raise typer.BadParameter(f"--task {task!r}: choose one of {', '.join(TASKS)}")
    if size not in SIZES:
        raise typer.BadParameter(f"--size {size!r}: choose one of {', '.join(SIZES)}")
    if match not in ("params", "flops", "none"):
        raise typer.BadParameter(f"--match {match!r}: choose params, flops or none")
    archs = tuple(a.strip() for a in arch.split(",") if a.strip())
    bad = [a for a in archs if a.partition("@")[0] not in ARCHS or a.partition("@")[2] not in ("", "params", "flops")]
    if bad or not archs:
        raise typer.BadParameter(f"--arch: {bad or arch!r} not among decoder, prefix, encdec[@params|@flops]")
    try:
        base = override(preset(SIZES[size]).compare, set_)
        base = replace(base, task=replace(base.task, task=task))
        data = build_task(base.task)
        results = run_compare(base, archs, seeds, out, match=None if match == "none" else match, data=data,
                              progress=progress)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    train_set, test_set, vocab = data
    unigram = unigram_loss(train_set, test_set, vocab.n_output)
    t = Table(title=f"{task}: {len(train_set)} train / {len(test_set)} held-out sentences, {seeds} seeds, "
                    f"{base.train.steps} steps; unigram floor {unigram:.3f} nats")
    for col in ("arch", "params", "train GFLOPs/example", "train loss", "held-out loss", "exact match",
                "token acc", "tokens/s"):
        t.add_column(col, justify="right")
    for name, rows in results.items():
        def col(key: str, scale: float = 1.0, digits: int = 4) -> str:
            return spread([scale * r[key] for r in rows]).fmt(digits)
        t.add_row(LABELS.get(name, name) + (f" (hidden {rows[0]['hidden']})" if name.startswith("encdec") else ""),
                  f"{rows[0]['params']:,}", f"{rows[0]['flops_per_example'] / 1e9:.4f}", col("train_loss"),
                  col("test_loss"), col("exact_match", 100, 3), col("token_acc", 100, 3),
                  col("tokens_per_s", 1, 3))
    console.print(t)
    console.print(f"runs: {out}")


@app.command()
def mlm(
    direction: str = typer.Option("bidirectional,mixed,alternate", help="bidirectional | mixed (half heads causal, "
                                                                        "half anti-causal) | alternate (by layer)"),
    size: str = typer.Option("tiny", help="tiny (the quick preset's) | small (standard) | base (full)"),
    seeds: int = typer.Option(3, min=1),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="override a setting, e.g. --set train.steps=400 "
                                                                 "--set model.layers=4 --set task.n_train=4000"),
    out: Path = typer.Option(Path("runs/decoder_only_mlm"), help="folder for each run's checkpoint and metrics"),
    progress: bool = typer.Option(True, help="show a progress bar"),
) -> None:
    """Whole-word MLM on People's Daily with each attention direction × seed; held-out loss, mean ± std."""
    from kexue.decoder_only.mlm import DIRECTIONS, build_mlm_task, run_mlm
    from kexue.decoder_only.reproduce import preset
    from kexue.verdicts import spread

    if size not in SIZES:
        raise typer.BadParameter(f"--size {size!r}: choose one of {', '.join(SIZES)}")
    directions = tuple(d.strip() for d in direction.split(",") if d.strip())
    bad = [d for d in directions if d not in DIRECTIONS]
    if bad or not directions:
        raise typer.BadParameter(f"--direction: {bad or direction!r} not among {', '.join(DIRECTIONS)}")
    try:
        base = override(preset(SIZES[size]).mlm, set_)
        data = build_mlm_task(base.task)
        results = {d: [run_mlm(replace(base, direction=d, train=replace(base.train, seed=s)), out / d / f"seed{s}",
                               data=data, progress=progress) for s in range(seeds)] for d in directions}
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    t = Table(title=f"whole-word MLM: {len(data[0])} train / {len(data[1])} held-out sentences, {seeds} seeds, "
                    f"{base.train.steps} steps; unigram floor {data[3]:.3f} nats")
    for col in ("direction", "params", "held-out loss", "held-out acc %", "tokens/s"):
        t.add_column(col, justify="right")
    for d, rows in results.items():
        t.add_row(d, f"{rows[0]['params']:,}", spread([r["test_loss"] for r in rows]).fmt(4),
                  spread([100 * r["test_acc"] for r in rows]).fmt(3), spread([r["tokens_per_s"] for r in rows]).fmt(3))
    console.print(t)
    console.print(f"runs: {out}")
