"""The from-scratch recipes (kexue/gplinker/recipes.py): named and printed, early stopping on a synthetic dev
curve, the best weights kept, the settings in config.json, sort-by-length batches, and `quick` = the old run."""
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from kexue.gplinker.cli import app
from kexue.gplinker.linker import GPLinkerConfig
from kexue.gplinker.recipes import QUICK, EarlyStopping, StopTraining, apply_recipe, describe
from kexue.gplinker.tasks import TASKS, get_task
from kexue.gplinker.train import BEST_FILE, read_best
from kexue.train import read_metrics
from kexue.train.checkpoint import read_safetensors

from ._tiny import tiny_linker

runner = CliRunner()
TINY = ["--set", "train.batch_size=4", "--set", "encoder.hidden=16", "--set", "encoder.heads=2",
        "--set", "encoder.layers=1", "--set", "head.head_size=8"]


class FakeTrainer:
    """What the hooks read from a Trainer: step, cfg.steps, and save() (counted)."""

    def __init__(self, steps: int):
        self.step, self.cfg, self.saved = 0, SimpleNamespace(steps=steps), []

    def save(self) -> None:
        self.saved.append(self.step)


def run_curve(curve: list[float], patience: int, steps: int = 100, every: int = 10) -> tuple[int | None, EarlyStopping]:
    """Evaluate `curve` every `every` steps; the step StopTraining was raised at (None: never)."""
    stop, trainer = EarlyStopping(None, "entity/f1", patience), FakeTrainer(steps)
    values = iter(curve)
    for step in range(1, steps + 1):
        trainer.step = step
        if step % every == 0:
            stop.on_eval(trainer, {"eval/entity/f1": next(values)})
        try:
            stop.on_step(trainer, step)
        except StopTraining as e:
            assert e.step == step and trainer.saved == [step]  # a checkpoint of that step, then the end
            return step, stop
    return None, stop


@pytest.mark.parametrize("curve, patience, stop_at, best_step", [
    ([0.1, 0.3, 0.5, 0.5, 0.4, 0.45, 0.6, 0.7, 0.8, 0.9], 3, 60, 30),  # a tie is no gain: 3 without → stop
    ([0.1, 0.3, 0.5, 0.5, 0.4, 0.6, 0.5, 0.55, 0.58, 0.59], 3, 90, 60),  # the count restarts after a gain
    ([0.1, 0.3, 0.5, 0.5, 0.4, 0.45, 0.6, 0.7, 0.8, 0.9], 0, None, 100),  # patience 0: never stops
    ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95], 1, None, 100),  # still rising: runs to the end
])
def test_early_stopping_on_a_synthetic_dev_curve(curve, patience, stop_at, best_step):
    step, stop = run_curve(curve, patience)
    assert step == stop_at
    assert stop.best_step == best_step and stop.best == max(curve[:len(stop.curve)])
    assert (stop.reason != "") == (stop_at is not None)


@pytest.mark.parametrize("cut", [2, 4, 5, 7])
def test_a_resumed_stopper_goes_on_where_the_run_left_it(cut):
    """Cut the curve of the second case above after `cut` evaluations, resume a new stopper from the records
    (as metrics.jsonl holds them) and the seconds: it stops at the step the unbroken run stops at."""
    curve = [0.1, 0.3, 0.5, 0.5, 0.4, 0.6, 0.5, 0.55, 0.58, 0.59]
    whole, _ = run_curve(curve, 3)
    records = [{"step": 10 * (i + 1), "loss": 1.0, "eval/entity/f1": v, "seconds": 6.0 * (i + 1)}
               for i, v in enumerate(curve[:cut])]
    stop, trainer = EarlyStopping(None, "entity/f1", 3), FakeTrainer(100)
    stop.resume(records + [{"step": 10 * cut + 5, "loss": 1.0, "seconds": 1.0}], seconds=60.0 * cut)
    assert [c[0] for c in stop.curve] == [10 * (i + 1) for i in range(cut)] and stop.minutes() >= cut
    stopped = None
    for step in range(10 * cut + 1, 101):
        trainer.step = step
        if step % 10 == 0:
            stop.on_eval(trainer, {"eval/entity/f1": curve[step // 10 - 1]})
        try:
            stop.on_step(trainer, step)
        except StopTraining:
            stopped = step
            break
    assert stopped == whole == 90 and stop.best_step == 60


def test_a_resumed_stopper_keeps_the_time_cap_and_a_stop():
    stop = EarlyStopping(None, "entity/f1", 0, max_minutes=2.0)
    stop.resume([], seconds=150.0)  # 2.5 minutes already trained
    assert "2 minutes" in stop.reason
    stop = EarlyStopping(None, "entity/f1", 1)
    stop.resume([{"step": s, "eval/entity/f1": 0.5, "seconds": s} for s in (10, 20)], seconds=20.0)
    assert "has not beaten 0.5000 (step 10)" in stop.reason


def test_no_stop_is_raised_at_the_last_step():
    """Patience running out at the last step ends the run normally (its checkpoint is the Trainer's)."""
    step, stop = run_curve([0.5, 0.4], 1, steps=20)
    assert step is None and stop.reason


def test_time_cap_stops_the_run():
    now = [0.0]
    stop, trainer = EarlyStopping(None, "entity/f1", 0, max_minutes=2.0, clock=lambda: now[0]), FakeTrainer(100)
    trainer.step = 5
    stop.on_step(trainer, 5)  # 0 minutes: goes on
    now[0] = 121.0
    trainer.step = 6
    with pytest.raises(StopTraining, match="2 minutes"):
        stop.on_step(trainer, 6)


def test_quick_recipe_is_the_old_default_run():
    for task in TASKS:
        assert apply_recipe(GPLinkerConfig(task=task), QUICK, 1200) == GPLinkerConfig(task=task)


def test_recipes_are_named_and_sized_in_epochs():
    ner, events, relations = get_task("ner"), get_task("events"), get_task("relations")
    assert ner.recipe().name == "msra" and events.recipe().name == relations.recipe().name == "generated"
    assert all(t.recipe("quick") is QUICK for t in TASKS.values())
    with pytest.raises(ValueError, match="no such ner recipe; choose one of msra, msra-pretrained, msra-lexicon, msra-bigrams, quick"):
        ner.recipe("fast")
    r = ner.recipe()
    cfg = apply_recipe(GPLinkerConfig(task="ner"), r, 49289)
    assert cfg.train.steps == -(-int(r.epochs * 49289) // r.batch_size)
    assert (cfg.recipe, cfg.patience, cfg.sort_by_length, cfg.train.schedule) == ("msra", r.patience, True, "cosine")
    line = describe("ner", cfg, 49289, 1000)
    assert line.startswith("recipe ner/msra:") and f"{cfg.train.steps} steps" in line


def test_fit_stops_early_and_ends_on_the_best_weights(tmp_path, monkeypatch):
    """A synthetic dev curve (evaluate patched): F1 0.2, 0.6, 0.5, 0.55, ... with patience 2 and a dev
    evaluation every 2 steps stops at step 8; best.safetensors is step 4's, and the model ends holding it."""
    g, rows = tiny_linker("ner")
    g.cfg.train.steps, g.cfg.eval_every, g.cfg.patience, g.cfg.sort_by_length = 40, 2, 2, True
    g.cfg.train.batch_size = 2
    curve, weights = iter([0.2, 0.6, 0.5, 0.55, 0.9, 0.9]), []

    def evaluate(dev):
        weights.append({k: v.clone() for k, v in g.model.state_dict().items()})
        return {"entity/f1": next(curve)}

    monkeypatch.setattr(g, "evaluate", evaluate)
    summary = g.fit(rows * 4, rows, tmp_path)
    assert summary["steps"] == 8 and "has not beaten 0.6000 (step 4) in 2 evaluations" in summary["stopped"]
    assert [s for s, _, _ in summary["curve"]] == [2, 4, 6, 8]
    assert read_best(tmp_path)["step"] == 4
    tensors, _ = read_safetensors(tmp_path / BEST_FILE)
    for k, v in weights[1].items():  # step 4's weights, the second evaluation
        assert torch.equal(tensors[k], v) and torch.equal(g.model.state_dict()[k], v)
    assert not torch.equal(weights[1]["spans.q_dense.weight"], weights[3]["spans.q_dense.weight"])
    assert [r["step"] for r in read_metrics(tmp_path) if "eval/entity/f1" in r] == [2, 4, 6, 8]
    assert read_safetensors(tmp_path / "model.safetensors")[1]["step"] == "8"  # the stop step was saved


def test_cli_prints_the_recipe_and_writes_its_settings(tmp_path, monkeypatch):
    # the recipe with a small dev and test set (an untrained model decodes slowly)
    recipes = get_task("relations").recipes
    monkeypatch.setitem(recipes, "generated", replace(recipes["generated"], n_dev=20, n_test=20))
    out = tmp_path / "run"
    r = runner.invoke(app, ["relations", "train", "--generate", "40", "--out", str(out), "--set", "train.steps=4",
                            "--set", "eval_every=2", *TINY])
    assert r.exit_code == 0, r.output
    assert "recipe relations/generated: TinyEncoder 16×1 layers from scratch, AdamW lr 0.003 cosine after 100" in r.output
    run = json.loads((out / "config.json").read_text(encoding="utf-8"))["run"]  # the run's one file of settings
    config = run["gplinker"]
    assert config["recipe"] == "generated" and config["patience"] == recipes["generated"].patience
    assert config["sort_by_length"] is True and config["train"]["schedule"] == "cosine"
    assert "test: held-out" in run["data"]["split"] and not (out / "gplinker.json").exists()
    quick = runner.invoke(app, ["ner", "train", "--recipe", "quick", "--generate", "20", "--out", str(tmp_path / "q"),
                                "--set", "train.steps=2", *TINY])
    assert quick.exit_code == 0, quick.output
    assert "recipe ner/quick:" in quick.output and "2 steps" in quick.output
    bad = runner.invoke(app, ["ner", "train", "--recipe", "fast", "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "no such ner recipe" in bad.output


def test_generated_vocabulary_covers_the_held_out_names():
    """Held-out names are drawn from other MSRA names: built from the training texts alone the vocabulary
    would read a third of their characters as [UNK]; the generated recipes build it over dev and test too."""
    relations, ner = get_task("relations"), get_task("ner")
    r = replace(relations.recipe(), n_train=200, n_dev=50, n_test=50)
    train, dev, _, _ = relations.recipe_data(r)
    chars = set("".join(relations.vocab_texts(r, train, dev)))
    test_chars = set("".join(s.text for s in relations.recipe_test(r)))
    assert test_chars <= chars and not test_chars <= set("".join(s.text for s in train))
    assert relations.vocab_texts(QUICK, train, dev) == [s.text for s in train]  # the quick recipe: train only
    assert ner.vocab_texts(ner.recipe(), train, dev) == [s.text for s in train]


def test_evaluate_without_data_uses_the_dev_set_of_the_runs_recipe():
    """`evaluate` with no --data scores a run on the dev set its recipe selected on: for `generated`, new
    sentences of the training templates (seed 1), not the quick recipe's built-in split."""
    from kexue.gplinker.run_folder import LinkerRun, dev_of_run
    relations = get_task("relations")
    data = {"train": "generated", "dev": "generated", "n": "40"}
    run = LinkerRun(GPLinkerConfig(task="relations", recipe="generated"), [], data)
    dev = dev_of_run(Path("run"), run)
    assert [r.text for r in dev] == [r.text for r in relations.recipe_data(relations.recipe("generated"), 40)[1]]
    assert [r.text for r in dev] != [r.text for r in relations.builtin.sample(40)[1]]
    old = LinkerRun(GPLinkerConfig(task="relations"), [], data)  # a run before recipes
    assert [r.text for r in dev_of_run(Path("run"), old)] == [r.text for r in relations.builtin.sample(40)[1]]


def test_evaluate_on_the_test_split_reads_the_built_in_test_set_of_the_runs_data():
    """`evaluate --split test` scores a run on the built-in test set of what it was trained on: MSRA test for
    ner (never its dev), the held-out templates for generated data; a run on the user's files has none."""
    from kexue.gplinker.run_folder import LinkerRun, test_of_run
    ner, relations = get_task("ner"), get_task("relations")
    run = LinkerRun(GPLinkerConfig(task="ner", recipe="msra-bigrams"), [], {"train": "msra", "dev": "msra"})
    test = test_of_run(Path("run"), run)
    assert len(test) == 5000 and [r.text for r in test] == [r.text for r in ner.recipe_test(ner.recipe())]
    generated = LinkerRun(GPLinkerConfig(task="relations", recipe="generated"), [], {"train": "generated"})
    assert [r.text for r in test_of_run(Path("run"), generated)] == [
        r.text for r in relations.recipe_test(relations.recipe("generated"))]
    with pytest.raises(ValueError, match="trained on your own files, which have no built-in test set; give --data"):
        test_of_run(Path("run"), LinkerRun(GPLinkerConfig(task="ner"), [], {"train": "mine.jsonl"}))
