"""`kexue reproduce` runs topics side by side: each in its own process, its output in its own log, the
page in the page's order and the same as one topic at a time."""
from __future__ import annotations

import os
import textwrap

import pytest

import kexue.reproduce as rp
from kexue.result import load_results

TOPIC = '''
import os, sys, time
from kexue.result import Claim, TopicResult

def preset(name):
    return {{}}

def reproduce(preset, out_dir, cfg=None):
    t0 = time.time()
    print("hello from {name}")
    print("a warning of {name}", file=sys.stderr)
    if "{name}" == "fake_bad":
        raise RuntimeError("fake_bad failed")
    time.sleep(1.5)
    return TopicResult(topic="{name}", post=1, title="{name}", date="2020-01-01", preset=preset,
                       claims=[Claim("{name} claim", "m", "held")],
                       metrics={{"pid": os.getpid(), "t0": t0, "t1": time.time()}})
'''


@pytest.fixture
def fake_topics(tmp_path, monkeypatch):
    """Stand-in topics in a package on sys.path, which spawned workers import too."""
    package = tmp_path / "src" / "fake_topics"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in ("fake_a", "fake_b", "fake_bad"):
        (package / f"{name}.py").write_text(textwrap.dedent(TOPIC.format(name=name)))
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.setattr(rp, "TOPICS", ("fake_a", "fake_b", "fake_bad"))
    monkeypatch.setattr(rp, "topic_module", lambda name: f"fake_topics.{name}")
    return tmp_path / "out"


def test_two_jobs_run_topics_side_by_side_in_their_own_processes(fake_topics):
    heard: list[str] = []
    results = rp.run_topics(["fake_b", "fake_a"], "quick", fake_topics, jobs=2,
                            on_topic=lambda name, r: heard.append(name))
    assert [r.topic for r in results] == ["fake_b", "fake_a"]  # the order asked for
    meta, page = load_results(fake_topics / "results.json")
    assert [r.topic for r in page] == ["fake_a", "fake_b"] and meta["jobs"] == 2  # the page's order
    assert sorted(heard) == ["fake_a", "fake_b"]
    a, b = (r.metrics for r in results)
    assert os.getpid() not in (a["pid"], b["pid"]) and a["pid"] != b["pid"]
    assert max(a["t0"], b["t0"]) < min(a["t1"], b["t1"])  # they overlapped in time
    for name in ("fake_a", "fake_b"):
        log = (fake_topics / name / "reproduce.log").read_text()
        assert f"hello from {name}" in log and f"a warning of {name}" in log


def test_one_job_runs_in_this_process_one_after_the_other(fake_topics):
    """The control: jobs=1 is today's loop: this process, no overlap, output not redirected."""
    results = rp.run_topics(["fake_a", "fake_b"], "quick", fake_topics, jobs=1)
    a, b = (r.metrics for r in results)
    assert a["pid"] == b["pid"] == os.getpid() and a["t1"] <= b["t0"]
    assert not (fake_topics / "fake_a" / "reproduce.log").exists()


def test_a_topic_that_fails_in_a_worker_stops_the_run(fake_topics):
    """fake_bad fails at once: no topic starts after it, its error is raised, and fake_a, running beside
    it, finishes and is kept in results.json, marked incomplete (the old run_topics saved nothing)."""
    heard: list[str] = []
    with pytest.raises(RuntimeError, match="fake_bad failed"):
        rp.run_topics(["fake_bad", "fake_a"], "quick", fake_topics, jobs=2, on_topic=lambda name, r: heard.append(name))
    assert heard == ["fake_a"] and (fake_topics / "results.json").is_file()
    meta, page = load_results(fake_topics / "results.json")
    assert [r.topic for r in page] == ["fake_a"] and meta["complete"] is False and meta["to_run"] == ["fake_bad"]


@pytest.mark.parametrize("preset, cores, expect", [("quick", 2, 2), ("standard", 16, 7), ("smoke", 2, 1),
                                                    ("full", 16, 1), ("quick", 1, 1)])
def test_default_jobs(preset, cores, expect, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert rp.default_jobs(preset, 7) == expect
