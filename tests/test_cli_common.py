"""The one command-line convention: one plain line on stderr, exit 2 / 1 / 130, --debug, settings files."""
import json
from dataclasses import dataclass, field
from typing import Literal

import pytest
import typer
from typer.testing import CliRunner

from kexue import cli_common as C
from kexue.cli import app as kexue_app
from kexue.train import TrainConfig
from kexue.train.loop import TrainingInterrupted

runner = CliRunner()


def make_app(exc: BaseException | None):
    app = typer.Typer()

    @app.command()
    def go() -> None:
        typer.echo("result")
        if exc is not None:
            raise exc

    @app.command()
    def other() -> None:
        pass

    return C.adopt(app)


@pytest.mark.parametrize("exc, code, line", [
    (ValueError("the span [start, end_exclusive, type] is bad in data.json:3"), 2,
     "error: the span [start, end_exclusive, type] is bad in data.json:3"),
    (FileNotFoundError("runs/x/config.json: not found"), 2, "error: runs/x/config.json: not found"),
    (typer.BadParameter("--size 'huge': choose small"), 2, "error: Invalid value: --size 'huge': choose small"),
    (RuntimeError("CUDA out of memory.\n Tried to allocate 2 GiB"), 1,
     "error: RuntimeError: CUDA out of memory. Tried to allocate 2 GiB (kexue --debug shows the traceback)"),
    (TrainingInterrupted(7, 2, None), 130, "interrupted at step 7; continue with --resume"),
    (TrainingInterrupted(7, 15, None), 143, "interrupted at step 7; continue with --resume"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
def test_errors_are_one_plain_line_on_stderr_with_the_exit_code(exc, code, line):
    long = ValueError("x" * 300 + " /a/very/long/path/that/must/not/be/wrapped/at/80/columns.json")
    for e, c, want in ((exc, code, line), (long, 2, f"error: {long}")):
        r = runner.invoke(make_app(e), ["go"], terminal_width=80)
        assert r.exit_code == c
        assert r.stdout == "result\n"  # results on stdout, the error apart
        assert r.stderr == want + "\n"
        assert "Traceback" not in r.output


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setenv("KEXUE_DEBUG", "1")
    r = runner.invoke(make_app(ValueError("bad")), ["go"])
    assert isinstance(r.exception, ValueError)  # raised through, for the traceback
    monkeypatch.delenv("KEXUE_DEBUG")
    r = runner.invoke(kexue_app, ["--debug", "lru", "scan", "--length", "0"])
    assert isinstance(r.exception, ValueError)
    C.set_debug(False)
    r = runner.invoke(kexue_app, ["lru", "scan", "--length", "0"])
    assert r.exit_code == 2 and r.stderr == "error: --length, --batch and --width must be positive\n"


def test_version():
    import kexue

    r = runner.invoke(kexue_app, ["--version"])
    assert r.exit_code == 0 and r.stdout == f"kexue {kexue.__version__}\n"


@dataclass
class Inner:
    size: int = 4
    kind: Literal["a", "b"] = "a"


@dataclass
class Settings:
    inner: Inner = field(default_factory=Inner)
    rate: float = 0.5
    name: str | None = None
    betas: tuple[float, float] = (0.9, 0.99)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=10))


def test_config_files_json_and_toml_then_set_on_top(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"inner": {"size": 8}, "rate": 1, "betas": [0.5, 0.6]}))
    cfg = C.settings(Settings(), tmp_path / "a.json", ["inner.kind=b"])
    assert cfg == Settings(inner=Inner(8, "b"), rate=1.0, betas=(0.5, 0.6))
    assert isinstance(cfg.rate, float) and isinstance(cfg.betas, tuple)
    (tmp_path / "a.toml").write_text('rate = 2.5\ninner.kind = "b"\n[train]\nlr = 0.01\n')
    cfg = C.settings(Settings(), tmp_path / "a.toml", ["rate=3"])
    assert (cfg.rate, cfg.inner.kind, cfg.train.lr, cfg.train.steps) == (3.0, "b", 0.01, 10)
    # a run's own config.json: its `run` section
    (tmp_path / "config.json").write_text(json.dumps({"run": {"rate": 0.25}, "train": {"lr": 9}}))
    assert C.settings(Settings(), tmp_path / "config.json").rate == 0.25
    for text, message in (('{"inner": {"sise": 1}}', "unknown setting 'inner.sise' (did you mean 'size'?)"),
                          ('{"rate": "fast"}', "expected a float"), ('{"inner": {"kind": "c"}}', "must be one of a, b"),
                          ('{"inner": {"size": 1.5}}', "expected int"), ("[1, 2]", "expected an object"),
                          ('{"rate": 1,}', "not valid JSON")):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
            C.settings(Settings(), tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="no such file"):
        C.settings(Settings(), tmp_path / "none.toml")


def test_print_config_is_toml_that_reads_back(tmp_path, capsys):
    cfg = Settings(inner=Inner(6, "b"), rate=0.125, betas=(0.1, 0.2),
                   train=TrainConfig(steps=3, schedule="piecewise", piecewise={0: 0.0, 10: 1.0}))
    C.print_config(cfg)
    out = capsys.readouterr().out
    assert "inner.size = 6" in out and "# int" in out and "# name = (none)" in out  # name = None is a comment
    (tmp_path / "c.toml").write_text(out)
    assert C.settings(Settings(), tmp_path / "c.toml") == cfg
    rows = dict((k, t) for k, _, t in C.settings_rows(cfg))
    assert rows["rate"] == "float" and rows["train.steps"] == "int" and "Literal" in rows["inner.kind"]


def test_with_device_sets_the_train_settings():
    cfg = C.with_device(Settings(), "cpu", "bf16")
    assert (cfg.train.device, cfg.train.precision) == ("cpu", "bf16")
    assert C.with_device(Settings(), None, None) == Settings()
    with pytest.raises(ValueError, match="must be one of fp32, bf16, fp16"):
        C.with_device(Settings(), None, "fp8")


def test_train_options_are_one_definition_handed_over_as_run_options(monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")  # the help on one line an option
    app = typer.Typer()
    seen = {}

    @app.command()
    @C.train_options("toy", "width=3")
    def train(width: int = typer.Option(2, help="the toy's width"), *, opts: C.RunOptions) -> None:
        seen.update(width=width, opts=opts, given=C.given(opts.ctx, ("width",)))

    @app.command()
    def other() -> None:
        pass

    r = runner.invoke(app, ["train", "--width", "5", "--set", "a=1", "--set", "b=2", "--out", "o", "--resume",
                            "--device", "cpu", "--log", "tensorboard", "--no-progress"])
    assert r.exit_code == 0, r.output
    opts = seen["opts"]
    assert seen["width"] == 5 and seen["given"] == ("width",)
    assert (opts.sets, str(opts.out), opts.resume, opts.auto_resume, opts.overwrite) == (["a=1", "b=2"], "o", True,
                                                                                         False, False)
    assert (opts.device, opts.precision, opts.log, opts.progress, opts.config, opts.show_config) == \
        ("cpu", None, "tensorboard", False, None, False)
    runner.invoke(app, ["train"])
    assert seen["given"] == () and seen["opts"].progress and seen["opts"].sets is None
    text = runner.invoke(app, ["train", "--help"]).stdout
    flags = ["--width", "--set", "--config", "--print-config", "--out", "--resume", "--auto-resume", "--overwrite",
             "--device", "--precision", "--log", "--progress"]
    assert [f for f in sorted(flags, key=text.index)] == flags  # its own first, then the shared, in order
    assert "e.g. --set width=3" in text and "runs/toy/version_N" in text
