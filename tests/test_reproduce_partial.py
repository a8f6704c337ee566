"""Results before figures (issue 24 §1), through `kexue reproduce` itself: results.json is saved after each
topic (marked incomplete until the last), and a topic's numbers are on disk before its first figure."""
from __future__ import annotations

import sys
import types

from typer.testing import CliRunner

import kexue.reproduce as rp
import kexue.result as kr
from kexue.cli import app
from kexue.result import Claim, TopicResult, load_results

runner = CliRunner()


def _topics(monkeypatch, behaviour: dict[str, str]) -> None:
    """Stand-in topics kexue.<name>.reproduce (in sys.modules, run in this process: smoke is one job).
    behaviour[name]: "ok" (draws its figure, returns its result), "raise" (fails after measuring) or "figure"
    (builds its result, then draws through kexue.result.save_then_draw, and the figure fails)."""
    monkeypatch.setattr(rp, "TOPICS", tuple(behaviour))
    for name in behaviour:
        module = types.ModuleType(f"kexue.{name}.reproduce")
        module.preset = lambda preset: {}

        def reproduce(preset, out_dir, cfg=None, name=name):
            if behaviour[name] == "raise":
                raise RuntimeError(f"{name} failed")
            result = TopicResult(topic=name, post=1, title=name, date="2020-01-01", preset=preset,
                                 claims=[Claim(f"{name} claim", f"{name} measured 0.25", "held", figure="f.png")],
                                 metrics={"loss": 0.25}, figures=["f.png"])

            def draw(path):
                if behaviour[name] == "figure":
                    raise ValueError("x and y must have same first dimension")
                path.write_bytes(b"\x89PNG\r\n\x1a\n")
            if behaviour[name] == "figure":  # the numbers, then the figure, through the shared helper
                return kr.save_then_draw(result, out_dir, {"f.png": draw})
            out_dir.mkdir(parents=True, exist_ok=True)
            draw(out_dir / "f.png")
            return result
        module.reproduce = reproduce
        monkeypatch.setitem(sys.modules, f"kexue.{name}.reproduce", module)


def test_a_topic_that_fails_leaves_the_finished_ones_in_results_json(tmp_path, monkeypatch):
    """fake_a finishes, fake_b raises: the run stops (exit 1, the error named), and results.json holds
    fake_a, marked incomplete with fake_b to run; the page renders from it and says so; a rerun of fake_a
    alone leaves fake_b to run, and a rerun of fake_b into the same folder completes the page. The old
    command wrote results.json at the very end: nothing was left."""
    _topics(monkeypatch, {"fake_a": "ok", "fake_b": "raise"})
    r = runner.invoke(app, ["reproduce", "--preset", "smoke", "--out", str(tmp_path)])
    assert r.exit_code == 1 and "RuntimeError: fake_b failed" in r.stderr, r.output
    assert (tmp_path / "results.json").is_file()
    meta, page = load_results(tmp_path / "results.json")
    assert [t.topic for t in page] == ["fake_a"] and page[0].metrics == {"loss": 0.25}
    assert meta["complete"] is False and meta["to_run"] == ["fake_b"] and meta["preset"] == "smoke"

    r = runner.invoke(app, ["report", "render", str(tmp_path)])  # the page builder takes the partial file
    assert r.exit_code == 0, r.output
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "fake_a claim" in html and "incomplete: not finished when this page was saved: fake_b" in html

    r = runner.invoke(app, ["reproduce", "fake_a", "--preset", "smoke", "--out", str(tmp_path)])
    meta, _ = load_results(tmp_path / "results.json")  # fake_a redone: fake_b is still to run
    assert r.exit_code == 0 and meta["complete"] is False and meta["to_run"] == ["fake_b"], r.output

    _topics(monkeypatch, {"fake_a": "ok", "fake_b": "ok"})
    r = runner.invoke(app, ["reproduce", "fake_b", "--preset", "smoke", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    meta, page = load_results(tmp_path / "results.json")
    assert [t.topic for t in page] == ["fake_a", "fake_b"] and meta["complete"] is True and "to_run" not in meta
    assert "incomplete" not in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_a_figure_that_fails_leaves_the_topics_numbers_and_names_the_figure(tmp_path, monkeypatch):
    """fake_b's figure raises after its numbers are measured: the command exits 1 with one line naming
    the figure's file, OUT/fake_b/result.json holds fake_b's numbers, and results.json holds fake_a with
    fake_b to run (a topic is on the page once it finished, figures and all). The old topics drew their
    figures before their TopicResult existed: the numbers were lost."""
    _topics(monkeypatch, {"fake_a": "ok", "fake_b": "figure"})
    r = runner.invoke(app, ["reproduce", "--preset", "smoke", "--out", str(tmp_path)])
    assert r.exit_code == 1, r.output
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert f"{tmp_path / 'fake_b' / 'f.png'}: the figure failed (ValueError: x and y must have same first " \
           "dimension)" in line and str(tmp_path / "fake_b" / "result.json") in line
    assert (tmp_path / "fake_b" / "result.json").is_file()
    _, (saved,) = load_results(tmp_path / "fake_b" / "result.json")
    assert saved.metrics == {"loss": 0.25} and saved.claims[0].measured == "fake_b measured 0.25"
    assert not (tmp_path / "fake_b" / "f.png").exists() and (tmp_path / "fake_a" / "f.png").is_file()
    meta, page = load_results(tmp_path / "results.json")
    assert [t.topic for t in page] == ["fake_a"] and meta["complete"] is False and meta["to_run"] == ["fake_b"]
