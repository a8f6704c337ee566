"""reproduce('smoke') runs every claim and check end to end and writes its figure."""
import inspect

from kexue.gplinker import claims as rules
from kexue.gplinker import reproduce as module
from kexue.gplinker.measure import time_losses
from kexue.gplinker.reproduce import reproduce
from kexue.result import load_results


def test_reproduce_smoke(tmp_path, monkeypatch):
    monkeypatch.delenv("KEXUE_ENCODER", raising=False)
    r = reproduce("smoke", tmp_path)
    assert r.topic == "gplinker" and r.post == 8926 and len(r.claims) == 7 and all(c.rule for c in r.claims)
    # every claim quotes its post; an undecided one says what would decide it
    assert all(c.quote and c.source in (8926, 8888, 8877, 8373) for c in r.claims)
    assert all(c.needs for c in r.claims if c.verdict in ("inconclusive", "not checkable"))
    # the identities are checks, apart, each with its control rejected
    assert len(r.checks) == 3 and all(c.verdict == "held" and "not held" in c.control for c in r.checks)
    # held-out extraction on a from-scratch encoder: not checkable, the measured F1 (0 here) shown
    for claim, task in zip(r.claims[1:3], ("events", "relations")):
        assert claim.verdict == "not checkable" and "encoder_path" in claim.needs
        assert f"{r.metrics[task]['f1']:.3f}" in claim.measured and f"{r.metrics[task]['f1']:.3f}" in claim.rule
    # the 3090 claim is a GPU claim; the published F1s need the data
    assert r.claims[4].verdict == "not checkable" and "GPU claim" in r.claims[4].rule
    assert [c.verdict for c in r.claims[-2:]] == ["not checkable"] * 2
    for f in r.figures:
        assert (tmp_path / f).is_file()
    _, (saved,) = load_results(tmp_path / "result.json")  # the numbers, saved before the figures
    assert [(c.claim, c.measured) for c in saved.claims] == [(c.claim, c.measured) for c in r.claims]
    assert {"event_level/f1", "argument_level/f1", "soft_argument/f1", "f1_se"} <= r.metrics["events"].keys()
    assert (tmp_path / "gplinker" / "runs" / "events" / "model.safetensors").is_file()
    # every training run picked its best dev weights, as the posts' Evaluator does
    for run in ("ner-gp-0", "ner-egp-1", "events", "relations"):
        assert (tmp_path / "gplinker" / "runs" / run / "best.safetensors").is_file()
    assert r.metrics["events"]["weights"].startswith("best.safetensors")


def test_time_losses_reports_every_repeat():
    t = time_losses(2, 3, 8, repeats=2)
    assert len(t["sparse_s"]) == len(t["dense_s"]) == 2 and min(t["sparse_s"] + t["dense_s"]) > 0


def test_one_small_function_per_claim():
    """No function of reproduce.py over 80 lines, the module under 400; rules only in claims.py."""
    source = inspect.getsource(module)
    assert len(source.splitlines()) < 400
    for name, fn in inspect.getmembers(module, inspect.isfunction):
        if fn.__module__ == module.__name__:
            assert len(inspect.getsource(fn).splitlines()) <= 80, name
    assert "matplotlib.use" not in source
    assert set(rules.QUOTES) >= {"egp", "events", "relations", "sparse_faster", "sparse_3090", "duee", "duie"}


def test_published_paths_settings_then_env_then_absent(tmp_path):
    from dataclasses import replace

    import pytest

    from kexue.gplinker.reproduce import preset, resolve_paths
    full = preset("full")
    assert full.published and not preset("quick").published and not preset("smoke").published
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    env = {"KEXUE_DUEE": str(b), "KEXUE_ENCODER": str(b)}
    got = resolve_paths(replace(full, duee_dir=str(a)), env)  # the setting wins over the variable
    assert got == {"duee_dir": a, "duie_dir": None, "encoder_path": b}
    assert resolve_paths(full, {}) == {"duee_dir": None, "duie_dir": None, "encoder_path": None}
    with pytest.raises(FileNotFoundError, match=r"\$KEXUE_DUIE=.*nowhere: no such folder"):
        resolve_paths(full, {"KEXUE_DUIE": str(tmp_path / "nowhere")})


def test_published_claims_absent_are_not_checkable(tmp_path, monkeypatch):
    from kexue.gplinker.reproduce import preset, published_claims, resolve_paths
    for env in ("KEXUE_DUEE", "KEXUE_DUIE", "KEXUE_ENCODER"):
        monkeypatch.delenv(env, raising=False)
    cfg = preset("full")
    metrics = {}
    duee, duie = published_claims(cfg, resolve_paths(cfg), tmp_path, metrics)
    assert duee.verdict == duie.verdict == "not checkable" and metrics == {}
    assert "duee_dir (or $KEXUE_DUEE)" in duee.measured and "encoder_path (or $KEXUE_ENCODER)" in duee.measured
    assert "duie_dir (or $KEXUE_DUIE)" in duie.measured


def test_cli_reproduce_set_and_bad_path(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from kexue.gplinker.cli import app
    for env in ("KEXUE_DUEE", "KEXUE_DUIE", "KEXUE_ENCODER"):
        monkeypatch.delenv(env, raising=False)
    runner = CliRunner()
    r = runner.invoke(app, ["reproduce", "--preset", "smoke", "--out", str(tmp_path / "a"),
                            "--set", f"duee_dir={tmp_path / 'nowhere'}", "--set", "published=true"])
    assert r.exit_code == 2 and "--set duee_dir=" in r.output and "no such folder" in r.output, r.output
    assert not (tmp_path / "a" / "gplinker").exists()  # stopped before training
    r = runner.invoke(app, ["reproduce", "--preset", "smoke", "--out", str(tmp_path / "b"), "--set", "published=true"])
    assert r.exit_code == 0, r.output
    claims = json.loads((tmp_path / "b" / "results.json").read_text(encoding="utf-8"))["topics"][0]["claims"]
    assert len(claims) == 7 and [c["verdict"] for c in claims[-2:]] == ["not checkable"] * 2
    assert "duee_dir (or $KEXUE_DUEE)" in claims[-2]["measured"]
