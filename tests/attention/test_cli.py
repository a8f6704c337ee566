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
    # smoke is marked a wiring test, on stderr and in the table's title; piped, no cell is cut (kexue.console)
    assert "smoke: a wiring test at toy sizes; its verdicts mean nothing" in r.stderr
    assert "(smoke: wiring test, verdicts mean nothing)" in r.stdout
    meta, results = load_results(out / "results.json")
    assert "…" not in r.stdout and all(c.claim in r.stdout for c in results[0].claims)
    assert meta["preset"] == "smoke"
    (topic,) = results
    assert topic.post == 8610 and len(topic.claims) == 5
    # the count is an identity: a check with its control rejected, apart from the claims
    (check,) = topic.checks
    assert check.verdict == "held" and "n² term once" in check.control and "not held" in check.control
    assert not any("FLOP counter" in c.measured for c in topic.claims)
    assert all(c.rule for c in topic.claims)  # every verdict comes from a rule of claims.py, in words
    assert all(c.quote and c.source in (8610, 8338) for c in topic.claims)  # the post's own sentence
    assert all(c.needs for c in topic.claims if c.verdict == "inconclusive")
    lm, mlm = topic.claims[3], topic.claims[4]
    assert set(lm.evidence) == {"LM softmax", "LM linear"} and set(mlm.evidence) == {"MLM softmax", "MLM linear"}
    assert all(e["n"] == 2 for e in [*lm.evidence.values(), *mlm.evidence.values()])  # the smoke's two seeds
    details = json.loads((out / "attention" / "details.json").read_text())
    assert all(len(r["sa_s"]) == 3 for r in details["blocks"])  # every round kept
    for f in topic.figures:
        assert (out / f).is_file()
    _, (saved,) = load_results(out / "attention" / "result.json")  # the numbers, saved before the figures
    assert [(c.claim, c.measured, c.verdict) for c in saved.claims] == [(c.claim, c.measured, c.verdict)
                                                                        for c in topic.claims]
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "kexue.fm/archives/8610" in html
    assert (out / "attention" / "runs" / "lm-softmax-seed0" / "model.safetensors").is_file()


def test_measure_writes_results_then_figures(tmp_path):
    """`kexue attention measure` at tiny lengths: exit 0, measure.json with every round, both figures
    (it used to print its table, then crash in the plot with a missing argument, before measure.json)."""
    out = tmp_path / "m"
    r = runner.invoke(app, ["attention", "measure", "--lengths", "16,32,48,64", "--heads", "2", "--head-size", "16",
                            "--repeats", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads((out / "measure.json").read_text())
    assert [row["n"] for row in data["blocks"]] == [16, 32, 48, 64]
    assert all(len(b["sa_s"]) == len(c["linear_causal_s"]) == 3 for b, c in zip(data["blocks"], data["cores"]))
    assert len(data["crossover_sa_ffn"]) == len(data["crossover_linear"]) == 3  # point, low, high
    for f in ("blocks.png", "cores.png"):
        assert (out / f).stat().st_size > 0
    assert "wrote" in r.stdout


def test_importing_the_topic_chooses_no_plotting_backend():
    import subprocess
    import sys

    code = ("import sys, kexue.attention.reproduce, kexue.attention.cli; "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported at import time'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_reproduce_unknown_topic_is_one_clear_error(tmp_path):
    r = runner.invoke(app, ["reproduce", "nosuch", "--out", str(tmp_path)])
    assert r.exit_code != 0
    assert "unknown topic" in r.output
