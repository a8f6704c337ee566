"""The command line end to end, on the bundled fixtures at toy size (the service: test_serve*.py)."""
import json

from typer.testing import CliRunner

from kexue.gplinker import fixture
from kexue.gplinker.cli import app
from kexue.gplinker.train import load_run

runner = CliRunner()
TINY = ["--set", "train.steps=3", "--set", "train.batch_size=4", "--set", "encoder.hidden=16",
        "--set", "encoder.heads=2", "--set", "encoder.layers=1", "--set", "head.head_size=8"]


def test_train_evaluate_predict_events(event_run, tmp_path):
    r = runner.invoke(app, ["events", "evaluate", "--model", str(event_run), "--data",
                            str(fixture("duee_sample.json")), "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert {"event_level/f1", "argument_level/f1", "soft_argument/f1"} <= m.keys()
    src = tmp_path / "in.txt"
    src.write_text('今天北京的天气很好。\n{"text": "苹果公司裁员200人。", "id": "x"}\n', encoding="utf-8")
    r = runner.invoke(app, ["events", "predict", "--model", str(event_run), "--input", str(src),
                            "--output", str(tmp_path / "out.json")])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (tmp_path / "out.json").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2 and rows[1]["id"] == "x" and isinstance(rows[1]["event_list"], list)


def test_relations_train_on_the_fixture(tmp_path):
    r = runner.invoke(app, ["relations", "train", "--train", str(fixture("duie_sample.json")),
                            "--dev", str(fixture("duie_sample.json")), "--out", str(tmp_path / "rel"), *TINY])
    assert r.exit_code == 0, r.output
    assert "spo" in r.output and "precision" in r.output
    assert load_run(tmp_path / "rel").cfg.task == "relations"


def test_bad_input_is_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"text": "张三", "event_list": [{"event_type": "人生-会见", "trigger": 12, '
                   '"trigger_start_index": 1, "arguments": []}]}\n', encoding="utf-8")
    r = runner.invoke(app, ["events", "train", "--train", str(bad), "--out", str(tmp_path / "x"), *TINY])
    assert r.exit_code == 2
    assert "bad.json:1: event_list[0]: field 'trigger'" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["events", "evaluate", "--model", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "not a GPLinker run folder" in r.output


def test_a_missing_extra_is_one_plain_line_naming_it(tmp_path, monkeypatch):
    """The install hint survives the terminal: `kexue[serve]` is printed as written (rich ate "[serve]")."""
    import sys

    from typer.testing import CliRunner

    from kexue.gplinker.cli import app as gplinker_app
    monkeypatch.setitem(sys.modules, "kexue.gplinker.serve", None)  # as if fastapi were not installed
    r = CliRunner().invoke(gplinker_app, ["serve", "--model", str(tmp_path)])
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == [r.output.strip()]
    assert "pip install 'kexue[serve]'" in r.output and r.output.startswith("error: ")
