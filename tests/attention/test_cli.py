"""The command line end to end: `kexue attention cost` and `kexue reproduce attention --preset smoke`."""
import json

from typer.testing import CliRunner

from kexue.cli import app
from kexue.result import load_results

runner = CliRunner()


def test_cost_json_has_the_post_numbers():
    r = runner.invoke(app, ["attention", "cost", "--hidden", "768", "--heads", "12", "--lengths", "512,1536",
                            "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["crossovers"]["sa_gt_ffn (2hd)"] == 1536
    assert out["crossovers"]["quadratic_dominates (6hd)"] == 4608
    assert out["rows"][1]["sa_over_ffn"] == 1.0


def test_cost_rejects_bad_input():
    r = runner.invoke(app, ["attention", "cost", "--hidden", "770", "--heads", "12"])
    assert r.exit_code != 0
    assert "not divisible" in r.output
    r = runner.invoke(app, ["attention", "cost", "--lengths", "12,x"])
    assert r.exit_code != 0


def test_reproduce_smoke_writes_results_and_page(tmp_path):
    out = tmp_path / "rep"
    r = runner.invoke(app, ["reproduce", "attention", "--preset", "smoke", "--out", str(out)])
    assert r.exit_code == 0, r.output
    # smoke is marked a wiring test, on stderr and in the table's title; the table fits 80 columns
    assert "smoke: a wiring test at toy sizes; its verdicts mean nothing" in r.stderr
    assert "(smoke: wiring test, verdicts mean nothing)" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines() if not line.startswith("page: ")) <= 80
    meta, results = load_results(out / "results.json")
    assert meta["preset"] == "smoke"
    (topic,) = results
    assert topic.post == 8610 and len(topic.claims) == 5
    # the count claim is exact arithmetic, so it holds even at toy size
    assert topic.claims[0].verdict == "held"
    assert all(c.rule for c in topic.claims)  # every verdict comes from a rule of claims.py, in words
    quality = topic.claims[4]
    assert set(quality.evidence) == {"LM softmax", "LM linear", "MLM softmax", "MLM linear"}
    assert all(e["n"] == 2 for e in quality.evidence.values())  # the smoke preset's two seeds
    for f in topic.figures:
        assert (out / f).is_file()
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "kexue.fm/archives/8610" in html
    assert (out / "attention" / "runs" / "lm-softmax-seed0" / "model.safetensors").is_file()


def test_reproduce_unknown_topic_is_one_clear_error(tmp_path):
    r = runner.invoke(app, ["reproduce", "nosuch", "--out", str(tmp_path)])
    assert r.exit_code != 0
    assert "unknown topic" in r.output
