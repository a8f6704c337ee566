"""`kexue report merge`: several reproduce folders → one results.json and page, checked on the way in."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kexue.report.cli import app
from kexue.report.load import ReportError, read_results
from kexue.report.merge import merge_runs

from .sample import META, make_out, sample_topics


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    attention, lru = sample_topics()
    return make_out(tmp_path / "a", [attention]), make_out(tmp_path / "b", [lru])


def test_merge_keeps_every_topic_claim_and_figure(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two_runs
    page = merge_runs([b, a], tmp_path / "m", order=["attention", "lru"])
    meta, topics = read_results(tmp_path / "m")  # also checks that every figure exists inside the folder
    assert [t.topic for t in topics] == ["attention", "lru"]  # the given order, not the sources'
    assert topics == sample_topics()  # claims, metrics, figures and seconds unchanged
    for t in topics:
        for fig in t.figures + [c.figure for c in t.claims if c.figure]:
            assert (tmp_path / "m" / fig).read_bytes() == ((a if t.topic == "attention" else b) / fig).read_bytes()
    assert meta["seconds"] == pytest.approx(123.4 + 88.0)  # the topics' own times, summed
    assert [m["folder"] for m in meta["merged_from"]] == [str(b), str(a)]
    html = page.read_text(encoding="utf-8")
    assert "8610" in html and "9554" in html and "kexue report merge" in html


def test_merge_refuses_a_topic_twice_mixed_presets_and_a_used_folder(two_runs: tuple[Path, Path],
                                                                      tmp_path: Path) -> None:
    a, b = two_runs
    with pytest.raises(ReportError, match="'attention' is in both"):
        merge_runs([a, a], tmp_path / "m1")
    standard = make_out(tmp_path / "s", [replace(sample_topics()[1], preset="standard")])
    payload = json.loads((standard / "results.json").read_text())
    payload["meta"] = {**META, "preset": "standard"}
    (standard / "results.json").write_text(json.dumps(payload))
    with pytest.raises(ReportError, match="different presets"):
        merge_runs([a, standard], tmp_path / "m2")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("")
    with pytest.raises(ReportError, match="not an empty folder"):
        merge_runs([a, b], tmp_path / "used")
    assert not (tmp_path / "m1").exists() and not (tmp_path / "m2").exists()  # nothing written on a refusal


def test_merge_command_one_line_error_exit_2(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two_runs
    ok = CliRunner().invoke(app, ["merge", str(a), str(b), "--out", str(tmp_path / "m")])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "m" / "index.html").is_file()
    bad = CliRunner().invoke(app, ["merge", str(a), str(tmp_path / "nothing"), "--out", str(tmp_path / "m3")])
    assert bad.exit_code == 2
    assert "results.json: no such file" in bad.output and "Traceback" not in bad.output


def test_merge_of_a_stopped_run_stays_incomplete_until_a_source_has_its_topic(tmp_path: Path) -> None:
    """A source saved before its run finished (meta "complete": false, "to_run": [lru]) leaves the merged
    page incomplete while no source has lru; merged with a folder that has it, the page is complete."""
    attention, lru = sample_topics()
    stopped = make_out(tmp_path / "a", [attention])
    payload = json.loads((stopped / "results.json").read_text())
    payload["meta"] = {**META, "complete": False, "to_run": ["lru"]}
    (stopped / "results.json").write_text(json.dumps(payload))
    page = merge_runs([stopped], tmp_path / "m1")
    meta, _ = read_results(tmp_path / "m1")
    assert meta["complete"] is False and meta["to_run"] == ["lru"]
    assert "incomplete: not finished when this page was saved: lru" in page.read_text(encoding="utf-8")
    merge_runs([stopped, make_out(tmp_path / "b", [lru])], tmp_path / "m2")
    meta, _ = read_results(tmp_path / "m2")
    assert meta["complete"] is True and "to_run" not in meta
