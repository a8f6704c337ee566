"""`kexue lru train|evaluate|scan`: post 9554 from the command line (conventions: kexue/cli_common.py)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from kexue.console import results_console
from kexue import cli_common as C

app = typer.Typer(no_args_is_help=True, help="Post 9554: the Linear Recurrent Unit on long-range tasks.\n\n\b\nExample:\n"
                  "  kexue lru train --task copy --preset smoke --out runs/lru\n  kexue lru evaluate --model runs/lru")
console = results_console()  # results on stdout; notes and errors go to stderr (cli_common)


def _config(task: str, model: str, preset: str):
    """The run settings: `paper`, the library's RunConfig (the paper's optimiser, lr 1e-3, and Table 9's
    ListOps model) on `task`; or the sizes of a reproduce preset: ListOps, the token tasks (copy's) or the
    pixel tasks."""
    from kexue.lru.tasks import TASKS, TaskConfig
    from kexue.lru.train import RunConfig

    if task not in TASKS:
        raise ValueError(f"--task {task!r}: choose one of {', '.join(TASKS)}")
    if preset == "paper":
        base = RunConfig(task=TaskConfig(task))
    else:
        from kexue.lru.reproduce import preset as get_preset

        p = get_preset(preset)
        base = p.listops if task == "listops" else p.copy if task in ("copy", "selective", "recall") else p.ablation
        base = replace(base, task=replace(base.task, task=task))
    from kexue.lru.reproduce import ablation_config  # lazy: matplotlib
    return ablation_config(base, model)


@app.command()
@C.train_options("lru", "train.steps=800 --set model.d_state=128 --set task.length=500")
def train(
    task: str = typer.Option("copy", help="listops | copy | adding | selective | recall | smnist | sfashion"),
    model: str = typer.Option("lru", help="lru | slru | transformer | rnn | lstm | dense | diag_reim | diag_exp | "
                                          "stable_exp"),
    preset: str = typer.Option("paper", help="paper: the library's settings (App. D's optimiser, lr 1e-3, Table "
                                             "9's model; --print-config lists them) | the sizes of a reproduce "
                                             "preset: smoke | quick (lr 3e-3) | standard | full"),
    *, opts: C.RunOptions,
) -> None:
    """Train a deep model (the paper's block) on a long-range task and report its test accuracy."""
    from kexue.lru.train import RunConfig, run

    cfg, folder = C.start_run(opts, "kexue lru train", "lru", _config(task, model, preset), RunConfig,
                              options={"task": task, "model": model, "preset": preset})
    summary = run(cfg, folder.out, progress=opts.progress, resume=folder.resume)
    if summary["rank"]:  # under torchrun only rank 0 evaluates and reports
        return
    t = Table(title=f"kexue lru train --task {cfg.task.task} --model {cfg.model.model}")
    for col in ("params", "steps", "final loss", "test loss", "test acc", "seconds"):
        t.add_column(col, justify="right")
    t.add_row(f"{summary['params']:,}", str(summary["steps"]), f"{summary['final_loss']:.4f}",
              f"{summary['test_loss']:.4f}", f"{100 * summary['test_acc']:.2f} %", f"{summary['seconds']:.0f}")
    console.print(t)
    console.print(f"run folder: {folder.out}", soft_wrap=True)


@app.command()
def evaluate(
    model: Optional[Path] = typer.Option(None, help="a run folder of `kexue lru train`"),
    run_dir: Optional[Path] = typer.Argument(None, hidden=True, help="the old spelling of --model"),
    device: Optional[str] = C.option("device"),
) -> None:
    """Rebuild a trained model from its folder and measure its test accuracy again."""
    run_dir = C.either(model, run_dir, "--model", "RUN_DIR")
    if run_dir is None:
        raise ValueError("--model: give the run folder of `kexue lru train`, e.g. --model runs/lru/version_0")
    from kexue.lru.tasks import build_task
    from kexue.lru.train import RunConfig, build_model, evaluate as eval_model
    from kexue.runs import read_run_folder
    from kexue.train import load_model

    cfg = read_run_folder(run_dir, "kexue lru train").settings(RunConfig)
    _, test, spec = build_task(cfg.task)
    model = build_model(cfg, spec).to(device or "cpu")
    load_model(model, run_dir)
    m = eval_model(model, test, spec, cfg.eval_batch)
    console.print(f"{cfg.task.task} / {cfg.model.model}: test loss {m['loss']:.4f}, test acc {100 * m['acc']:.2f} %")


@app.command()
def scan(
    length: int = typer.Option(4096, help="sequence length L"),
    batch: int = typer.Option(1),
    width: int = typer.Option(256, help="state size N"),
) -> None:
    """Time forward + backward of each scan against the loop, complex64 (benchmarks/lru.py does more)."""
    from kexue.lru.measure import scan_speed

    if min(length, batch, width) < 1:
        raise ValueError("--length, --batch and --width must be positive")
    r = scan_speed(length, batch, width)
    t = Table(title=f"fwd+bwd, L = {length}, batch {batch}, N = {width}")
    for col in ("scan", "ms", "× loop"):
        t.add_column(col, justify="right")
    for m in ("sequential", "parallel", "chunked"):
        t.add_row(m, f"{r[f'{m}_ms']:.1f}", f"{r['sequential_ms'] / r[f'{m}_ms']:.1f}")
    console.print(t)


C.adopt(app)
