"""`kexue lru train|evaluate|scan` and `reproduce("smoke")` end to end (kexue.fm/archives/9554)."""
import json
from pathlib import Path

from typer.testing import CliRunner

from kexue.lru.cli import app
from kexue.lru.reproduce import reproduce
from kexue.result import TopicResult, load_results

runner = CliRunner()


def test_train_then_evaluate_gives_the_same_accuracy(tmp_path):
    out = tmp_path / "copy"
    r = runner.invoke(app, ["train", "--task", "copy", "--model", "lru", "--preset", "smoke", "--out", str(out),
                            "--no-progress", "--set", "train.steps=3"])
    assert r.exit_code == 0, r.output
    assert (out / "model.safetensors").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["run"]["model"]["model"] == "lru" and config["train"]["steps"] == 3
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    acc = records[-1]["eval/acc"]
    r = runner.invoke(app, ["evaluate", str(out)])
    assert r.exit_code == 0, r.output
    assert f"test acc {100 * acc:.2f} %" in r.output


def test_train_rejects_bad_input_in_one_line(tmp_path):
    r = runner.invoke(app, ["train", "--task", "pathx", "--out", str(tmp_path)])
    assert r.exit_code != 0 and "pathx" in r.output
    r = runner.invoke(app, ["train", "--model", "gru", "--preset", "smoke", "--out", str(tmp_path)])
    assert r.exit_code != 0 and "gru" in r.output
    r = runner.invoke(app, ["evaluate", str(tmp_path / "nothing")])
    assert r.exit_code != 0 and "not found" in r.output


def test_scan_command_times_every_scan():
    r = runner.invoke(app, ["scan", "--length", "64", "--width", "4"])
    assert r.exit_code == 0, r.output
    assert "chunked" in r.output and "sequential" in r.output


def test_reproduce_smoke_writes_claims_and_figures(tmp_path):
    result = reproduce("smoke", tmp_path)
    assert isinstance(result, TopicResult) and result.post == 9554 and result.topic == "lru"
    _, (saved,) = load_results(tmp_path / "result.json")  # the numbers, saved before the figures
    assert [(c.claim, c.measured) for c in saved.claims] == [(c.claim, c.measured) for c in result.claims]
    # the identities are checks, apart from the claims, each held with its control rejected
    assert len(result.checks) == 7 and len(result.claims) == 8
    for check in result.checks:
        assert check.verdict == "held" and ": not held" in check.control, check
    assert all(c.rule and c.quote and c.source == 9554 for c in result.claims)  # every claim quotes the post
    assert all(c.needs for c in result.claims if c.verdict in ("inconclusive", "not checkable"))
    by_claim = {c.claim.split(":")[0]: c for c in result.claims}
    assert by_claim["The parallel scan trains much faster than the loop (the post"].verdict == "not checkable"
    slru = next(c for c in result.claims if "LRU > SLRU" in c.claim)
    assert "twice the units" in slru.claim and slru.evidence["LRU"]["n"] == 2  # the smoke preset's two seeds
    # the smoke preset's ListOps is below LRA's lengths on purpose: not the post's claim there
    assert next(c for c in result.claims if "LRA's lengths" in c.claim).verdict == "not checkable"
    # the smoke preset trains the LM at two lengths, so the length claim is decided, not "not checkable"
    assert next(c for c in result.claims if "training length" in c.claim).verdict != "not checkable"
    for figure in result.figures:
        assert (tmp_path / figure).is_file() and not Path(figure).is_absolute()
    assert (tmp_path / "runs" / "copy" / "lru-seed0" / "model.safetensors").is_file()
    assert (tmp_path / "runs" / "lm" / "L16-slru-seed1" / "model.safetensors").is_file()
    assert not (tmp_path / "runs" / "lm" / "L32-slru-seed1").exists()  # the long length trains SA and LRU only
    json.dumps(result.to_dict())  # results.json must be able to hold it


def test_train_defaults_are_the_librarys_and_print_config_shows_them():
    """Without --preset, `kexue lru train` trains the library's RunConfig (the paper's lr 1e-3), and
    --print-config prints that value; a reproduce preset's sizes are a named choice (quick: lr 3e-3)."""
    from kexue.lru.train import RunConfig

    r = runner.invoke(app, ["train", "--task", "listops", "--print-config"])
    assert r.exit_code == 0, r.output
    assert f"train.lr = {RunConfig().train.lr}" in r.output and RunConfig().train.lr == 1e-3
    assert f"train.steps = {RunConfig().train.steps}" in r.output
    r = runner.invoke(app, ["train", "--task", "listops", "--preset", "quick", "--print-config"])
    assert r.exit_code == 0 and "train.lr = 0.003" in r.output, r.output
