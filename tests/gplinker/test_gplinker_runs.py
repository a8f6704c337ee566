"""The run folder knows its task, schema, labels and data (issue 14 §5), every case a one-line answer."""
import json

import pytest
from typer.testing import CliRunner

from kexue.config import override
from kexue.gplinker import fixture
from kexue.gplinker.cli import app
from kexue.gplinker.tasks import TASKS, get_task
from kexue.gplinker.run_folder import read_linker_run
from kexue.gplinker.train import GPLinkerConfig, build_linker, fine_tune_recipe

runner = CliRunner()
TINY = ["--set", "train.steps=2", "--set", "train.batch_size=4", "--set", "encoder.hidden=16",
        "--set", "encoder.heads=2", "--set", "encoder.layers=1", "--set", "head.head_size=8"]


def _one_line_error(r, *parts):
    assert r.exit_code == 2, r.output
    text = r.output.strip()
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    for p in parts:
        assert p in text, text


def test_the_run_records_task_labels_and_data(event_run):
    run = read_linker_run(event_run)
    assert run.task == "events" and run.data["dev"].endswith("duee_sample.json")
    assert run.data["train"].endswith("duee_sample.json") and run.labels and not (event_run / "gplinker.json").exists()


def test_evaluate_without_data_uses_the_runs_dev_file(event_run):
    r = runner.invoke(app, ["events", "evaluate", "--model", str(event_run), "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    # every gold event of the fixture's dev file is counted
    from kexue.gplinker.data import read_duee
    from kexue.gplinker.data import EventSchema
    gold = read_duee(fixture("duee_sample.json"), EventSchema.read(fixture("duee_event_schema.json")))
    assert m["event_level/gold"] == sum(len(set(s.events)) for s in gold)


def test_evaluate_without_a_dev_file_says_it_needs_data(tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["events", "train", "--train", str(fixture("duee_sample.json")), "--out", str(out), *TINY])
    assert r.exit_code == 0, r.output
    _one_line_error(runner.invoke(app, ["events", "evaluate", "--model", str(out)]), "give --data")


def test_the_wrong_tasks_command_names_the_right_one(event_run, tmp_path):
    before = sorted(p.name for p in event_run.iterdir())
    _one_line_error(runner.invoke(app, ["relations", "evaluate", "--model", str(event_run)]),
                    f"{event_run} is an events run; use `kexue gplinker events evaluate`")
    src = tmp_path / "in.txt"
    src.write_text("马云创办了阿里巴巴。\n", encoding="utf-8")
    for task in ("relations", "ner"):
        _one_line_error(runner.invoke(app, [task, "predict", "--model", str(event_run), "--input", str(src),
                                            "--output", str(tmp_path / "out.jsonl")]),
                        f"{event_run} is an events run; use `kexue gplinker events predict`")
        assert not (tmp_path / "out.jsonl").exists()  # nothing written before the check
    assert sorted(p.name for p in event_run.iterdir()) == before
    # the right command on the same run works
    r = runner.invoke(app, ["events", "predict", "--model", str(event_run), "--input", str(src),
                            "--output", str(tmp_path / "out.jsonl"), "--device", "cpu"])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("device, says", [("tpu0", "not a device"), ("cuda:absent", "CUDA device"),
                                          ("meta", "not a device GPLinker runs on")])
@pytest.mark.parametrize("command", ["evaluate", "predict", "serve"])
def test_a_bad_device_is_one_line(event_run, tmp_path, command, device, says):
    import torch
    if device == "cuda:absent":  # one index past this machine's GPUs: absent everywhere, no skip needed
        device = f"cuda:{torch.cuda.device_count()}"
    args = {"evaluate": ["events", "evaluate", "--model", str(event_run)],
            "predict": ["events", "predict", "--model", str(event_run), "--input", str(fixture("duee_sample.json")),
                        "--output", str(tmp_path / "out.jsonl")],
            "serve": ["serve", "--model", str(event_run), "--port", "1"]}[command]
    _one_line_error(runner.invoke(app, [*args, "--device", device]), f"--device {device}", says)
    assert not (tmp_path / "out.jsonl").exists()


def test_resolve_device_is_trains_default():
    import torch

    from kexue.gplinker.extractor import resolve_device
    assert resolve_device(None) == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device; use cpu"):
            resolve_device("cuda")


@pytest.mark.parametrize("flag", ["--dev", "--schema"])
def test_dev_or_schema_without_train_is_an_error(tmp_path, flag):
    r = runner.invoke(app, ["events", "train", flag, str(fixture("duee_sample.json")), "--out", str(tmp_path / "x"),
                            *TINY])
    _one_line_error(r, f"{flag} is given without --train")
    assert not (tmp_path / "x").exists()


def test_a_file_of_another_task_is_an_error_naming_the_field(tmp_path):
    r = runner.invoke(app, ["events", "train", "--train", str(fixture("duie_sample.json")), "--out",
                            str(tmp_path / "x"), *TINY])
    _one_line_error(r, "'event_list'", "another task")


def test_metric_table_shows_counts(event_run):
    """Each row's counts (predicted, gold, correct) beside its P/R/F1 are the metrics' own counts."""
    r = runner.invoke(app, ["events", "evaluate", "--model", str(event_run)])
    assert r.exit_code == 0, r.output
    header = next(x for x in r.output.splitlines() if "metric" in x)
    assert [c.strip() for c in header.strip("┃│ ").split("┃")] == ["metric", "precision", "recall", "f1", "predicted",
                                                                 "gold", "correct"]
    m = json.loads(runner.invoke(app, ["events", "evaluate", "--model", str(event_run), "--json"]).stdout)
    for group in ("event_level", "argument_level"):
        row = next(x for x in r.output.splitlines() if x.strip("│ ").startswith(group))
        cells = [c.strip() for c in row.strip("│ ").split("│")]
        assert cells[1:4] == [f"{m[f'{group}/{k}']:.4f}" for k in ("precision", "recall", "f1")]
        assert cells[4:] == [str(m[f"{group}/{k}"]) for k in ("predicted", "gold", "correct")]


def test_registry_and_start_decision(tmp_path):
    assert set(TASKS) == {"events", "relations", "ner"}
    with pytest.raises(ValueError, match="unknown GPLinker task 'spo'"):
        get_task("spo")
    cfg = GPLinkerConfig(task="ner")
    g, how = build_linker(cfg, ["PER"], ["马云来了"], tmp_path / "none")
    assert how == "fresh" and g.task.name == "ner"
    # resume without a run folder starts fresh; with one, it rebuilds the saved run (its vocabulary, not "x")
    g.save_meta(tmp_path)
    g2, how = build_linker(override(cfg, ["train.steps=7"]), ["PER"], ["x"], tmp_path, resume=True)
    assert how == "resume" and g2.cfg.train.steps == 7 and g2.tokenizer.vocab == g.tokenizer.vocab
    # a setting a resume may not change is one line naming it
    with pytest.raises(ValueError, match=f"max_len=7: the run in {tmp_path} was trained with max_len={cfg.max_len}"):
        build_linker(GPLinkerConfig(task="ner", max_len=7), ["PER"], ["x"], tmp_path, resume=True)
    with pytest.raises(ValueError, match="labels differ"):
        build_linker(cfg, ["LOC"], ["x"], tmp_path, resume=True)


def test_a_fresh_run_starts_from_train_seed(tmp_path):
    """Two processes running the same train command start from the same weights (train.seed), whatever
    the global RNG did before; another seed, other weights."""
    import torch
    cfg = GPLinkerConfig(task="ner")
    torch.manual_seed(123)
    one, _ = build_linker(cfg, ["PER"], ["马云来了"], tmp_path / "a")
    torch.rand(7)
    two, _ = build_linker(cfg, ["PER"], ["马云来了"], tmp_path / "b")
    for (name, a), b in zip(one.model.state_dict().items(), two.model.state_dict().values()):
        assert torch.equal(a, b), name
    three, _ = build_linker(override(cfg, ["train.seed=1"]), ["PER"], ["马云来了"], tmp_path / "c")
    assert not torch.equal(one.model.encoder.embed.weight, three.model.encoder.embed.weight)


def test_fine_tune_recipe_is_the_posts():
    cfg, line = fine_tune_recipe(GPLinkerConfig(task="relations"), 1000)
    assert cfg.train.lr == 2e-5 and cfg.train.optimizer == "adam" and cfg.train.batch_size == 64
    assert cfg.train.steps == 20 * 16 and "duie_v1.py" in line
    cfg, _ = fine_tune_recipe(GPLinkerConfig(task="events"), 64)
    assert cfg.train.steps == 200 * 2 and cfg.train.batch_size == 32


def test_a_second_train_into_the_same_folder_is_refused_before_any_work(event_run):
    """A second `train` into a run folder used to delete the first run's best.safetensors."""
    best = (event_run / "best.safetensors").read_bytes()
    r = runner.invoke(app, ["events", "train", "--train", str(fixture("duee_sample.json")), "--out", str(event_run),
                            *TINY])
    _one_line_error(r, str(event_run), "--resume", "--overwrite")
    assert (event_run / "best.safetensors").read_bytes() == best
    r = runner.invoke(app, ["relations", "train", "--out", str(event_run), *TINY])
    _one_line_error(r, "kexue gplinker events train")  # another command's run, named


def test_overwrite_replaces_a_run_and_records_the_command(tmp_path):
    out = tmp_path / "run"
    args = ["events", "train", "--train", str(fixture("duee_sample.json")), "--out", str(out), *TINY]
    assert runner.invoke(app, args).exit_code == 0
    assert json.loads((out / "run.json").read_text())["command"] == "kexue gplinker events train"
    r = runner.invoke(app, [*args, "--overwrite"])
    assert r.exit_code == 0, r.output
    assert len(json.loads((out / "run.json").read_text())["sessions"]) == 1  # a new run, not a continued one


def test_a_run_in_the_old_layout_still_loads_evaluates_and_resumes(tmp_path):
    """A run of kexue ≤ 0.3 kept its task, settings, labels and data in gplinker.json, and config.json's run
    section was the GPLinkerConfig itself: load_run, evaluate without --data and --resume read it as before."""
    import shutil

    from kexue.gplinker.train import load_run
    new = tmp_path / "new"
    args = ["events", "train", "--train", str(fixture("duee_sample.json")), "--dev", str(fixture("duee_sample.json"))]
    assert runner.invoke(app, [*args, "--out", str(new), *TINY]).exit_code == 0
    old = tmp_path / "old"
    shutil.copytree(new, old)
    config = json.loads((old / "config.json").read_text(encoding="utf-8"))
    settings = config["run"]
    (old / "gplinker.json").write_text(json.dumps({"task": "events", "config": settings["gplinker"],
                                                   "labels": settings["labels"], "data": settings["data"]}))
    (old / "config.json").write_text(json.dumps({"run": settings["gplinker"], "train": config["train"]}))
    record = json.loads((old / "run.json").read_text(encoding="utf-8"))
    (old / "run.json").write_text(json.dumps({**record, "options": {"encoder": None}}))
    assert read_linker_run(old) == read_linker_run(new)
    g = load_run(old)
    assert g.cfg == load_run(new).cfg and g.labels == load_run(new).labels
    r = runner.invoke(app, ["events", "evaluate", "--model", str(old), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout) == json.loads(
        runner.invoke(app, ["events", "evaluate", "--model", str(new), "--json"]).stdout)
    r = runner.invoke(app, ["events", "train", "--out", str(old), "--resume", "--set", "train.steps=3"])
    assert r.exit_code == 0 and "after 3 steps" in r.output, r.output
    # a setting a resume may not change is refused in one line naming it, before any training
    r = runner.invoke(app, ["events", "train", "--out", str(old), "--resume", "--set", "train.lr=0.5"])
    _one_line_error(r, "--set train.lr=0.5: the run in", "only train.steps")


def test_a_resume_trains_on_the_runs_own_data_and_recipe(tmp_path):
    """run_folder.resumed_inputs, the library's answer to "what does --resume train on": the run's files
    and recipe, whatever the command line leaves out; a different file or recipe is one line."""
    from pathlib import Path

    from kexue.config import to_dict
    from kexue.gplinker.run_folder import TrainingInputs, resumed_inputs
    from kexue.runs import write_settings
    train = tmp_path / "train.jsonl"
    train.write_text("")
    data = {"train": str(train.resolve()), "dev": "", "schema": ""}
    write_settings(tmp_path, {"gplinker": to_dict(GPLinkerConfig(task="ner", recipe="quick")), "labels": ["PER"],
                              "data": data})
    got = resumed_inputs(tmp_path, TrainingInputs())
    assert (got.train, got.dev, got.schema, got.recipe) == (train.resolve(), None, None, "quick")
    assert resumed_inputs(tmp_path, TrainingInputs(train=train)).train == train.resolve()
    with pytest.raises(ValueError, match=f"--train other.jsonl: the run in {tmp_path} was trained with --train"):
        resumed_inputs(tmp_path, TrainingInputs(train=Path("other.jsonl")))
    with pytest.raises(ValueError, match="--preset msra: the run in .* was trained with --preset quick"):
        resumed_inputs(tmp_path, TrainingInputs(recipe="msra"))
    assert resumed_inputs(tmp_path / "none", TrainingInputs(recipe="msra")).recipe == "msra"  # nothing to resume
