"""`kexue gplinker ner|events|relations train|evaluate|predict`, `kexue gplinker serve` and `reproduce`.

Posts 8926 (events), 8888 (relations), 8373 (NER). Without --train, ner trains on MSRA and events /
relations on generated DuEE / DuIE-format data (--generate N sentences), so every command runs
offline. The commands parse and call: what a run trains on, its resume and its data are
kexue/gplinker/run_folder.py's; the options every training command shares and the errors (one line,
exit 2 for a user's mistake) are kexue/cli_common.py's.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from kexue import cli_common as C
from kexue.console import results_console

# what `kexue gplinker --help` says of the data (also in the README)
FORMATS = """\b
Data (JSONL, one object a line; kexue/gplinker/fixtures/ has a sample of each):
  ner        {"text": "马云在杭州", "entities": [[0, 2, "PER"], [3, 5, "LOC"]]}
             [start, end_exclusive, type], offsets in characters
  events     DuEE 1.0: {"text", "event_list": [{"event_type", "trigger", "trigger_start_index",
             "arguments": [{"role", "argument", "argument_start_index"}]}]}
             with --schema duee_event_schema.json (fixtures: duee_sample.json, duee_event_schema.json)
  relations  DuIE 2.0: {"text", "spo_list": [{"subject", "subject_type", "predicate", "object",
             "object_type"}]} with --schema (fixtures: duie_sample.json, duie_schema.json)
Without --train: ner trains on MSRA, events/relations on generated DuEE/DuIE-format sentences.

\b
Example:
  kexue gplinker events train --train kexue/gplinker/fixtures/duee_sample.json --preset quick --out runs/ee
  kexue gplinker events predict --model runs/ee --input texts.txt --output pred.jsonl"""

app = typer.Typer(no_args_is_help=True, help="GPLinker (posts 8926, 8888) on GlobalPointer (8373, 8877).\n\n"
                  + FORMATS)
console = results_console()
err = Console(stderr=True)  # what must not mix with --json on stdout
TASKS = ("ner", "events", "relations")
DEVICE_HELP = "cpu, cuda, cuda:1 ... (default: cuda when there is one, as train)"
LAST_HELP = "use the last step's weights (model.safetensors), not the best dev ones (best.safetensors)"


def _read(task: str, path: Path, schema_path: Optional[Path], skip_bad: bool):
    """(samples, labels) of a file for `task`, its problems reported as one warning line on stderr."""
    from kexue.gplinker.data import Problems
    from kexue.gplinker.tasks import get_task
    problems = Problems()
    rows, labels = get_task(task).read(path, schema_path, skip_bad, problems)
    if problems.summary(path):
        C.warn(problems.summary(path))
    return rows, labels


def _rate(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _metrics_table(title: str, m: dict) -> Table:
    """One row per metric group: P, R, F1 and the counts behind them (predicted, gold, correct); a rate
    with nothing behind it (nothing predicted, or no gold) is "n/a"."""
    from kexue.gplinker.caps import cap_line
    t = Table(title=title, caption=cap_line(m) or None)
    m = {k: v for k, v in m.items() if not k.startswith("decode/")}  # stated in the caption
    for col in ("metric", "precision", "recall", "f1", "predicted", "gold", "correct"):
        t.add_column(col, justify="left" if col == "metric" else "right")
    groups = dict.fromkeys(k.rsplit("/", 1)[0] for k in m if "/" in k)
    for g in groups:
        rates = [_rate(m.get(f"{g}/{c}")) if f"{g}/{c}" in m else "" for c in ("precision", "recall", "f1")]
        # the counts are whole numbers, also when they went through the Trainer's float metrics
        counts = [str(round(m[f"{g}/{c}"])) if f"{g}/{c}" in m else "" for c in ("predicted", "gold", "correct")]
        t.add_row(g, *rates, *counts)
    for k, v in m.items():
        if "/" not in k:
            t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    return t


def _task_app(task: str) -> typer.Typer:
    sub = typer.Typer(no_args_is_help=True, help=f"GPLinker {task}: train, evaluate, predict.\n\n" + FORMATS)
    sub.command("train")(_train_command(task))
    sub.command("evaluate")(_evaluate_command(task))
    sub.command("predict")(_predict_command(task))
    return sub


def _train_command(task: str):
    """`kexue gplinker TASK train` for one task."""

    @C.train_options(f"gplinker-{task}", "train.steps=500")
    def train(
        train_file: Optional[Path] = typer.Option(None, "--train", help="training JSONL (ner: also BIO tokens + "
                                                  "ner_tags, a datasets save_to_disk folder, parquet or Arrow; "
                                                  "default: built-in data)"),
        dev_file: Optional[Path] = typer.Option(None, "--dev", help="dev file (with --train), evaluated every epoch "
                                                "(--set eval_every=N steps) to keep the best weights (--set "
                                                "keep_best=false: the last)"),
        schema: Optional[Path] = typer.Option(None, "--schema", help="duee_event_schema.json / DuIE schema (with "
                                              "--train); ner: the names of ner_tags ids, one a line"),
        preset: Optional[str] = typer.Option(None, help="a named from-scratch recipe (kexue/gplinker/recipes.py): "
                                             "ner msra, events/relations generated (the defaults on the built-in "
                                             "data: epochs to a plateau, best dev weights, early stopping), or quick "
                                             "(300 steps; the default with --train)"),
        recipe: Optional[str] = C.alias("--recipe", "--preset"),
        generate: Optional[int] = typer.Option(None, help="training sentences of built-in data when --train is not "
                                               "given (default: the recipe's)"),
        encoder: Optional[Path] = typer.Option(None, help="a pretrained encoder: a kexue roformer folder or a local "
                                                     "HF checkpoint folder (config.json, weights, vocab.txt); "
                                                     "switches to the post's fine-tuning recipe"),
        skip_bad: bool = typer.Option(False, help="skip (and count) bad lines instead of stopping"),
        *, opts: C.RunOptions,
    ) -> None:
        """Train GPLinker (from scratch, or on --encoder's checkpoint); writes model.safetensors, vocab.txt,
        config.json (task, labels, settings and the data it was trained on) and metrics.jsonl to --out, and
        with dev data best.safetensors + best.json (the best dev evaluation's weights). A --resume needs no
        data options: the run's own are used."""
        from kexue.gplinker.linker import GPLinkerConfig
        from kexue.gplinker.run_folder import (SECTION, TrainingInputs, load_training_data, plan_line, preset_of,
                                               resumed_inputs)
        from kexue.gplinker.train import build_linker
        from kexue.train.checkpoint import has_checkpoint

        recipe = C.either(preset, recipe, "--preset", "--recipe")
        inputs = TrainingInputs(train_file, dev_file, schema, generate, recipe, encoder)
        if opts.out is not None and (opts.resume or opts.auto_resume) and has_checkpoint(opts.out):
            inputs = resumed_inputs(opts.out, inputs)  # the run's own data and recipe
        d = load_training_data(task, inputs, skip_bad, resume=opts.resume or opts.auto_resume)
        for line in d.problems:
            C.warn(line)
        cfg, run = C.start_run(opts, f"kexue gplinker {task} train", f"gplinker-{task}", preset_of(task, d, encoder),
                               GPLinkerConfig, options={"encoder": str(encoder) if encoder else None}, section=SECTION)
        g, how = build_linker(cfg, d.labels, d.texts, run.out, resume=run.resume, encoder=encoder,
                              train_texts=[r.text for r in d.rows])
        if how != "resume":
            C.say(plan_line(task, cfg, d, encoder))
        g.data = d.data if how != "resume" else (g.data or d.data)
        cut = g.cut_record(d.rows)  # the posts drop these silently; config.json records the count (fit)
        if cut["labels"] and C.is_main():
            C.warn(f"{cut['labels']} labels in {cut['sentences']} sentences end past max_len={cut['max_len']}; they "
                   "are not trained: raise --set max_len or split the texts")
        summary = g.fit(d.rows, d.dev, run.out, progress=opts.progress, resume=run.resume)
        if not C.is_main():
            return
        _print_summary(task, g, summary, d.dev, run.out)

    return train


def _evaluate_command(task: str):
    """`kexue gplinker TASK evaluate` for one task."""

    def evaluate(
        model: Path = typer.Option(..., help="a run folder from train"),
        data: Optional[Path] = typer.Option(None, help="JSONL with gold labels (default: the run's own dev data)"),
        split: str = typer.Option("dev", help="without --data: dev (the run's own dev data) or test (the built-in "
                                  "test set of the data it was trained on: MSRA test, held-out templates)"),
        schema: Optional[Path] = typer.Option(None, "--schema", help="default: the run's schema"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
        last: bool = typer.Option(False, "--last", help=LAST_HELP),
        device: Optional[str] = typer.Option(None, help=DEVICE_HELP),
    ) -> None:
        """The post's metrics on labelled data, each named (event_level/*, argument_level/*, spo/*, entity/*),
        with their counts."""
        from kexue.gplinker.extractor import resolve_device
        from kexue.gplinker.run_folder import dev_of_run, linker_run_for, test_of_run
        from kexue.gplinker.tasks import get_task
        from kexue.gplinker.train import load_run
        run = linker_run_for(model, task, "evaluate")
        where = resolve_device(device)
        schema = schema or (Path(run.data["schema"]) if run.data.get("schema") else None)
        if split not in ("dev", "test") or (data and split != "dev"):
            raise ValueError(f"--split {split}: choose dev or test, and only without --data")
        rows = (_read(task, data, schema, False)[0] if data else dev_of_run(model, run) if split == "dev"
                else test_of_run(model, run))
        get_task(task).check_labelled(rows, data or f"the run's {split} data")  # another task's file: refused
        g = load_run(model, device=str(where), last=last)
        m = g.evaluate(rows)
        if as_json:
            err.print(f"weights: {g.weights}")
            print(json.dumps(m, indent=1))
        else:
            console.print(f"weights: {g.weights}")
            console.print(_metrics_table(f"{task}: {len(rows)} sentences", m))

    return evaluate


def _predict_command(task: str):
    """`kexue gplinker TASK predict` for one task."""

    def predict(
        model: Path = typer.Option(..., help="a run folder from train"),
        input: Path = typer.Option(..., "--input", help="JSONL with a 'text' field, or plain text lines; - for stdin"),
        output: Path = typer.Option(..., "--output", help="DuEE / DuIE-format JSONL to write; - for stdout"),
        last: bool = typer.Option(False, "--last", help=LAST_HELP),
        resume: bool = typer.Option(False, help="continue an interrupted run: keep --output's complete lines and "
                                                "predict the input lines after them"),
        overwrite: bool = typer.Option(False, help="replace an existing --output (refused without it or --resume)"),
        batch_size: int = typer.Option(32, help="texts per forward pass (a window of lines is sorted by length)"),
        device: Optional[str] = typer.Option(None, help=DEVICE_HELP),
    ) -> None:
        """Stream the input (any size, constant memory) to one JSON line per input line, items with scores."""
        import sys
        import time

        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from kexue.gplinker.extractor import Extractor
        from kexue.gplinker.predict import PredictConfig, predict_file
        from kexue.gplinker.run_folder import linker_run_for
        src = sys.stdin.buffer if str(input) == "-" else input
        try:
            linker_run_for(model, task, "predict")  # before --output is touched
            cfg = PredictConfig(batch_size=batch_size)
            if src is input and not input.is_file():
                raise FileNotFoundError(f"--input {input}: no such file")
            ex = Extractor.from_pretrained(model, device=device, last=last, batch_size=batch_size)
            total = input.stat().st_size if src is input else None
            with Progress(TextColumn("predict"), BarColumn(), TextColumn("{task.fields[lines]} lines, "
                          "{task.fields[rate]} lines/s"), TimeElapsedColumn(), console=err) as bar:
                task_id = bar.add_task("predict", total=total, lines=0, rate="-")
                t0 = time.perf_counter()

                def show(lines: int, read: int) -> None:
                    rate = lines / max(time.perf_counter() - t0, 1e-9)
                    bar.update(task_id, completed=read, lines=lines, rate=f"{rate:.1f}")

                sink = sys.stdout if str(output) == "-" else output
                summary = predict_file(ex, src, sink, cfg, resume=resume, progress=show, overwrite=overwrite)
        except (ValueError, TypeError, FileNotFoundError, FileExistsError) as e:
            C.fail(str(e))
        kept = f" after the {summary.kept} kept from before" if summary.kept else ""
        said = err if str(output) == "-" else console  # stdout holds the JSON lines alone: `| jq` reads them all
        said.print(f"wrote {summary.written} lines to {output}{kept} in {summary.seconds:.1f} s "
                      f"({summary.lines_per_s:.1f} lines/s; weights: {ex.weights})")

    return predict


for _task in TASKS:
    app.add_typer(_task_app(_task), name=_task)


@app.command()
def serve(
    model: Optional[Path] = typer.Option(None, help="a run folder from train"),
    onnx: Optional[Path] = typer.Option(None, "--onnx", help="instead of --model: a folder from `kexue gplinker "
                                        "export --format onnx` (served by onnxruntime + numpy, no torch)"),
    host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000),
    max_chars: int = typer.Option(510, help="longest text accepted"),
    last: bool = typer.Option(False, "--last", help="serve the last step's weights, not the best dev ones"),
    device: Optional[str] = typer.Option(None, help=DEVICE_HELP),
    set_: Optional[list[str]] = C.option("sets", example="max_batch=32 --set max_wait_ms=5 --set batching=false "
                                         "--set max_concurrent=64 --set timeout_s=30 --set threads=1"),
    config: Optional[Path] = C.option("config"),
    print_config: bool = C.option("show_config"),
) -> None:
    """POST /extract {"text": ...} or {"texts": [...]} → events / triples / entities with offsets and scores;
    GET /health, /ready, /info; OpenAPI at /docs. Micro-batched, with hard limits (--print-config lists them;
    the options above are the defaults that --config and --set change)."""
    try:
        from kexue.gplinker.serve import ServeConfig, run
    except ImportError as e:
        C.fail(f"{e.msg}; the service needs the serve extra: pip install 'kexue[serve]'")
    cfg = C.settings(ServeConfig(host=host, port=port, max_chars=max_chars), config, set_)
    if print_config:
        C.print_config(cfg)
        raise typer.Exit(0)
    if (model is None) == (onnx is None):
        raise ValueError("give one of --model RUN (a run folder) and --onnx DIR (an exported ONNX folder)")
    if onnx is not None and (last or device is not None):
        raise ValueError("--last and --device choose a run's weights and device; an --onnx folder holds one graph "
                         "and runs on onnxruntime's CPU (export with --last for the last step's weights)")
    if onnx is not None:
        from kexue.gplinker.onnx_runtime import OnnxExtractor
        ex = OnnxExtractor(onnx, batch_size=cfg.max_batch, threads=cfg.threads)
    else:
        from kexue.gplinker.extractor import Extractor
        ex = Extractor.from_pretrained(model, device=device, last=last, batch_size=cfg.max_batch)
    batching = f"on ({cfg.max_batch} texts, {cfg.max_wait_ms:g} ms)" if cfg.batching else "off"
    console.print(f"serving task {ex.task} ({len(ex.labels)} labels, {ex.weights}) on {ex.device} at "
                  f"http://{cfg.host}:{cfg.port}/extract (docs: /docs); micro-batching {batching}; Ctrl-C or "
                  "SIGTERM stops after the requests in flight", soft_wrap=True)
    run(ex, cfg)


@app.command()
def export(
    folders: Optional[list[Path]] = typer.Argument(None, metavar="OUT", help="the folder to write: model.onnx, "
                                                   "gplinker-onnx.json, the tokenizer; the old form RUN OUT works too"),
    model: Optional[Path] = typer.Option(None, "--model", help="a run folder from train"),
    format_: str = typer.Option("onnx", "--format", help="onnx (the one format)"),
    last: bool = typer.Option(False, "--last", help=LAST_HELP),
    dynamo: bool = typer.Option(False, "--dynamo", help="torch.export's ONNX exporter (needs onnxscript) instead of "
                                "the TorchScript one (ten times faster; the same graph within float rounding)"),
) -> None:
    """The run as a variable-length ONNX graph (dynamic batch and length) with its tokenizer, labels and settings,
    so that the folder alone serves (`kexue gplinker serve --onnx OUT`); onnxruntime's logits are checked
    against torch's at three lengths with padding, and the largest difference printed."""
    if format_ != "onnx":
        raise ValueError(f"--format {format_}: GPLinker exports to onnx only")
    run, out = C.run_and_out(model, folders, "kexue gplinker export")
    import onnxruntime  # noqa: F401  (the check below runs the graph: a missing extra is said before any work)
    from kexue.gplinker.onnx_export import MODEL_FILE, check_parity, export_onnx
    from kexue.gplinker.train import load_run
    manifest = export_onnx(run, out, last=last, dynamo=dynamo)
    g = load_run(run, last=last)
    n = manifest["max_len"]
    parity = check_parity(g.model, out / MODEL_FILE, g.tokenizer.vocab_size, g.tokenizer.pad_id,
                          lengths=tuple(sorted({min(8, n), max(n // 3, 2), n})))
    if not parity.same_mask or parity.max_abs > 1e-4:
        C.fail(f"the ONNX graph in {out} does not reproduce torch's logits (max |Δ| {parity.max_abs:.2e}, masks "
               f"{'equal' if parity.same_mask else 'differ'}); report it with kexue --debug", 1)
    console.print(f"wrote {out} ({manifest['task']}, {len(manifest['labels'])} labels, {manifest['weights']}); "
                  f"onnxruntime vs torch at lengths {parity.lengths} with padding: max |Δ| {parity.max_abs:.2e}; "
                  f"serve it with: kexue gplinker serve --onnx {out}", soft_wrap=True)


@app.command()
def reproduce(
    preset: str = typer.Option("quick", help="quick, standard, full or smoke (as `kexue reproduce`)"),
    out: Path = typer.Option(Path("runs/reproduce/gplinker"), help="folder for results.json and the figure"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="override a preset setting, e.g. --set "
                                             "duee_dir=data/DuEE1.0 --set encoder_path=ckpt/roberta-wwm-ext "
                                             "(else $KEXUE_DUEE, $KEXUE_DUIE, $KEXUE_ENCODER)"),
) -> None:
    """GPLinker's claims at a preset; the full preset runs the posts' DuEE / DuIE recipes on the given paths."""
    from kexue.gplinker.reproduce import reproduce as run
    from kexue.result import save_results
    r = run(preset, out, progress=True, sets=set_)
    save_results([r], out / "results.json", {"preset": preset, "sets": set_ or []})
    table = Table(title=f"kexue gplinker reproduce --preset {preset}")
    for col in ("claim", "measured", "verdict"):
        table.add_column(col)
    for c in r.claims:
        table.add_row(c.claim[:60], c.measured, c.verdict)
    console.print(table)
    console.print(f"wrote {out / 'results.json'}")


def _print_summary(task: str, g, summary: dict, dev: Optional[list], out: Path) -> None:
    """The end of `train`: final loss, the weights the model holds, the dev table."""
    loss = f"{summary['final_loss']:.4f}" if summary["final_loss"] is not None else "-"
    console.print(f"final loss {loss} after {summary['steps']} steps"
                  + (f" (early stop: {summary['stopped']})" if summary["stopped"] else ""), soft_wrap=True)
    console.print(f"weights: {g.weights}")
    if dev:
        console.print(_metrics_table(f"{task} dev ({len(dev)} sentences)", summary["dev"]))
    console.print(f"wrote {out}")


C.adopt(app)
