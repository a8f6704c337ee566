"""`kexue gplinker ner|events|relations train|evaluate|predict`, `kexue gplinker serve` and `reproduce`.

Posts 8926 (events), 8888 (relations), 8373 (NER). Without --train, ner trains on MSRA and events /
relations on generated DuEE / DuIE-format data (--generate N sentences), so every command runs
offline. Bad input ends in one line naming file, line and field (exit code 2), never a traceback.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from kexue.cli_common import fail, option, rank_zero_first, settings, warn
from kexue.cli_common import print_config as show_settings
from kexue.config import override

app = typer.Typer(no_args_is_help=True, help="GPLinker (posts 8926, 8888) on GlobalPointer (8373, 8877).")
console = Console()
err = Console(stderr=True)  # what must not mix with --json on stdout
TASKS = ("ner", "events", "relations")
DEVICE_HELP = "cpu, cuda, cuda:1 ... (default: cuda when there is one, as train)"
LAST_HELP = "use the last step's weights (model.safetensors), not the best dev ones (best.safetensors)"


def _fail(e: Exception) -> None:
    """One plain line on stderr, exit 2 (a user's mistake), no traceback (kexue/cli_common.py)."""
    fail(str(e))


def _read(task: str, path: Path, schema_path: Optional[Path], skip_bad: bool):
    """(samples, labels) of a file for `task`, its problems reported as one warning line on stderr."""
    from kexue.gplinker.data import Problems
    from kexue.gplinker.tasks import get_task
    problems = Problems()
    rows, labels = get_task(task).read(path, schema_path, skip_bad, problems)
    if problems.summary(path):
        warn(problems.summary(path))
    return rows, labels


def _run_for(task: str, model: Path, verb: str) -> dict:
    """The run folder's gplinker.json, checked to be a `task` run before anything is read or written; another
    task's run is one line naming the command that takes it."""
    from kexue.gplinker.train import run_meta
    meta = run_meta(model)
    if meta["task"] != task:
        article = "an" if meta["task"] in ("events", "ner") else "a"
        raise ValueError(f"{model} is {article} {meta['task']} run; use `kexue gplinker {meta['task']} {verb}`")
    return meta


def _dev_of_run(task: str, model: Path, meta: dict):
    """The labelled data a run is evaluated on without --data: its own dev file, or the built-in dev set it
    was trained beside; else an error saying --data is needed."""
    from kexue.gplinker.recipes import get_recipe, recipe_data
    dev = meta["data"].get("dev")
    if dev in ("generated", "msra"):  # the dev set of the recipe it was trained with (older runs: quick)
        recipe = meta["config"].get("recipe") or "quick"  # "fine-tune" (--encoder) read the default recipe's data
        chosen = get_recipe(task, None if recipe == "fine-tune" else recipe)
        return recipe_data(task, chosen, int(meta["data"].get("n", 1000)))[1]
    if not dev:
        raise ValueError(f"{model} was trained without a dev file; give --data FILE to evaluate it")
    return _read(task, Path(dev), Path(meta["data"]["schema"]) if meta["data"].get("schema") else None, False)[0]


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


def _train_settings(task: str, chosen, rows: list, dev: Optional[list], encoder: Optional[Path],
                    config: Optional[Path], sets: Optional[list[str]]):
    """(settings, the line that names them): the recipe `chosen` (or with --encoder the post's fine-tuning,
    whose steps count the training rows), then --config, then --set."""
    from kexue.gplinker.recipes import apply_recipe, describe
    from kexue.gplinker.train import GPLinkerConfig, fine_tune_recipe
    if encoder is not None and not chosen.pretrained:
        cfg, line = fine_tune_recipe(GPLinkerConfig(task=task), len(rows))
        return settings(replace(cfg, recipe="fine-tune"), config, sets), line
    cfg = settings(apply_recipe(GPLinkerConfig(task=task), chosen, len(rows)), config, sets)
    return cfg, describe(task, cfg, len(rows), len(dev or []), encoder)


def _run_data(out: Path, train_file: Optional[Path], dev_file: Optional[Path], schema: Optional[Path],
              generate: int) -> tuple[Optional[Path], Optional[Path], Optional[Path], int]:
    """On --resume: (--train, --dev, --schema, --generate) of the run in `out` as its gplinker.json records them;
    data given on the command line must be the run's own (else one line saying what the run was trained on).
    Without a run in `out` (nothing to resume yet) the command line's, unchanged."""
    from kexue.gplinker.train import RUN_FILE, run_meta
    if not (out / RUN_FILE).is_file():
        return train_file, dev_file, schema, generate
    data = run_meta(out)["data"]
    builtin = data.get("train") in ("generated", "msra")
    recorded = {"--train": None if builtin else data.get("train") or None,
                "--dev": None if builtin else data.get("dev") or None, "--schema": data.get("schema") or None}
    for flag, path in (("--train", train_file), ("--dev", dev_file), ("--schema", schema)):
        if path is not None and str(path.resolve()) != recorded[flag]:
            raise ValueError(f"{flag} {path}: the run in {out} was trained with {flag} {recorded[flag]} "
                             f"({'the built-in data' if builtin else 'its own files'}); drop {flag} to resume on the "
                             "run's own data")
    n = int(data.get("n", generate or 0)) if builtin else generate
    if builtin and generate is not None and generate != n:
        raise ValueError(f"--generate {generate}: the run in {out} was trained on {n} built-in sentences; drop "
                         "--generate to resume on them")
    return (*(Path(recorded[f]) if recorded[f] else None for f in ("--train", "--dev", "--schema")), n)


def _run_recipe(out: Path, recipe: Optional[str]) -> Optional[str]:
    """On --resume: the recipe the run in `out` was trained with (its data depends on it); a different
    --recipe is one line. Without a run in `out` yet, --recipe as given."""
    from kexue.gplinker.train import RUN_FILE, run_meta
    if not (out / RUN_FILE).is_file():
        return recipe
    recorded = run_meta(out)["config"].get("recipe")
    if recorded in (None, "fine-tune"):
        return recipe
    if recipe is not None and recipe != recorded:
        raise ValueError(f"--recipe {recipe}: the run in {out} was trained with --recipe {recorded}; drop --recipe "
                         "to resume it")
    return recorded


def _task_app(task: str) -> typer.Typer:
    sub = typer.Typer(no_args_is_help=True, help=f"GPLinker {task}: train, evaluate, predict.")

    @sub.command()
    def train(
        train_file: Optional[Path] = typer.Option(None, "--train", help="training JSONL (ner: also BIO tokens + "
                                                  "ner_tags, a datasets save_to_disk folder, parquet or Arrow; "
                                                  "default: built-in data)"),
        dev_file: Optional[Path] = typer.Option(None, "--dev", help="dev file (with --train), evaluated every epoch "
                                                "(--set eval_every=N steps) to keep the best weights (--set "
                                                "keep_best=false: the last)"),
        schema: Optional[Path] = typer.Option(None, "--schema", help="duee_event_schema.json / DuIE schema (with "
                                              "--train); ner: the names of ner_tags ids, one a line"),
        out: Path = typer.Option(Path(f"runs/gplinker-{task}"), help="run folder"),
        recipe: Optional[str] = typer.Option(None, help="a named from-scratch recipe (kexue/gplinker/recipes.py): "
                                             "ner msra, events/relations generated (the defaults on the built-in "
                                             "data: epochs to a plateau, best dev weights, early stopping), or quick "
                                             "(300 steps; the default with --train)"),
        generate: Optional[int] = typer.Option(None, help="training sentences of built-in data when --train is not "
                                               "given (default: the recipe's)"),
        encoder: Optional[Path] = typer.Option(None, help="a pretrained encoder: a kexue roformer folder or a local "
                                                     "HF checkpoint folder (config.json, weights, vocab.txt); "
                                                     "switches to the post's fine-tuning recipe"),
        set_: Optional[list[str]] = typer.Option(None, "--set", help="override a setting, e.g. --set train.steps=500"),
        skip_bad: bool = typer.Option(False, help="skip (and count) bad lines instead of stopping"),
        resume: bool = typer.Option(False, help="continue the run in --out from its last checkpoint, rebuilt from "
                                                "its gplinker.json and vocab.txt (--encoder not needed)"),
        device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: cuda when there is one)"),
        overwrite: bool = typer.Option(False, help="replace the kexue run already in --out (else a non-empty "
                                                   "--out is refused)"),
        config: Optional[Path] = option("config"),
        print_config: bool = option("show_config"),
    ) -> None:
        """Train GPLinker (from scratch, or on --encoder's checkpoint); writes model.safetensors, vocab.txt,
        gplinker.json (task, labels, settings and the data it was trained on) and metrics.jsonl to --out, and
        with dev data best.safetensors + best.json (the best dev evaluation's weights)."""
        from kexue.gplinker.recipes import check_encoder, get_recipe, recipe_data, vocab_texts
        from kexue.gplinker.tasks import get_task
        from kexue.gplinker.train import start_run
        from kexue.runs import open_run, record_session
        try:
            if resume and config is not None:
                raise ValueError(f"--config {config} with --resume: a resume trains with the run's own settings "
                                 f"({out}/gplinker.json); drop --config")
            # refuse another command's folder, a non-empty one without --resume/--overwrite, before any work
            # under torchrun rank 0 alone looks at (and for --overwrite clears) the folder; the others wait
            run = None if print_config else rank_zero_first(lambda: open_run(
                out, f"kexue gplinker {task} train", resume=resume, overwrite=overwrite,
                options={"encoder": str(encoder) if encoder else None}), device or "auto")
            if resume:  # the run's own data and recipe, as recorded in its gplinker.json
                train_file, dev_file, schema, generate = _run_data(out, train_file, dev_file, schema, generate)
                recipe = _run_recipe(out, recipe)
            if train_file is None and (dev_file is not None or schema is not None):
                raise ValueError(f"{'--dev' if dev_file is not None else '--schema'} is given without --train; "
                                 "give --train FILE too (without --train the built-in data is used)")
            # no options: the task's recipe to a plateau; a --train file keeps the short run unless --recipe says
            chosen = get_recipe(task, recipe or ("quick" if train_file is not None else None))
            check_encoder(chosen, recipe, encoder, resume)
            if train_file is None:
                rows, dev, labels, data = recipe_data(task, chosen, generate)
            else:
                rows, labels = _read(task, train_file, schema, skip_bad)
                get_task(task).check_labelled(rows, train_file)
                dev = _read(task, dev_file, schema, False)[0] if dev_file else None  # dev is never filtered
                data = {"train": str(train_file.resolve()), "dev": str(dev_file.resolve()) if dev_file else "",
                        "schema": str(schema.resolve()) if schema else ""}
            cfg, line = _train_settings(task, chosen, rows, dev, encoder, config, set_)
            if print_config:  # the settings this command would train with, then exit: nothing is written
                show_settings(cfg)
                raise typer.Exit(0)
            texts = vocab_texts(task, chosen, rows, dev) if train_file is None else [r.text for r in rows]
            g, how = start_run(cfg, labels, texts, out, resume=resume, encoder=encoder, sets=set_)
            run.sets = list(set_ or [])
            record_session(run)
            console.print(line if how != "resume" else f"resuming {out} with its own settings", soft_wrap=True)
            g.data = data if how != "resume" else (g.data or data)
            summary = g.fit(rows, dev, out, progress=True, resume=resume, device=device)
        except (ValueError, TypeError, FileNotFoundError) as e:
            _fail(e)
        loss = f"{summary['final_loss']:.4f}" if summary["final_loss"] is not None else "-"
        console.print(f"final loss {loss} after {summary['steps']} steps"
                      + (f" (early stop: {summary['stopped']})" if summary["stopped"] else ""), soft_wrap=True)
        console.print(f"weights: {g.weights}")
        if dev:
            console.print(_metrics_table(f"{task} dev ({len(dev)} sentences)", summary["dev"]))
        console.print(f"wrote {out}")

    @sub.command()
    def evaluate(
        model: Path = typer.Option(..., help="a run folder from train"),
        data: Optional[Path] = typer.Option(None, help="JSONL with gold labels (default: the run's own dev data)"),
        schema: Optional[Path] = typer.Option(None, "--schema", help="default: the run's schema"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
        last: bool = typer.Option(False, "--last", help=LAST_HELP),
        device: Optional[str] = typer.Option(None, help=DEVICE_HELP),
    ) -> None:
        """The post's metrics on labelled data, each named (event_level/*, argument_level/*, spo/*, entity/*),
        with their counts."""
        from kexue.gplinker.extractor import resolve_device
        from kexue.gplinker.tasks import get_task
        from kexue.gplinker.train import load_run
        try:
            meta = _run_for(task, model, "evaluate")
            where = resolve_device(device)
            schema = schema or (Path(meta["data"]["schema"]) if meta["data"].get("schema") else None)
            rows = _read(task, data, schema, False)[0] if data else _dev_of_run(task, model, meta)
            get_task(task).check_labelled(rows, data or "the run's dev data")  # another task's file: refused
            g = load_run(model, device=str(where), last=last)
            m = g.evaluate(rows)
        except (ValueError, TypeError, FileNotFoundError) as e:
            _fail(e)
        if as_json:
            err.print(f"weights: {g.weights}")
            print(json.dumps(m, indent=1))
        else:
            console.print(f"weights: {g.weights}")
            console.print(_metrics_table(f"{task}: {len(rows)} sentences", m))

    @sub.command()
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
        src = sys.stdin.buffer if str(input) == "-" else input
        try:
            _run_for(task, model, "predict")  # before --output is touched
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
            _fail(e)
        kept = f" after the {summary.kept} kept from before" if summary.kept else ""
        console.print(f"wrote {summary.written} lines to {output}{kept} in {summary.seconds:.1f} s "
                      f"({summary.lines_per_s:.1f} lines/s; weights: {ex.weights})")

    return sub


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
    set_: Optional[list[str]] = typer.Option(None, "--set", help="a service setting, e.g. --set max_batch=32 "
                                             "--set max_wait_ms=5 --set batching=false --set max_concurrent=64 "
                                             "--set timeout_s=30 --set idle_timeout_s=5 --set max_body=1048576 "
                                             "--set threads=1"),
) -> None:
    """POST /extract {"text": ...} or {"texts": [...]} → events / triples / entities with offsets and scores;
    GET /health, /ready, /info; OpenAPI at /docs. Micro-batched, with hard limits (see --set)."""
    if (model is None) == (onnx is None):
        _fail(ValueError("give one of --model RUN (a run folder) and --onnx DIR (an exported ONNX folder)"))
    if onnx is not None and (last or device is not None):
        _fail(ValueError("--last and --device choose a run's weights and device; an --onnx folder holds one graph "
                         "and runs on onnxruntime's CPU (export with --last for the last step's weights)"))
    try:
        from kexue.gplinker.serve import ServeConfig, run
    except ImportError as e:
        _fail(ImportError(f"{e.msg}; the service needs the serve extra: pip install 'kexue[serve]'"))
    try:
        cfg = override(ServeConfig(host=host, port=port, max_chars=max_chars), set_)
        if onnx is not None:
            from kexue.gplinker.onnx_runtime import OnnxExtractor
            ex = OnnxExtractor(onnx, threads=cfg.threads)
        else:
            from kexue.gplinker.extractor import Extractor
            ex = Extractor.from_pretrained(model, device=device, last=last)
    except (ValueError, TypeError, FileNotFoundError) as e:
        _fail(e)
    batching = f"on ({cfg.max_batch} texts, {cfg.max_wait_ms:g} ms)" if cfg.batching else "off"
    console.print(f"serving task {ex.task} ({len(ex.labels)} labels, {ex.weights}) on {ex.device} at "
                  f"http://{cfg.host}:{cfg.port}/extract (docs: /docs); micro-batching {batching}; Ctrl-C or "
                  "SIGTERM stops after the requests in flight", soft_wrap=True)
    run(ex, cfg)


@app.command()
def export(
    run: Path = typer.Argument(..., help="a run folder from train"),
    out: Path = typer.Argument(..., help="the folder to write: model.onnx, gplinker-onnx.json, the tokenizer"),
    format_: str = typer.Option("onnx", "--format", help="onnx (the one format)"),
    last: bool = typer.Option(False, "--last", help=LAST_HELP),
    dynamo: bool = typer.Option(False, "--dynamo", help="torch.export's ONNX exporter (needs onnxscript) instead of "
                                "the TorchScript one (ten times faster; the same graph within float rounding)"),
) -> None:
    """The run as a variable-length ONNX graph (dynamic batch and length) with its tokenizer, labels and settings,
    so that the folder alone serves (`kexue gplinker serve --onnx OUT`); onnxruntime's logits are checked
    against torch's at three lengths with padding, and the largest difference printed."""
    if format_ != "onnx":
        _fail(ValueError(f"--format {format_}: GPLinker exports to onnx only"))
    import onnxruntime  # noqa: F401  (the check below runs the graph: a missing extra is said before any work)
    from kexue.gplinker.onnx_export import MODEL_FILE, check_parity, export_onnx
    from kexue.gplinker.train import load_run
    try:
        manifest = export_onnx(run, out, last=last, dynamo=dynamo)
        g = load_run(run, last=last)
    except (ValueError, TypeError, FileNotFoundError) as e:
        _fail(e)
    n = manifest["max_len"]
    parity = check_parity(g.model, out / MODEL_FILE, g.tokenizer.vocab_size, g.tokenizer.pad_id,
                          lengths=tuple(sorted({min(8, n), max(n // 3, 2), n})))
    if not parity.same_mask or parity.max_abs > 1e-4:
        fail(f"the ONNX graph in {out} does not reproduce torch's logits (max |Δ| {parity.max_abs:.2e}, masks "
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
    try:
        r = run(preset, out, progress=True, sets=set_)
    except (ValueError, TypeError, FileNotFoundError) as e:
        _fail(e)
    save_results([r], out / "results.json", {"preset": preset, "sets": set_ or []})
    table = Table(title=f"kexue gplinker reproduce --preset {preset}")
    for col in ("claim", "measured", "verdict"):
        table.add_column(col)
    for c in r.claims:
        table.add_row(c.claim[:60], c.measured, c.verdict)
    console.print(table)
    console.print(f"wrote {out / 'results.json'}")
