"""reproduce('smoke') runs every claim end to end and writes its figure."""
from kexue.gplinker.measure import time_losses
from kexue.gplinker.reproduce import reproduce


def test_reproduce_smoke(tmp_path):
    r = reproduce("smoke", tmp_path)
    assert r.topic == "gplinker" and r.post == 8926 and len(r.claims) == 6 and all(c.rule for c in r.claims)
    # the round trip and the clique search are exact at any size
    assert r.claims[1].verdict == "held"
    assert r.claims[-1].verdict == "not checkable"
    for f in r.figures:
        assert (tmp_path / f).is_file()
    assert {"event_level/f1", "argument_level/f1", "soft_argument/f1", "f1_se"} <= r.metrics["events"].keys()
    assert (tmp_path / "gplinker" / "runs" / "events" / "model.safetensors").is_file()
    # every training run picked its best dev weights, as the posts' Evaluator does
    for run in ("ner-gp-0", "ner-egp-1", "events", "relations"):
        assert (tmp_path / "gplinker" / "runs" / run / "best.safetensors").is_file()
    assert r.metrics["events"]["weights"].startswith("best.safetensors")


def test_time_losses_reports_both():
    t = time_losses(2, 3, 8, repeats=1)
    assert t["sparse_s"] > 0 and t["dense_s"] > 0 and t["dense_over_sparse"] > 0


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
