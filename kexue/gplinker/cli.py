"""`kexue gplinker ner|events|relations train|evaluate|predict`, `kexue gplinker serve` and `reproduce`.

Posts 8926 (events), 8888 (relations), 8373 (NER). Without --train, ner trains on MSRA and events /
relations on generated DuEE / DuIE-format data (--generate N sentences), so every command runs
offline. Bad input ends in one line naming file, line and field (exit code 2), never a traceback.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from kexue.config import override

app = typer.Typer(no_args_is_help=True, help="GPLinker (posts 8926, 8888) on GlobalPointer (8373, 8877).")
console = Console()
err = Console(stderr=True)  # what must not mix with --json on stdout
TASKS = ("ner", "events", "relations")
LAST_HELP = "use the last step's weights (model.safetensors), not the best dev ones (best.safetensors)"


def _fail(e: Exception) -> None:
    console.print(f"[red]error:[/] {e}", soft_wrap=True)
    raise typer.Exit(2)


def _read(task: str, path: Path, schema_path: Optional[Path], skip_bad: bool):
    from kexue.gplinker import fixture
    from kexue.gplinker.data import EventSchema, Problems, RelationSchema, read_duee, read_duie, read_ner_jsonl
    problems = Problems()
    if task == "events":
        schema = EventSchema.read(schema_path or fixture("duee_event_schema.json"))
        rows, labels = read_duee(path, schema, skip_bad, problems), schema.labels()
    elif task == "relations":
        schema = RelationSchema.read(schema_path or fixture("duie_schema.json"))
        rows, labels = read_duie(path, schema, skip_bad, problems), schema.predicates
    else:
        rows = read_ner_jsonl(path, skip_bad, problems)
        labels = sorted({e[2] for r in rows for e in r.entities})
    if problems.summary(path):
        err.print(f"[yellow]warning:[/] {problems.summary(path)}", soft_wrap=True)
    return rows, labels


def _default_data(task: str, n: int):
    from kexue.gplinker import fixture
    from kexue.gplinker.data import EventSchema, NERSample, RelationSchema
    from kexue.gplinker.generate import generate_events, generate_relations
    if task == "events":
        return (generate_events(n, 0), generate_events(max(n // 10, 1), 1),
                EventSchema.read(fixture("duee_event_schema.json")).labels())
    if task == "relations":
        return (generate_relations(n, 0), generate_relations(max(n // 10, 1), 1),
                RelationSchema.read(fixture("duie_schema.json")).predicates)
    from kexue.data import load_msra
    return ([NERSample(t, s) for t, s in load_msra("train")[:n]],
            [NERSample(t, s) for t, s in load_msra("test")[:max(n // 10, 1)]], ["LOC", "ORG", "PER"])


def _metrics_table(title: str, m: dict) -> Table:
    t = Table(title=title)
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in m.items():
        t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    return t


def _task_app(task: str) -> typer.Typer:
    sub = typer.Typer(no_args_is_help=True, help=f"GPLinker {task}: train, evaluate, predict.")

    @sub.command()
    def train(
        train_file: Optional[Path] = typer.Option(None, "--train", help="training JSONL (default: built-in data)"),
        dev_file: Optional[Path] = typer.Option(None, "--dev", help="dev JSONL, evaluated every epoch (--set "
                                                "eval_every=N steps) to keep the best weights (--set keep_best=false: "
                                                "the last)"),
        schema: Optional[Path] = typer.Option(None, "--schema", help="duee_event_schema.json / DuIE schema"),
        out: Path = typer.Option(Path(f"runs/gplinker-{task}"), help="run folder"),
        generate: int = typer.Option(1200, help="sentences of built-in data when --train is not given"),
        encoder: Optional[Path] = typer.Option(None, help="a pretrained encoder: a kexue roformer folder or a local "
                                                     "HF checkpoint folder (config.json, weights, vocab.txt)"),
        set_: Optional[list[str]] = typer.Option(None, "--set", help="override a setting, e.g. --set train.steps=500"),
        skip_bad: bool = typer.Option(False, help="skip (and count) bad samples instead of stopping"),
        resume: bool = typer.Option(False, help="continue the run in --out from its last checkpoint, rebuilt from "
                                                "its gplinker.json and vocab.txt (--encoder not needed)"),
    ) -> None:
        """Train GPLinker (from scratch, or on --encoder's checkpoint); writes model.safetensors, vocab.txt,
        gplinker.json and metrics.jsonl to --out, and with dev data best.safetensors + best.json (the best
        dev evaluation's weights), all that evaluate / predict / serve read."""
        from kexue.data import CharTokenizer
        from kexue.gplinker.encoders import load_encoder
        from kexue.gplinker.train import RUN_FILE, GPLinker, GPLinkerConfig, rebuild_run, same_encoder
        try:
            if train_file is None:
                rows, dev, labels = _default_data(task, generate)
            else:
                rows, labels = _read(task, train_file, schema, skip_bad)
                dev = _read(task, dev_file, schema, skip_bad)[0] if dev_file else None
            cfg = override(GPLinkerConfig(task=task), set_)
            if resume and (out / RUN_FILE).is_file():  # the run as it was saved, whatever --encoder says
                g = rebuild_run(out, set_)
                if g.labels != list(labels):
                    raise ValueError(f"--resume {out}: the data's labels differ from the run's; give the run's "
                                     "--train / --schema")
                if encoder is not None and not same_encoder(load_encoder(encoder, g.cfg.encoder)[0], g.cfg.encoder):
                    raise ValueError(f"--resume {out}: --encoder {encoder} is not the encoder the run was trained "
                                     f"on ({g.cfg.encoder.source or g.cfg.encoder.kind}); drop --encoder to resume")
            elif encoder is not None:  # the checkpoint's own tokenizer and weights
                g = GPLinker.pretrained(cfg, labels, encoder)
            else:
                g = GPLinker(cfg, labels, CharTokenizer.build([r.text for r in rows], max_size=cfg.encoder.vocab))
            summary = g.fit(rows, dev, out, progress=True, resume=resume)
        except (ValueError, TypeError, FileNotFoundError) as e:
            _fail(e)
        console.print(f"final loss {summary['final_loss']:.4f} after {summary['steps']} steps")
        console.print(f"weights: {g.weights}")
        if dev:
            console.print(_metrics_table(f"{task} dev ({len(dev)} sentences)", summary["dev"]))
        console.print(f"wrote {out}")

    @sub.command()
    def evaluate(
        model: Path = typer.Option(..., help="a run folder from train"),
        data: Optional[Path] = typer.Option(None, help="JSONL with gold labels (default: built-in dev data)"),
        schema: Optional[Path] = typer.Option(None, "--schema"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
        last: bool = typer.Option(False, "--last", help=LAST_HELP),
    ) -> None:
        """The post's metrics on labelled data, each named (event_level/*, argument_level/*, spo/*, entity/*)."""
        from kexue.gplinker.train import load_run
        try:
            g = load_run(model, last=last)
            rows = _read(task, data, schema, False)[0] if data else _default_data(task, 1000)[1]
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
        input: Path = typer.Option(..., "--input", help="JSONL with a 'text' field, or plain text lines"),
        output: Path = typer.Option(..., "--output", help="DuEE / DuIE-format JSONL to write"),
        last: bool = typer.Option(False, "--last", help=LAST_HELP),
    ) -> None:
        """Write one DuEE / DuIE-format JSON line per input line."""
        from kexue.gplinker.data import read_text_lines
        from kexue.gplinker.serve import to_json
        from kexue.gplinker.train import load_run
        try:
            g = load_run(model, last=last)
            rows = read_text_lines(input)
            results = g.predict([r["text"] for r in rows])
        except (ValueError, TypeError, FileNotFoundError) as e:
            _fail(e)
        with open(output, "w", encoding="utf-8") as f:
            for row, res in zip(rows, results):
                f.write(json.dumps({**row, **to_json(task, row["text"], res)}, ensure_ascii=False) + "\n")
        console.print(f"wrote {len(rows)} lines to {output} (weights: {g.weights})")

    return sub


for _task in TASKS:
    app.add_typer(_task_app(_task), name=_task)


@app.command()
def serve(
    model: Path = typer.Option(..., help="a run folder from train"),
    host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000),
    max_chars: int = typer.Option(510, help="longest text accepted"),
    last: bool = typer.Option(False, "--last", help="serve the last step's weights, not the best dev ones"),
) -> None:
    """POST /extract {"text": ...} → events / triples / entities with character offsets."""
    from kexue.gplinker.serve import ServeConfig, make_server
    from kexue.gplinker.train import load_run
    try:
        g = load_run(model, last=last)
    except (ValueError, FileNotFoundError) as e:
        _fail(e)
    server = make_server(g, ServeConfig(host=host, port=port, max_chars=max_chars))
    console.print(f"serving {g.cfg.task} on http://{host}:{server.server_address[1]}/extract with {g.weights} "
                  "(Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@app.command()
def reproduce(
    preset: str = typer.Option("quick", help="quick, full or smoke (as `kexue reproduce`)"),
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
