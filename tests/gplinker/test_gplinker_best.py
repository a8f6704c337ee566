"""Best-dev weights, as the posts' Evaluator keeps them: the hook on a scripted run, and a fixture run end to end."""
import json

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset
from typer.testing import CliRunner

from kexue.gplinker import fixture
from kexue.gplinker.cli import app
from kexue.gplinker.data import read_duee
from kexue.gplinker.train import BEST_FILE, BEST_RECORD, BestWeights, load_run, read_best, rebuild_run
from kexue.train import TrainConfig, Trainer, read_metrics, save_model
from kexue.train.checkpoint import read_safetensors

runner = CliRunner()
TINY = ["--set", "train.batch_size=4", "--set", "encoder.hidden=16", "--set", "encoder.heads=2",
        "--set", "encoder.layers=1", "--set", "head.head_size=8"]


def test_best_weights_hook_keeps_the_max_and_the_later_tie(tmp_path):
    """Dev F1 0.2, 0.5, 0.1, 0.5 at steps 1..4: the best is step 4 (a tie goes to the later step, as `>=`),
    and best.safetensors holds exactly the weights that were evaluated then."""
    scores, evaluated = iter([0.2, 0.5, 0.1, 0.5]), {}
    torch.manual_seed(0)
    model = nn.Linear(3, 1)

    def eval_fn(m):
        evaluated[len(evaluated) + 1] = {k: v.clone() for k, v in m.state_dict().items()}
        return {"spo/f1": next(scores)}

    x = torch.randn(16, 3)
    cfg = TrainConfig(steps=4, batch_size=4, lr=0.1, eval_every=1, log_every=1)
    keeper = BestWeights(tmp_path, "spo/f1")
    Trainer(model, cfg, TensorDataset(x), lambda m, b: m(b[0]).pow(2).mean(), tmp_path, eval_fn=eval_fn,
            on_eval=keeper, progress=False, device="cpu").fit()
    assert read_best(tmp_path) == {"step": 4, "metric": "eval/spo/f1", "value": 0.5}
    tensors, _ = read_safetensors(tmp_path / BEST_FILE)
    for k, v in evaluated[4].items():
        assert torch.equal(tensors[k], v)
    assert not torch.equal(evaluated[2]["weight"], evaluated[4]["weight"])
    record = json.loads((tmp_path / BEST_RECORD).read_text(encoding="utf-8"))
    assert record["step"] == 4 and record["metrics"] == {"eval/spo/f1": 0.5}
    assert [r["best/step"] for r in read_metrics(tmp_path)] == [1, 2, 2, 4]


@pytest.fixture(scope="module")
def best_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("best") / "run"
    r = runner.invoke(app, ["events", "train", "--train", str(fixture("duee_sample.json")), "--dev",
                            str(fixture("duee_sample.json")), "--out", str(out), "--set", "train.steps=6",
                            "--set", "train.lr=0.01", *TINY])
    assert r.exit_code == 0, r.output
    assert "weights: best.safetensors (best dev eval/event_level/f1" in r.output
    return out


def test_fixture_run_keeps_the_best_logged_evaluation(best_run):
    # 8 sentences, batch 4: one epoch = ⌈8 / 4⌉ = 2 steps, so dev evaluations at steps 2, 4, 6
    evals = [(r["step"], r["eval/event_level/f1"]) for r in read_metrics(best_run) if "eval/event_level/f1" in r]
    assert [s for s, _ in evals] == [2, 4, 6]
    top = max(f1 for _, f1 in evals)
    step = max(s for s, f1 in evals if f1 == top)  # the later of equal ones
    assert read_best(best_run) == {"step": step, "metric": "eval/event_level/f1", "value": top}
    record = json.loads((best_run / BEST_RECORD).read_text(encoding="utf-8"))
    assert record["step"] == step and record["metrics"]["eval/event_level/f1"] == top
    assert (best_run / "model.safetensors").is_file()


def test_fit_reports_the_dev_metrics_of_the_weights_it_ends_with(best_run, tmp_path):
    # fit returns best.json's metrics instead of evaluating dev again; they are what the best weights score
    g = rebuild_run(best_run)  # the same settings, fresh weights
    rows = read_duee(fixture("duee_sample.json"))
    summary = g.fit(rows, rows, tmp_path / "again")
    assert summary["best"] == read_best(tmp_path / "again")
    assert summary["dev"] == pytest.approx(g.evaluate(rows))


def test_evaluate_uses_the_best_weights(best_run, tmp_path):
    r = runner.invoke(app, ["events", "evaluate", "--model", str(best_run), "--data",
                            str(fixture("duee_sample.json")), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["event_level/f1"] == read_best(best_run)["value"]
    assert "weights: best.safetensors" in r.output  # on stderr, beside the JSON
    # which file: make best.safetensors differ from the last step's weights and load each
    tensors, meta = read_safetensors(best_run / BEST_FILE)
    run = tmp_path / "run"
    run.mkdir()
    for f in best_run.iterdir():
        if f.is_file():
            (run / f.name).write_bytes(f.read_bytes())
    save_model({k: v + 1 for k, v in tensors.items()}, run / BEST_FILE, meta)
    best, last = load_run(run), load_run(run, last=True)
    assert best.weights.startswith("best.safetensors") and last.weights.startswith("model.safetensors")
    for k, v in best.model.state_dict().items():
        assert torch.equal(v, tensors[k] + 1)
    assert not torch.equal(next(iter(last.model.state_dict().values())), next(iter(best.model.state_dict().values())))
    r = runner.invoke(app, ["events", "evaluate", "--model", str(run), "--last", "--data",
                            str(fixture("duee_sample.json"))])
    assert r.exit_code == 0 and "weights: model.safetensors (the last step, 6)" in r.output, r.output


def test_new_run_drops_a_stale_best_and_keep_best_false_keeps_none(tmp_path):
    """A new run in an old run's folder (--overwrite; without it the folder is refused) keeps no stale best."""
    run = tmp_path / "run"
    args = ["events", "train", "--train", str(fixture("duee_sample.json")), "--dev",
            str(fixture("duee_sample.json")), "--out", str(run), "--set", "train.steps=2"]
    assert runner.invoke(app, [*args, *TINY]).exit_code == 0
    assert (run / BEST_FILE).exists()
    r = runner.invoke(app, [*args, "--set", "keep_best=false", *TINY])
    assert r.exit_code == 2 and "--overwrite" in r.output and (run / BEST_FILE).exists()
    r = runner.invoke(app, [*args, "--set", "keep_best=false", "--overwrite", *TINY])
    assert r.exit_code == 0, r.output
    assert not (run / BEST_FILE).exists() and not (run / BEST_RECORD).exists()
    assert "weights: model.safetensors (the last step, 2)" in r.output


def test_resume_continues_from_the_saved_best(tmp_path):
    run = tmp_path / "run"
    args = ["events", "train", "--train", str(fixture("duee_sample.json")), "--dev", str(fixture("duee_sample.json")),
            "--out", str(run), *TINY]
    r = runner.invoke(app, [*args, "--set", "train.steps=2"])
    assert r.exit_code == 0, r.output
    # a best no evaluation can beat: the resumed run must start from it, not from nothing
    tensors, meta = read_safetensors(run / BEST_FILE)
    save_model(tensors, run / BEST_FILE, {**meta, "value": "2.0"})
    r = runner.invoke(app, [*args, "--set", "train.steps=4", "--resume"])
    assert r.exit_code == 0, r.output
    assert read_best(run) == {"step": 2, "metric": "eval/event_level/f1", "value": 2.0}
    assert [r["best/f1"] for r in read_metrics(run) if "best/f1" in r][-1] == 2.0
