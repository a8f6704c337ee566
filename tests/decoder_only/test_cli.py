"""`kexue decoder-only rank|compare` and `reproduce("smoke")` end to end (kexue.fm/archives/9529)."""
import pytest
from typer.testing import CliRunner

from kexue.cli import app as kexue_app
from kexue.decoder_only import cli
from kexue.decoder_only.cli import app
from kexue.decoder_only.reproduce import reproduce
from kexue.result import TopicResult, load_results

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(cli.console, "width", 240)  # the tables unwrapped, as on a wide terminal


def test_rank_prints_the_table_and_the_mixed_check():
    r = runner.invoke(app, ["rank", "--n", "16,32", "--d", "4", "--seeds", "2"])
    assert r.exit_code == 0, r.output
    for word in ("bidirectional", "causal_linear", "float64 rank", "yes", "every head certified full rank: True"):
        assert word in r.output


def test_rank_temperature_is_refused_for_linear_kinds_not_ignored():
    """The old command printed a row per τ for linear attention, every row the same (τ silently ignored)."""
    r = runner.invoke(app, ["rank", "--n", "16", "--d", "4", "--seeds", "1", "--temperature", "0.5,2",
                            "--no-mixed"])
    assert r.exit_code == 2 and "no score scale" in r.output and len(r.output.strip().splitlines()) == 1
    r = runner.invoke(app, ["rank", "--n", "16", "--d", "4", "--seeds", "1", "--temperature", "0.5,2",
                            "--kinds", "bidirectional,causal", "--no-mixed"])
    assert r.exit_code == 0, r.output
    rows = [line for line in r.output.splitlines() if "bidirectional" in line]
    assert len(rows) == 2 and any(" 0.5 " in line for line in rows) and any(" 2 " in line for line in rows)
    r = runner.invoke(app, ["rank", "--n", "16", "--d", "4", "--seeds", "1", "--temperature", "1",
                            "--kinds", "linear", "--no-mixed"])
    assert r.exit_code == 0 and "linear" in r.output


def test_rank_rejects_bad_input():
    r = runner.invoke(app, ["rank", "--kinds", "sideways"])
    assert r.exit_code == 2 and "sideways" in r.output
    r = runner.invoke(app, ["rank", "--n", "a,b"])
    assert r.exit_code == 2 and "--n" in r.output


def test_compare_trains_and_prints_the_table(tmp_path):
    r = runner.invoke(app, ["compare", "--arch", "decoder,prefix,encdec@flops", "--size", "tiny", "--seeds", "1",
                            "--no-progress", "--out", str(tmp_path),
                            "--set", "train.steps=2", "--set", "task.n_train=64", "--set", "task.n_test=8",
                            "--set", "model.hidden=16", "--set", "n_generate=4"])
    assert r.exit_code == 0, r.output
    for word in ("decoder-only", "prefix-LM", "enc-dec, equal FLOPs", "held-out loss", "exact match", "unigram floor"):
        assert word in r.output
    assert (tmp_path / "prefix-seed0" / "model.safetensors").is_file()


def test_compare_rejects_bad_input(tmp_path):
    r = runner.invoke(app, ["compare", "--arch", "gpt", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "gpt" in r.output
    r = runner.invoke(app, ["compare", "--set", "model.hidden=ten", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "model.hidden" in r.output


def test_the_topic_is_a_kexue_command():
    r = runner.invoke(kexue_app, ["decoder-only", "--help"])
    assert r.exit_code == 0 and "rank" in r.output and "compare" in r.output


def test_reproduce_smoke(tmp_path):
    result = reproduce("smoke", tmp_path)
    assert isinstance(result, TopicResult) and result.post == 9529
    assert len(result.claims) == 8 and len(result.checks) == 4
    # the identities hold at any size, each with its control rejected
    assert [c.verdict for c in result.checks] == ["held"] * 4, [(c.identity, c.control) for c in result.checks]
    assert all(c.control and "not held" in c.control for c in result.checks)
    assert result.claims[0].verdict == "held"  # softmax raises the rank above linear attention's
    for c in result.claims:
        assert c.rule and c.measured and c.source == 9529 and c.quote
        assert c.needs or c.verdict not in ("inconclusive", "not checkable")
    assert all((tmp_path / f).is_file() for f in result.figures)
    _, (saved,) = load_results(tmp_path / "result.json")  # the numbers, saved before the figures
    assert [(c.claim, c.measured) for c in saved.claims] == [(c.claim, c.measured) for c in result.claims]
    assert set(result.metrics["compare"]) == {"decoder", "prefix", "encdec@params", "encdec@flops",
                                              "encdec@params_total"}
    assert set(result.metrics["mlm"]["runs"]) == {"bidirectional", "mixed", "alternate"}
    assert set(result.metrics["reverse"]["runs"]) == {"decoder", "prefix"}
    assert result.metrics["trained_rank"]["causal"] and result.metrics["trained_rank"]["mixed"]
    assert "compare_reverse.png" in result.figures and any("words in reverse order" in c.claim for c in result.claims)
    import json
    json.dumps(result.to_dict())  # the page's results.json takes it as it is


def test_mlm_trains_each_direction(tmp_path):
    r = runner.invoke(app, ["mlm", "--direction", "bidirectional,mixed", "--seeds", "1", "--no-progress",
                            "--out", str(tmp_path), "--set", "train.steps=2", "--set", "task.n_train=32",
                            "--set", "task.n_test=8", "--set", "model.hidden=16"])
    assert r.exit_code == 0, r.output
    assert "mixed" in r.output and "held-out loss" in r.output and "unigram floor" in r.output
    r = runner.invoke(app, ["mlm", "--direction", "sideways", "--out", str(tmp_path / "y")])
    assert r.exit_code == 2 and "sideways" in r.output
