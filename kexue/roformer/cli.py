"""`kexue roformer params|pretrain|finetune|fill-mask|import`: post 8998 from the command line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from kexue.config import override

app = typer.Typer(no_args_is_help=True, help="Post 8998: RoFormerV2 — the encoder, MLM pretraining, fine-tuning.")
console = Console()


@app.command()
def params(as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table")) -> None:
    """Parameter counts of the released sizes (tied MLM head) and of their bert variants."""
    from kexue.roformer.reproduce import param_table
    rows = param_table()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    t = Table(title="RoFormerV2 parameters, vocab 12000 (kexue.fm/archives/8998)")
    for col in ("size", "L", "H", "heads", "FFN", "RoFormerV2", "bert variant", "post"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(r["size"], str(r["L"]), str(r["H"]), str(r["heads"]), str(r["FFN"]), f"{r['params']:,}",
                  f"{r['bert_params']:,}", r["post"])
    console.print(t)


@app.command()
def pretrain(
    corpus: Optional[Path] = typer.Option(None, help="a .txt file (one text a line) or a folder of them; "
                                                     "default: People's Daily 1998"),
    size: str = typer.Option("base", help="small, base or large"),
    variant: str = typer.Option("roformer_v2", help="roformer_v2 or bert (the un-simplified baseline)"),
    tokenizer: str = typer.Option("char", help="char or wordpiece"),
    vocab: Optional[Path] = typer.Option(None, help="a vocab.txt to use instead of building one"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="override a setting, e.g. --set train.steps=1000"),
    out: Path = typer.Option(Path("runs/roformer-pretrain")),
    resume: bool = typer.Option(False, help="continue from the last checkpoint in --out"),
) -> None:
    """Whole-word MLM pretraining from scratch (the post's base recipe by default)."""
    from dataclasses import replace

    from kexue.roformer.config import bert_variant
    from kexue.roformer.pretrain import PretrainConfig, pretrain as run
    model = _size(size)
    if variant not in ("roformer_v2", "bert"):
        raise typer.BadParameter(f"--variant {variant!r}: choose roformer_v2 or bert")
    model = bert_variant(model) if variant == "bert" else model
    if tokenizer not in ("char", "wordpiece"):
        raise typer.BadParameter(f"--tokenizer {tokenizer!r}: choose char or wordpiece")
    cfg = replace(PretrainConfig(), model=model, corpus=str(corpus) if corpus else None, tokenizer=tokenizer,
                  vocab=str(vocab) if vocab else None)
    cfg = _override(cfg, set_)
    summary = _run(lambda: run(cfg, out, progress=True, resume=resume))
    _summary("pretraining", summary)


@app.command()
def finetune(
    task: str = typer.Option("classify", help="classify (the only task)"),
    train: Optional[Path] = typer.Option(None, help="CLUE-style JSONL; default: the review sentiment set"),
    dev: Optional[Path] = typer.Option(None, help="CLUE-style JSONL for accuracy"),
    pretrained: Optional[Path] = typer.Option(None, help="a kexue roformer folder (pretrain or import output)"),
    size: str = typer.Option("small", help="size of a new model when --pretrained is not given"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="override a setting, e.g. --set train.lr=1e-4"),
    out: Path = typer.Option(Path("runs/roformer-finetune")),
    resume: bool = typer.Option(False),
) -> None:
    """Fine-tune [CLS] + linear for classification; prints dev accuracy."""
    from kexue.roformer.finetune import FinetuneConfig, finetune as run
    if task != "classify":
        raise typer.BadParameter(f"--task {task!r}: only 'classify' is implemented")
    cfg = FinetuneConfig(pretrained=str(pretrained) if pretrained else None, model=_size(size),
                         train_file=str(train) if train else None, dev_file=str(dev) if dev else None)
    cfg = _override(cfg, set_)
    summary = _run(lambda: run(cfg, out, progress=True, resume=resume))
    _summary("fine-tuning", summary)


@app.command("fill-mask")
def fill_mask_cmd(
    text: str = typer.Argument(..., help='text with [MASK] tokens, e.g. "今天[MASK]很好"'),
    model: Path = typer.Option(..., "--model", "-m", help="a kexue roformer folder"),
    top_k: int = typer.Option(5),
) -> None:
    """The most probable tokens at each [MASK]."""
    from kexue.roformer.fill_mask import fill_mask
    try:
        result = fill_mask(model, text, top_k)
    except (ValueError, FileNotFoundError) as e:
        raise typer.BadParameter(str(e)) from None
    for k, cands in enumerate(result, 1):
        console.print(f"[MASK] {k}: " + "  ".join(f"{tok} {p:.3f}" for tok, p in cands))


@app.command("import")
def import_cmd(
    path: Path = typer.Argument(..., help="an HF-format RoFormerV2 folder (JunnYu's roformer package)"),
    out: Path = typer.Option(Path("runs/roformer-imported"), help="the kexue folder to write"),
) -> None:
    """Convert a JunnYu `roformer` RoFormerV2 checkpoint, strictly, into a kexue checkpoint."""
    from kexue.roformer.checkpoint import import_hf, read_config
    try:
        folder = import_hf(path, out)
    except (ValueError, FileNotFoundError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None
    cfg, _ = read_config(folder)
    console.print(f"imported {cfg.num_layers} layers, hidden {cfg.hidden_size}, vocab {cfg.vocab_size} → {folder}")


def _size(size: str):
    from kexue.roformer.config import SIZES, preset
    if size not in SIZES:
        raise typer.BadParameter(f"--size {size!r}: choose one of {', '.join(SIZES)}")
    return preset(size)


def _override(cfg, sets):
    try:
        return override(cfg, sets)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def _run(fn):
    """Run a training; a bad setting or input file is one red line and exit status 1, not a traceback."""
    try:
        return fn()
    except (ValueError, FileNotFoundError, ImportError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None


def _summary(what: str, summary: dict) -> None:
    if summary.get("rank"):  # under torchrun only rank 0 reports
        return
    t = Table(title=f"{what} summary")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in summary.items():
        if k != "metrics" and v is not None:
            t.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
    console.print(t)
