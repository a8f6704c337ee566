"""`kexue mad run|ess` end to end, and `kexue reproduce mad --preset smoke`."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from kexue.cli import app
from kexue.result import load_results

runner = CliRunner()


def test_run_writes_metrics_plot_and_resumes(tmp_path):
    args = ["mad", "run", "--family", "gaussian", "--loop", "fresh", "--lam", "1,0.8", "--generations", "3",
            "--seeds", "2", "--n-ini", "8", "--n-r", "6", "--n-s", "6", "--set", "gaussian.d=3", "--out", str(tmp_path)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "generation 3/3" in r.output
    lines = [json.loads(s) for s in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(x["generation"], x["lam"]) for x in lines] == [(t, la) for t in (1, 2, 3) for la in (1.0, 0.8)]
    assert len(lines[0]["w2"]) == 2 and (tmp_path / "curves.png").stat().st_size > 0
    r = runner.invoke(app, args[:-2] + ["--generations", "4", "--out", str(tmp_path), "--resume"])
    assert r.exit_code == 0, r.output
    assert "generation 4/4" in r.output and "generation 2/4" not in r.output


def test_bad_settings_exit_2_with_one_line(tmp_path):
    for extra, words in ((["--lam", "1,0"], "lam = 0"), (["--loop", "synthetic", "--n-s", "5"], "n_s = 5"),
                         (["--lam", "x"], "--lam 'x'"), (["--family", "flow"], "family = 'flow'")):
        r = runner.invoke(app, ["mad", "run", "--out", str(tmp_path), *extra])
        assert r.exit_code == 2, (extra, r.output)
        assert words in r.output and "Traceback" not in r.output


def test_reproduce_smoke_puts_mad_on_the_page(tmp_path):
    r = runner.invoke(app, ["reproduce", "mad", "--preset", "smoke", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    _, results = load_results(tmp_path / "results.json")
    (mad,) = results
    assert mad.post == 9687 and len(mad.claims) >= 10
    assert all(c.rule for c in mad.claims)
    for f in mad.figures:
        assert (tmp_path / f).is_file(), f
