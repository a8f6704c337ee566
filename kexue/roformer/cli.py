"""`kexue roformer params|pretrain|finetune|fill-mask|import|export`: post 8998 from the command line.

`pretrain --preset` picks the recipe: quick (the default; a tiny model on People's Daily that finishes on
a laptop CPU in minutes) and smoke/standard are the roformer reproduce presets' pretraining settings
(kexue/roformer/reproduce.py), `post` is the post's base recipe, a GPU recipe (1M steps at batch 512:
PretrainConfig's defaults in kexue/roformer/pretrain.py), and `msra-encoder` an encoder for GPLinker's MSRA
NER (pretrain.py's `msra_encoder`: People's Daily + MSRA train text, a 30-minute clock cap), so every
recipe value lives in one place.
Errors, run folders, --resume, --config/--print-config, --device/--precision: kexue/cli_common.py.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from kexue import cli_common as C

app = typer.Typer(no_args_is_help=True, help="Post 8998: RoFormerV2 — the encoder, MLM pretraining, fine-tuning.")
console = Console()  # results on stdout; notes and errors on stderr (cli_common)
PRETRAIN_PRESETS = ("smoke", "quick", "standard", "post", "msra-encoder")


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


def pretrain_preset(name: str):
    """The PretrainConfig of a named recipe: `post` is the post's GPU recipe, the others the reproduce
    presets' (see the module doc)."""
    from kexue.roformer.pretrain import PretrainConfig

    if name == "post":
        return PretrainConfig()
    if name == "msra-encoder":  # an encoder for `kexue gplinker ner train --encoder` (pretrain.py)
        from kexue.roformer.pretrain import msra_encoder
        return msra_encoder()
    if name not in PRETRAIN_PRESETS:
        raise ValueError(f"--preset {name!r}: choose one of {', '.join(PRETRAIN_PRESETS)} (post = the post's "
                         "GPU recipe)")
    from kexue.roformer.reproduce import preset as reproduce_preset

    return reproduce_preset(name).pretrain


@app.command()
@C.train_options("roformer-pretrain", "train.steps=1000")
def pretrain(
    preset: str = typer.Option("quick", help="quick (a laptop, minutes) | standard | smoke | post (the post's "
                                             "base recipe: 1M steps at batch 512, for GPUs) | msra-encoder (an "
                                             "encoder for GPLinker NER: People's Daily + MSRA train, 30 min)"),
    corpus: Optional[Path] = typer.Option(None, help="a .txt file (one text a line) or a folder of them; "
                                                     "default: People's Daily 1998"),
    size: Optional[str] = typer.Option(None, help="small, base or large (default: the preset's model)"),
    variant: str = typer.Option("roformer_v2", help="roformer_v2 or bert (the un-simplified baseline)"),
    tokenizer: str = typer.Option("char", help="char or wordpiece"),
    vocab: Optional[Path] = typer.Option(None, help="a vocab.txt to use instead of building one"),
    *, opts: C.RunOptions,
) -> None:
    """Whole-word MLM pretraining from scratch (a laptop-sized recipe by default; --preset post is the post's)."""
    from dataclasses import replace

    from kexue.roformer.config import bert_variant
    from kexue.roformer.pretrain import PretrainConfig, pretrain as run

    base = pretrain_preset(preset)
    model = _size(size) if size is not None else base.model
    if variant not in ("roformer_v2", "bert"):
        raise ValueError(f"--variant {variant!r}: choose roformer_v2 or bert")
    model = bert_variant(model) if variant == "bert" else model
    if tokenizer not in ("char", "wordpiece"):
        raise ValueError(f"--tokenizer {tokenizer!r}: choose char or wordpiece")
    cfg = replace(base, model=model, corpus=str(corpus) if corpus else base.corpus, tokenizer=tokenizer,
                  vocab=str(vocab) if vocab else None)
    cfg, folder = C.start_run(
        opts, "kexue roformer pretrain", "roformer-pretrain", cfg, PretrainConfig,
        options={"preset": preset, "corpus": str(corpus) if corpus else None, "size": size, "variant": variant,
                 "tokenizer": tokenizer, "vocab": str(vocab) if vocab else None},
        may_change=("max_minutes",))  # the clock cap: a resume may train for longer
    summary = run(cfg, folder.out, progress=opts.progress, resume=folder.resume)
    _summary("pretraining", summary)


@app.command()
@C.train_options("roformer-finetune", "train.lr=1e-4")
def finetune(
    task: str = typer.Option("classify", help="classify (the only task)"),
    train: Optional[Path] = typer.Option(None, help="CLUE-style JSONL; default: the review sentiment set"),
    dev: Optional[Path] = typer.Option(None, help="CLUE-style JSONL for accuracy"),
    pretrained: Optional[Path] = typer.Option(None, help="a kexue roformer folder (pretrain or import output)"),
    size: str = typer.Option("small", help="size of a new model when --pretrained is not given"),
    *, opts: C.RunOptions,
) -> None:
    """Fine-tune [CLS] + linear for classification; prints dev accuracy."""
    from kexue.roformer.finetune import FinetuneConfig, finetune as run
    if task != "classify":
        raise ValueError(f"--task {task!r}: only 'classify' is implemented")
    if pretrained is not None and not (pretrained / "config.json").is_file():
        raise FileNotFoundError(f"--pretrained {pretrained}: no config.json; give a folder of `kexue roformer "
                                "pretrain` or `kexue roformer import`")
    cfg = FinetuneConfig(pretrained=str(pretrained) if pretrained else None, model=_size(size),
                         train_file=str(train) if train else None, dev_file=str(dev) if dev else None)
    cfg, folder = C.start_run(
        opts, "kexue roformer finetune", "roformer-finetune", cfg, FinetuneConfig,
        options={"task": task, "pretrained": cfg.pretrained, "size": size, "train": cfg.train_file,
                 "dev": cfg.dev_file}, section="finetune")  # its run_config: {"finetune": ..., "labels": ...}
    summary = run(cfg, folder.out, progress=opts.progress, resume=folder.resume)
    _summary("fine-tuning", summary)


@app.command("fill-mask")
def fill_mask_cmd(
    text: str = typer.Argument(..., help='text with [MASK] tokens, e.g. "今天[MASK]很好"'),
    model: Path = typer.Option(..., "--model", "-m", help="a kexue roformer folder"),
    top_k: int = typer.Option(5),
) -> None:
    """The most probable tokens at each [MASK]."""
    from kexue.roformer.fill_mask import fill_mask
    result = fill_mask(model, text, top_k)
    for k, cands in enumerate(result, 1):
        typer.echo(f"[MASK] {k}: " + "  ".join(f"{tok} {p:.3f}" for tok, p in cands))


@app.command("import")
def import_cmd(
    path: Path = typer.Argument(..., help="an HF-format RoFormerV2 folder (JunnYu's roformer package)"),
    out: Path = typer.Option(Path("runs/roformer-imported"), help="the kexue folder to write"),
) -> None:
    """Convert a JunnYu `roformer` RoFormerV2 checkpoint, strictly, into a kexue checkpoint."""
    from kexue.roformer.checkpoint import import_hf, read_config
    folder = import_hf(path, out)
    cfg, _ = read_config(folder)
    typer.echo(f"imported {cfg.num_layers} layers, hidden {cfg.hidden_size}, vocab {cfg.vocab_size} → {folder}")


@app.command("export")
def export_cmd(
    path: Path = typer.Argument(..., help="the HF-format folder to write"),
    model: Path = typer.Option(..., "--model", "-m", help="a kexue roformer folder (pretrain or import output)"),
    fmt: str = typer.Option("hf", "--format", help="hf: JunnYu's roformer / transformers RoFormerForMaskedLM"),
    max_positions: int = typer.Option(512, help="max_position_embeddings of the HF config (RoPE's table)"),
    ema: bool = typer.Option(False, help="export the EMA weights (ema.safetensors)"),
    overwrite: bool = typer.Option(False, help="replace files already in PATH"),
) -> None:
    """Write a kexue RoFormerV2 in the Hugging Face format (the inverse of `import`)."""
    from kexue.roformer.checkpoint import export_hf, read_config
    if fmt != "hf":
        raise ValueError(f"--format {fmt!r}: only hf is supported")
    read_config(model)  # a bad --model in one line, before PATH is touched
    if path.exists() and (not path.is_dir() or (any(path.iterdir()) and not overwrite)):
        raise ValueError(f"{path}: {'is a file' if not path.is_dir() else 'is not empty'}; give a new folder"
                         f"{'' if not path.is_dir() else ' or pass --overwrite'}")
    folder = export_hf(model, path, max_positions, ema=ema)
    typer.echo(f"exported {model} → {folder} (transformers: AutoModelForMaskedLM.from_pretrained(DIR, trust_remote_code=True); JunnYu's roformer: RoFormerForMaskedLM.from_pretrained(DIR))")


def _size(size: str):
    from kexue.roformer.config import SIZES, preset
    if size not in SIZES:
        raise ValueError(f"--size {size!r}: choose one of {', '.join(SIZES)}")
    return preset(size)


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


C.adopt(app)
