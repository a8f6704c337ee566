"""`kexue decoder-only rank|train|compare|mlm`: post 9529 from the command line.

`train` is one Trainer run (one architecture, one seed). `compare` and `mlm` are one run folder holding
several Trainer runs (architecture or direction × seed, each in `NAME-seedS/`) and the settings they
share (config.json's `run`); `--resume` continues the run that was cut, trains the ones not yet started
and reads the finished ones' result.json, so the table is the one an unbroken command prints. Errors,
run folders, --config/--print-config, --device/--precision: kexue/cli_common.py.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

import typer
from rich.table import Table

from kexue.console import results_console
from kexue import cli_common as C
from kexue.config import comma_list

app = typer.Typer(no_args_is_help=True, help="Post 9529: why LLMs are decoder-only (attention rank; GPT vs "
                                             "prefix-LM vs encoder-decoder).\n\n\b\nExample:\n"
                                             "  kexue decoder-only compare --task pinyin --preset quick --seeds 1")
console = results_console()  # results on stdout; notes and errors on stderr (cli_common)
SIZES = {"tiny": "quick", "small": "standard", "base": "full"}  # the old --size → the reproduce preset it names


def _preset(preset: str | None, size: str | None) -> str:
    """The reproduce preset named by --preset (or the old --size: tiny, small, base)."""
    name = C.either(preset, size, "--preset", "--size", "quick")
    name = SIZES.get(name, name)
    if name not in SIZES.values():
        raise ValueError(f"--preset {name!r}: choose one of {', '.join(SIZES.values())} (or {', '.join(SIZES)})")
    return name


@app.command()
def rank(
    n: str = typer.Option("64,128,256,512,1024", help="sequence lengths, comma-separated"),
    d: str = typer.Option("16,32,64", help="head sizes, comma-separated"),
    temperature: str = typer.Option("1.0", help="τ in softmax(QKᵀ/(τ√d)), comma-separated (softmax kinds only: "
                                                "linear attention has no score scale)"),
    seeds: int = typer.Option(3, min=1),
    kinds: str = typer.Option("bidirectional,causal,prefix,linear,causal_linear",
                              help="bidirectional | causal | prefix | backward | linear | causal_linear"),
    rtol: float = typer.Option(1e-6, help="numerical rank counts σ_i > rtol·σ_max"),
    mixed: bool = typer.Option(True, help="also check the half-heads / alternate-layers fix"),
) -> None:
    """Numerical, float64 and effective rank of n×n attention matrices of random Q, K, mean ± std over seeds."""
    from kexue.decoder_only.rank import KINDS, LINEAR_KINDS, RankConfig, mixed_direction, rank_table
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
    linear = [k for k in kind_list if k in LINEAR_KINDS]
    if linear and any(tau != 1.0 for tau in taus):
        raise ValueError(f"--temperature {temperature}: {', '.join(linear)} attention has no score scale; drop it "
                         "from --kinds (e.g. --kinds bidirectional,causal,prefix) or use --temperature 1")
    cfg = RankConfig(ns=comma_list(n, int, "--n", "64,256", minimum=1), ds=comma_list(d, int, "--d", "16,64", minimum=1), temperatures=taus, seeds=seeds, kinds=kind_list, rtol=rtol)
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


def _run_config(task: str, name: str, arch: str = "decoder"):
    """The RunConfig of the reproduce preset `name` (--preset), for --task and --arch."""
    from kexue.decoder_only.reproduce import preset
    from kexue.decoder_only.tasks import TASKS

    if task not in TASKS:
        raise ValueError(f"--task {task!r}: choose one of {', '.join(TASKS)}")
    base = preset(name).compare
    return replace(base, task=replace(base.task, task=task), model=replace(base.model, arch=arch))


def _archs(arch: str) -> tuple[str, ...]:
    from kexue.decoder_only.model import ARCHS, MATCHES

    archs = tuple(a.strip() for a in arch.split(",") if a.strip())
    bad = [a for a in archs if a.partition("@")[0] not in ARCHS or a.partition("@")[2] not in ("", *MATCHES)]
    if bad or not archs:
        raise ValueError(f"--arch: {bad or arch!r} not among decoder, prefix, encdec[@params|@params_total|@flops]")
    return archs


def _cell(rows: list[dict], key: str, scale: float = 1.0, digits: int = 4) -> str:
    from kexue.verdicts import spread

    return spread([scale * r[key] for r in rows]).fmt(digits)


@app.command()
@C.train_options("decoder_only", "train.steps=400 --set model.hidden=128 --set task.n_train=4000")
def train(
    task: str = typer.Option("pinyin", help="pinyin (sentence → pinyin) | reverse (sentence → its words reversed)"),
    arch: str = typer.Option("decoder", help="decoder | prefix | encdec"),
    preset: Optional[str] = typer.Option(None, help="quick (default; also called tiny) | standard (small) | full "
                                                    "(base): the sizes of that reproduce preset"),
    size: Optional[str] = C.alias("--size", "--preset"),
    *, opts: C.RunOptions,
) -> None:
    """Train one architecture on one task (one seed: --set train.seed=S) and measure it on held-out sentences."""
    from kexue.decoder_only.model import ARCHS
    from kexue.decoder_only.train import RunConfig, run

    if arch not in ARCHS:
        raise ValueError(f"--arch {arch!r}: choose one of {', '.join(ARCHS)} (compare matches widths)")
    name = _preset(preset, size)
    cfg, folder = C.start_run(opts, "kexue decoder-only train", "decoder_only", _run_config(task, name, arch),
                              RunConfig, options={"task": task, "arch": arch, "preset": name})
    s = run(cfg, folder.out, progress=opts.progress, resume=folder.resume)
    if s.get("rank"):  # under torchrun only rank 0 measures and reports
        return
    t = Table(title=f"kexue decoder-only train --task {cfg.task.task} --arch {cfg.model.arch}")
    for col in ("params", "steps", "train loss", "held-out loss", "exact match", "token acc", "tokens/s"):
        t.add_column(col, justify="right")
    t.add_row(f"{s['params']:,}", str(s["steps"]), f"{s['train_loss']:.4f}", f"{s['test_loss']:.4f}",
              f"{100 * s['exact_match']:.2f} %", f"{100 * s['token_acc']:.2f} %", f"{s['tokens_per_s'] or 0:,.0f}")
    console.print(t)
    console.print(f"run folder: {folder.out}", soft_wrap=True)


@app.command()
@C.train_options("decoder_only", "train.steps=400 --set model.hidden=128 --set task.n_train=4000")
def compare(
    task: str = typer.Option("pinyin", help="pinyin (sentence → pinyin) | reverse (sentence → its words reversed)"),
    arch: str = typer.Option("decoder,prefix,encdec", help="decoder | prefix | encdec | encdec@params | "
                                                           "encdec@params_total | encdec@flops, comma-separated"),
    preset: Optional[str] = typer.Option(None, help="quick (default; also called tiny) | standard (small) | full "
                                                    "(base): the sizes of that reproduce preset"),
    size: Optional[str] = C.alias("--size", "--preset"),
    seeds: int = typer.Option(3, min=1),
    match: str = typer.Option("params", help="a plain encdec's width matched to decoder-only by params (the "
                                             "Transformer weights) | params_total (embedding included) | flops | "
                                             "none (same depth and width: ≈ equal FLOPs, 2× params)"),
    *, opts: C.RunOptions,
) -> None:
    """Train each architecture × seed on one task and print the table (mean ± std over seeds)."""
    from kexue.config import to_dict
    from kexue.decoder_only.train import LABELS
    from kexue.decoder_only.tasks import build_task, unigram_loss
    from kexue.decoder_only.train import RunConfig, compare as run_compare
    from kexue.runs import write_settings

    _archs(arch)
    if match not in ("params", "params_total", "flops", "none"):
        raise ValueError(f"--match {match!r}: choose params, params_total, flops or none")
    name = _preset(preset, size)
    cfg, run = C.start_run(opts, "kexue decoder-only compare", "decoder_only", _run_config(task, name), RunConfig,
                           options={"task": task, "arch": arch, "preset": name, "seeds": seeds, "match": match})
    # on a resume, the run's own architectures, seeds and matching (run.json), not this command line's defaults
    archs, seeds, match = _archs(run.options["arch"]), int(run.options["seeds"]), run.options["match"]
    if C.is_main():  # the settings the runs share, for --resume and --config
        write_settings(run.out, to_dict(cfg))
    data = build_task(cfg.task)
    results = run_compare(cfg, archs, seeds, run.out, match=None if match == "none" else match, data=data,
                          progress=opts.progress, resume=run.resume)
    if not C.is_main():
        return
    train_set, test_set, vocab = data
    unigram = unigram_loss(train_set, test_set, vocab.n_output)
    t = Table(title=f"{cfg.task.task}: {len(train_set)} train / {len(test_set)} held-out sentences, {seeds} seeds, "
                    f"{cfg.train.steps} steps; unigram floor {unigram:.3f} nats")
    for col in ("arch", "params", "train GFLOPs/example", "train loss", "held-out loss", "exact match",
                "token acc", "tokens/s"):
        t.add_column(col, justify="right")
    for name, rows in results.items():
        t.add_row(LABELS.get(name, name) + (f" (hidden {rows[0]['hidden']})" if name.startswith("encdec") else ""),
                  f"{rows[0]['params']:,}", f"{rows[0]['flops_per_example'] / 1e9:.4f}", _cell(rows, "train_loss"),
                  _cell(rows, "test_loss"), _cell(rows, "exact_match", 100, 3), _cell(rows, "token_acc", 100, 3),
                  _cell(rows, "tokens_per_s", 1, 3))
    console.print(t)
    console.print(f"run folder: {run.out}", soft_wrap=True)


@app.command()
@C.train_options("decoder_only_mlm", "train.steps=400 --set model.layers=4 --set task.n_train=4000")
def mlm(
    direction: str = typer.Option("bidirectional,mixed,alternate", help="bidirectional | mixed (half heads causal, "
                                                                        "half anti-causal) | alternate (by layer)"),
    preset: Optional[str] = typer.Option(None, help="quick (default; also called tiny) | standard (small) | full "
                                                    "(base): the sizes of that reproduce preset"),
    size: Optional[str] = C.alias("--size", "--preset"),
    seeds: int = typer.Option(3, min=1),
    *, opts: C.RunOptions,
) -> None:
    """Whole-word MLM on People's Daily with each attention direction × seed; held-out loss, mean ± std."""
    from kexue.config import to_dict
    from kexue.decoder_only.mlm import DIRECTIONS, MLMRunConfig, build_mlm_task, compare_mlm
    from kexue.decoder_only.reproduce import preset as reproduce_preset
    from kexue.runs import write_settings

    def directions_of(text: str) -> tuple[str, ...]:
        found = tuple(d.strip() for d in text.split(",") if d.strip())
        bad = [d for d in found if d not in DIRECTIONS]
        if bad or not found:
            raise ValueError(f"--direction: {bad or text!r} not among {', '.join(DIRECTIONS)}")
        return found

    directions_of(direction)
    name = _preset(preset, size)
    cfg, run = C.start_run(opts, "kexue decoder-only mlm", "decoder_only_mlm", reproduce_preset(name).mlm,
                           MLMRunConfig, options={"direction": direction, "preset": name, "seeds": seeds})
    directions, seeds = directions_of(run.options["direction"]), int(run.options["seeds"])
    if C.is_main():
        write_settings(run.out, to_dict(cfg))
    data = build_mlm_task(cfg.task)
    results = compare_mlm(cfg, directions, seeds, run.out, data=data, progress=opts.progress, resume=run.resume)
    if not C.is_main():
        return
    t = Table(title=f"whole-word MLM: {len(data[0])} train / {len(data[1])} held-out sentences, {seeds} seeds, "
                    f"{cfg.train.steps} steps; unigram floor {data[3]:.3f} nats")
    for col in ("direction", "params", "held-out loss", "held-out acc %", "tokens/s"):
        t.add_column(col, justify="right")
    for d, rows in results.items():
        t.add_row(d, f"{rows[0]['params']:,}", _cell(rows, "test_loss"), _cell(rows, "test_acc", 100, 3),
                  _cell(rows, "tokens_per_s", 1, 3))
    console.print(t)
    console.print(f"run folder: {run.out}", soft_wrap=True)


C.adopt(app)
