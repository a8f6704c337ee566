"""`kexue mad run|ess`: post 9687's self-consuming loops from the command line.

    kexue mad run --family gaussian --loop synthetic --lam 1,0.8 --generations 50 --seeds 20 --out runs/mad
    kexue mad run --out runs/mad --resume --generations 80       # the same loop, 30 generations more
    kexue mad run --family gmm --loop synthetic --lam 1,0.8 --generations 200 --out runs/mad-gmm
    kexue mad ess --n-r 100,250 --n-s 0,100,400,900 --lam 1,0.85,0.7 --out runs/mad-ess
    kexue mad run --print-config                       # every setting, its default and type
    kexue mad run --config runs/mad/config.json --set seeds=5 --out runs/mad2   # a run's settings again

Settings: the family's defaults, then `--config FILE` (JSON or TOML, a run's own config.json included),
then the options given on the command line, then `--set key=value`. A bad setting is one line on stderr
naming it, exit code 2; a failure at run time exits 1; SIGINT/SIGTERM finish the generation in progress,
write the state and exit 130/143 with "interrupted at generation t; continue with --resume". The run
folder is the shared options' (`--out`, default runs/mad/version_N; `--resume`, `--overwrite`, ...:
kexue/cli_options.py), and so are `--device`/`--precision` (where the diffusion family's networks train;
the closed-form families refuse a GPU or a lower precision) and `--log` (a logger that gets each
generation's median per λ): `train.*` in the settings, kexue/mad/run.py's LoopCompute.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from kexue import cli_common as C
from kexue.config import comma_list

app = typer.Typer(no_args_is_help=True, help="Post 9687: self-consuming generative loops (MAD).\n\n\b\nExample:\n"
                  "  kexue mad run --family gaussian --loop fresh --generations 20 --out runs/mad")
console = Console(stderr=True)

LOOP_OPTIONS = ("loop", "lam", "generations", "seeds", "n_ini", "n_r", "n_s", "accumulate", "k", "seed")


@app.command("run")
@C.train_options("mad", "gaussian.d=10 --set gmm.sigma=0.1 --set loop.n_s=500 --set checkpoint_every=10")
def run_cmd(
    family: str = typer.Option("gaussian", help="gaussian | gmm | diffusion"),
    loop: str = typer.Option("synthetic", help="synthetic | augment | fresh"),
    lam: str = typer.Option("1,0.8", help="sampling biases λ ∈ (0, 1], comma-separated (1 = unbiased)"),
    generations: Optional[int] = typer.Option(None, help="generations (default: the family's)"),
    seeds: Optional[int] = typer.Option(None, help="independent loops per λ"),
    n_ini: Optional[int] = typer.Option(None, "--n-ini", help="real points of G_1 (augment: the fixed real set)"),
    n_r: Optional[int] = typer.Option(None, "--n-r", help="fresh real points per generation (fresh loop)"),
    n_s: Optional[int] = typer.Option(None, "--n-s", help="synthetic points per generation"),
    accumulate: bool = typer.Option(False, help="augment loop: keep all past synthetic points in the pool"),
    k: int = typer.Option(1, "--K", help="fresh loop: synthetic points from the K previous models"),
    seed: int = typer.Option(0, help="seed of the whole run"),
    *, opts: C.RunOptions,
) -> None:
    """Run a self-consuming loop and plot its metrics against the generation (a --resume may add
    generations; the loop refuses any other change)."""
    from kexue.mad.loops import has_state
    from kexue.mad.run import RunSettings, get_family, run

    settings = run_settings(family, opts.config, opts.sets, given=C.given(opts.ctx, LOOP_OPTIONS + ("family",)),
                            options=dict(loop=loop, lam=lam, generations=generations, seeds=seeds, n_ini=n_ini,
                                         n_r=n_r, n_s=n_s, accumulate=accumulate, k=k, seed=seed))
    settings, folder = C.start_run(opts, "kexue mad run", "mad", settings, RunSettings, applied=True, reread=False,
                                   has_state=has_state)
    cfg, t0 = settings.loop, time.perf_counter()

    def progress(t: int, measured: dict) -> None:
        """A line a generation, with the median of the first of the family's metrics measured this time."""
        import numpy as np
        shown = next((m for m in get_family(settings.family).metrics if m in measured), None)
        parts = ""
        if shown is not None:
            v = np.asarray(measured[shown]).reshape(len(cfg.lams), cfg.seeds)
            parts = f"  median {shown}  " + ", ".join(f"λ={la:g}: {np.median(row):.4g}" for la, row in zip(cfg.lams, v))
        console.print(f"generation {t}/{cfg.generations}{parts}  ({time.perf_counter() - t0:.1f} s)", soft_wrap=True)

    result, info = run(settings, folder.out, resume=folder.resume, on_generation=progress, interruptible=True)
    _print_table(settings, result, info, folder.out)


def _print_table(settings, result, info: dict, out: Path) -> None:
    """The last generation's medians per λ, and the data-vs-data floor."""
    import numpy as np

    from kexue.mad.run import get_family
    cfg = settings.loop
    table = Table(title=f"kexue mad run --family {settings.family} --loop {cfg.loop}: generation {cfg.generations}, "
                        f"median over {cfg.seeds} seeds")
    names = [m for m in get_family(settings.family).metrics if m in result.history]
    for col in ["λ"] + names:
        table.add_column(col, justify="right")
    for la in cfg.lams:
        row = []
        for m in names:
            h = result.per_lam(m, la)
            last = h[~np.isnan(h).all(1)][-1]
            row.append(f"{np.median(last):.4g}")
        table.add_row(f"{la:g}", *row)
    table.add_row("data", *[f"{info['floor'].get(m, float('nan')):.4g}" for m in names])
    console.print(table)
    console.print(f"metrics: {out / 'metrics.jsonl'}\nfigure: {info['figure']}")


def run_settings(family: str, config: Path | None, sets: list[str] | None, given: tuple[str, ...], options: dict):
    """The settings of `kexue mad run`: the family's defaults, --config, the options given on the command
    line (all of them without --config: their defaults are the command's), then --set."""
    from kexue.mad.loops import get_loop
    from kexue.mad.run import RunSettings, default_settings

    data = C.read_config_file(config) if config is not None else {}
    if "family" in data and "family" not in given:
        family = data["family"]
    settings = default_settings(family)
    if config is not None:
        settings = C.merge(settings, data, f"--config {config}")
    use = lambda name: config is None or name in given  # noqa: E731
    changes = {}
    if use("loop"):
        changes["loop"] = options["loop"]
    if use("lam"):
        changes["lams"] = comma_list(options["lam"], float, "--lam", "1,0.8")
    for name in ("accumulate", "seed"):
        if use(name):
            changes[name] = options[name]
    if use("k"):
        changes["K"] = options["k"]
    for name in ("generations", "seeds", "n_ini", "n_r", "n_s"):
        if options[name] is not None:
            changes[name] = options[name]
    if get_loop(changes.get("loop", settings.loop.loop)).keeps_real and options["n_r"] is None and \
            (config is None or "n_ini" in changes):
        changes["n_r"] = changes.get("n_ini", settings.loop.n_ini)  # the fixed real set is G_1's
    settings.loop = type(settings.loop)(**{**settings.loop.__dict__, **changes})
    settings = C.settings(settings, None, sets)
    if not isinstance(settings, RunSettings) or settings.family != family and "family" not in data:
        raise ValueError(f"--set family={settings.family}: choose the family with --family")
    settings.loop.check(1)  # the family checks its own minimum when it is built
    return settings


ESS_OPTIONS = {"n_r": "n_r", "n_s": "n_s", "lam": "lams", "d": "d", "seeds": "seeds", "generations": "generations"}


@app.command("ess")
def ess_cmd(
    ctx: typer.Context,
    n_r: str = typer.Option("100,250,1000", "--n-r", help="real points per generation, comma-separated"),
    n_s: str = typer.Option("0,100,300,900,2700", "--n-s", help="synthetic points per generation"),
    lam: str = typer.Option("1,0.85,0.7", help="sampling biases λ"),
    d: int = typer.Option(100, help="dimension of P_r = N(0, I_d)"),
    seeds: int = typer.Option(20, help="Monte Carlo loops per cell"),
    generations: int = typer.Option(40, help="generations run before the limit is read"),
    set_: Optional[list[str]] = C.option("sets", example="reference_seeds=20"),
    config: Optional[Path] = C.option("config"),
    print_config: bool = C.option("show_config"),
    out: Optional[Path] = C.option("out", "mad-ess"),
) -> None:
    """The fresh loop's effective sample size n_e/n_r over (n_r, n_s, λ): the paper's phase map."""
    from kexue.mad.ess import ESSConfig, ess_map, plot_ess

    options = {"n_r": comma_list(n_r, int, "--n-r", "100,900"), "n_s": comma_list(n_s, int, "--n-s", "0,900"),
               "lam": comma_list(lam, float, "--lam", "1,0.8"), "d": d, "seeds": seeds, "generations": generations}
    given = C.given(ctx, tuple(ESS_OPTIONS))
    cfg = C.settings(ESSConfig(), config, None)
    # the options' defaults are the command's; with --config only those given on the command line apply
    cfg = C.merge(cfg, {ESS_OPTIONS[k]: v for k, v in options.items() if config is None or k in given},
                  "the command line")
    cfg = C.settings(cfg, None, set_)
    cfg.check()
    if print_config:
        C.print_config(cfg)
        raise typer.Exit(0)
    out = C.run_folder(out, "mad-ess")
    t0 = time.perf_counter()
    table_data = ess_map(cfg, on_cell=lambda c: console.print(
        f"n_r={c['n_r']} n_s={c['n_s']} λ={c['lam']:g}: W2 {c['w2']:.4g}, n_e/n_r {c['ratio']:.3g} "
        f"({time.perf_counter() - t0:.1f} s)"))
    out.mkdir(parents=True, exist_ok=True)
    import json

    from kexue.config import to_dict

    (out / "ess.json").write_text(json.dumps({**table_data, "run": to_dict(cfg)}, indent=2))  # --config reads "run"
    fig = plot_ess(table_data, out / "ess.png")
    console.print(f"table: {out / 'ess.json'}\nfigure: {fig}")

C.adopt(app)
