"""`kexue attention cost|measure|quality`: post 8610 from the command line.

`quality` is one run folder holding four Trainer runs ({softmax, linear} × {LM, MLM}) and the settings
they share (config.json's `run`); `--resume` continues the one that was cut and trains the ones not yet
started. Errors, run folders, --config/--print-config, --device/--precision: kexue/cli_common.py.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from kexue.console import results_console
from kexue import cli_common as C
from kexue.config import comma_list
from kexue.attention import cost

app = typer.Typer(no_args_is_help=True, help="Post 8610: the cost of softmax and linear attention.\n\n\b\nExample:\n"
                  "  kexue attention quality --preset smoke --out runs/attn")
console = results_console()  # results on stdout; notes and errors on stderr (cli_common)


@app.command("cost")
def cost_cmd(
    hidden: int = typer.Option(768, help="hidden size h·d"),
    heads: int = typer.Option(12, help="number of heads h"),
    lengths: str = typer.Option("128,512,1024,1536,2048,4608,8192", help="sequence lengths n"),
    key_mult: int = typer.Option(4, help="linear attention's key size in units of d"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """The post's multiplication count per layer, its ratios and crossovers."""
    if hidden % heads:
        raise ValueError(f"--hidden {hidden} is not divisible by --heads {heads}")
    s = cost.LayerShape(h=heads, d=hidden // heads)
    rows = cost.cost_table(list(comma_list(lengths, int, "--lengths", "128,512,2048")), s, key_mult)
    xs = {"sa_gt_ffn (2hd)": cost.crossover_sa_ffn(s), "quadratic_dominates (6hd)": cost.crossover_quadratic(s),
          f"linear_beats_softmax ({key_mult}²d)": cost.crossover_linear(s, key_mult)}
    if as_json:
        print(json.dumps({"shape": asdict(s), "rows": [asdict(r) for r in rows], "crossovers": xs}, indent=2))
        return
    # fits 80 columns: 3 significant digits, no vertical rules
    t = Table(title=f"multiplications per layer, h={s.h}, d={s.d} (kexue.fm/archives/8610)", box=box.SIMPLE_HEAD,
              padding=(0, 1), pad_edge=False)
    for col in ("n", "SA", "FFN", "layer", "SA/FFN", "n² %", "softmax", f"linear k={key_mult}"):
        t.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        t.add_row(str(r.n), f"{r.sa:.2e}", f"{r.ffn:.2e}", f"{r.layer:.2e}", f"{r.sa_over_ffn:.3f}",
                  f"{100 * r.quadratic_share:.1f}", f"{r.softmax_attention:.2e}", f"{r.linear_attention:.2e}")
    console.print(t)
    for k, v in xs.items():
        console.print(f"crossover {k}: n = {v}")


@app.command()
def measure(
    lengths: str = typer.Option("128,256,512,1024,2048,4096", help="sequence lengths n"),
    heads: int = typer.Option(12), head_size: int = typer.Option(64),
    device: str = typer.Option("cpu", help="cpu | cuda | cuda:N | mps"),
    repeats: int = typer.Option(5, help="interleaved rounds per length, every one kept"),
    threads: int = typer.Option(1, help="torch threads on a CPU; 1 times the work's own CPU time (more: the "
                                        "process's, which counts the threads' spinning)"),
    out: Path = typer.Option(Path("runs/attention-measure"), help="folder for measure.json and the plots"),
) -> None:
    """Time the SA and FFN blocks and softmax vs linear attention on this device; write measure.json, then plot."""
    import torch

    from kexue.attention import plots
    from kexue.attention.claims import crossover_interval
    from kexue.attention.measure import MeasureConfig, measure_blocks, measure_cores, seconds
    from kexue.train.distributed import init_distributed

    device = str(init_distributed(device)[2])  # an unknown or absent device: one line, before any work
    if threads < 1:
        raise ValueError(f"--threads {threads}: expected at least 1")
    torch.set_num_threads(threads)
    cfg = MeasureConfig(lengths=comma_list(lengths, int, "--lengths", "128,512,2048"), h=heads, d=head_size, device=device, repeats=repeats)
    s = cost.LayerShape(h=heads, d=head_size)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    stderr = Console(stderr=True)
    with stderr.status("timing SA and FFN blocks"):
        blocks = measure_blocks(cfg)
    with stderr.status("timing softmax and linear attention"):
        cores = measure_cores(cfg)
    ns = list(cfg.lengths)
    # (point, low, high) of each crossover, a bootstrap over the interleaved rounds; inf: none in range
    x_sa = crossover_interval(ns, seconds(blocks, "sa"), seconds(blocks, "ffn"))
    x_lin = crossover_interval(ns, seconds(cores, "softmax_full"), seconds(cores, "linear_full"))
    t = Table(title=f"measured on {device}, batch 1, median of {repeats} interleaved rounds")
    for col in ("n", "SA ms", "FFN ms", "SA/FFN", "softmax ms", "linear ms", "softmax causal", "linear causal"):
        t.add_column(col, justify="right")
    for b, c in zip(blocks, cores):
        t.add_row(str(b["n"]), f"{b['sa_ms']:.2f}", f"{b['ffn_ms']:.2f}", f"{b['sa_ms'] / b['ffn_ms']:.2f}",
                  f"{c['softmax_full_ms']:.2f}", f"{c['linear_full_ms']:.2f}",
                  f"{c['softmax_causal_ms']:.2f}", f"{c['linear_causal_ms']:.2f}")
    console.print(t)
    console.print(f"SA > FFN: predicted n > {cost.crossover_sa_ffn(s)}, measured {_crossing(x_sa)}")
    console.print(f"linear (key {cfg.key_mult}d) < softmax: predicted n > {cost.crossover_linear(s, cfg.key_mult)}, "
                  f"measured {_crossing(x_lin)}")
    finite = lambda x: [v if math.isfinite(v) else None for v in x]  # JSON has no infinity: null
    # the numbers first, so that a failing plot cannot lose them
    (out / "measure.json").write_text(json.dumps({"blocks": blocks, "cores": cores, "crossover_sa_ffn": finite(x_sa),
                                                  "crossover_linear": finite(x_lin)}, indent=2))
    plots.plot_blocks(blocks, s, finite(x_sa), None, out / "blocks.png")
    plots.plot_cores(cores, cost.crossover_linear(s, cfg.key_mult), finite(x_lin), out / "cores.png")
    console.print(f"wrote {out}/measure.json, blocks.png, cores.png")


def _crossing(x: tuple[float, float, float]) -> str:
    point, lo, hi = (f"{v:.0f}" if math.isfinite(v) else "beyond the range" for v in x)
    return f"n ≈ {point} (95 % interval {lo} to {hi})" if x[0] != float("inf") else "never in range"


@app.command()
@C.train_options("attention-quality", "train.steps=800")
def quality(
    preset: str = typer.Option("quick", help="smoke | quick | full (the reproduce presets' quality settings)"),
    *, opts: C.RunOptions,
) -> None:
    """Train softmax vs linear attention as a causal LM and as an MLM on People's Daily."""
    from kexue.attention.quality import QualityConfig, compare, relative_gaps
    from kexue.attention.reproduce import preset as get_preset
    from kexue.config import to_dict
    from kexue.runs import write_settings

    cfg, run = C.start_run(opts, "kexue attention quality", "attention-quality", get_preset(preset).quality,
                           QualityConfig, options={"preset": preset})
    if C.is_main():  # the settings the four runs share, for --resume and --config
        write_settings(run.out, to_dict(cfg))
    rows = compare(cfg, run.out, progress=opts.progress, resume=run.resume)
    if not C.is_main():
        return
    t = Table(title="held-out loss (nats/char)")
    for col in ("task", "attention", "params", "loss", "ppl", "seconds"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(r["task"], r["attention"], f"{r['params']:,}", f"{r['eval_loss']:.4f}", f"{r['eval_ppl']:.1f}",
                  f"{r['seconds'] or 0:.0f}")
    console.print(t)
    gaps = relative_gaps(rows)
    console.print(f"relative gap linear vs softmax: LM {100 * gaps['lm']:+.1f} %, MLM {100 * gaps['mlm']:+.1f} %")
    console.print(f"run folder: {run.out}", soft_wrap=True)


C.adopt(app)
