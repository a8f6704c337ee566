"""A GPLinker run folder: its settings, labels and data, and what a training command trains on.

kexue.fm/archives/8926, 8888, 8373. A GPLinker run is a kexue run folder (kexue/runs/, the format in
docs/ARCHITECTURE.md): its one file of settings, config.json, holds in its `run` section
{"gplinker": GPLinkerConfig, "labels": [...], "data": {"train", "dev", "schema", "n"}} (the data: paths,
or "generated"/"msra" for the built-in data), beside it vocab.txt (the tokenizer) and the weights.
A run of kexue ≤ 0.3 kept these in gplinker.json; kexue.runs reads that layout as this one.

- `read_linker_run(folder)`: (settings, labels, data) of a run; `linker_run_for(folder, task, verb)`
  the same, refusing another task's run in one line that names the command that takes it;
- `dev_of_run`: the labelled data `evaluate` takes without --data;
- `TrainingInputs` / `resumed_inputs`: what `train` trains on, and on a resume the run's own (a
  different --train, --dev, --schema, --generate or --recipe is one line);
- `load_training_data`: the rows, dev rows, labels and data record of those inputs, and
  `preset_of`: the settings they start from (the recipe, or the post's fine-tuning with --encoder),
  which the command line's --config and --set then change (kexue/cli_run.py's start_run).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kexue.gplinker.linker import GPLinkerConfig
from kexue.runs import OLD_GPLINKER_FILE, load_settings, read_settings
from kexue.train.checkpoint import CONFIG_FILE

SECTION = "gplinker"  # the key of config.json's `run` section that holds the GPLinkerConfig
BUILTIN = ("generated", "msra")  # the data record of a run on the built-in data


@dataclass
class LinkerRun:
    """What a GPLinker run folder says of itself."""
    cfg: GPLinkerConfig
    labels: list
    data: dict[str, Any]

    @property
    def task(self) -> str:
        return self.cfg.task


def read_linker_run(folder: str | Path) -> LinkerRun:
    """The settings, labels and data of a GPLinker run folder (either layout); an error naming the file
    when it is not one."""
    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file() and not (folder / OLD_GPLINKER_FILE).is_file():
        raise FileNotFoundError(f"{folder / CONFIG_FILE}: not a GPLinker run folder (train one with `kexue "
                                "gplinker TASK train`)")
    raw = read_settings(folder)
    if not isinstance(raw.get(SECTION), dict):
        raise ValueError(f"{folder / CONFIG_FILE}: not a GPLinker run folder (no '{SECTION}' settings); give the "
                         "folder of `kexue gplinker TASK train`")
    labels = [tuple(x) if isinstance(x, list) else x for x in raw.get("labels", [])]
    return LinkerRun(load_settings(folder, GPLinkerConfig, SECTION, raw), labels, dict(raw.get("data") or {}))


def linker_run_for(folder: str | Path, task: str, verb: str) -> LinkerRun:
    """`read_linker_run`, checked to be a `task` run before anything is read or written."""
    from kexue.gplinker.tasks import get_task
    run = read_linker_run(folder)
    if run.task != task:
        raise ValueError(f"{folder} is {get_task(run.task).article} {run.task} run; use `kexue gplinker {run.task} "
                         f"{verb}`")
    return run


def dev_of_run(folder: str | Path, run: LinkerRun) -> list:
    """The labelled data a run is evaluated on without --data: its own dev file, or the built-in dev set of
    the recipe it was trained with; else an error saying --data is needed."""
    from kexue.gplinker.tasks import get_task
    task, dev = get_task(run.task), run.data.get("dev")
    if dev in BUILTIN:  # the dev set of the recipe it was trained with
        return task.recipe_data(recipe_of_run(task, run), int(run.data.get("n", 1000)))[1]
    if not dev:
        raise ValueError(f"{folder} was trained without a dev file; give --data FILE to evaluate it")
    schema = Path(run.data["schema"]) if run.data.get("schema") else None
    return task.read(Path(dev), schema, False)[0]


def test_of_run(folder: str | Path, run: LinkerRun) -> list:
    """The built-in test set of the data a run was trained on (MSRA test for the ner task; the held-out
    templates for generated data); a run on the user's own files has none: an error saying --data is needed."""
    from kexue.gplinker.tasks import get_task
    task = get_task(run.task)
    if run.data.get("train") not in BUILTIN:
        raise ValueError(f"{folder} was trained on your own files, which have no built-in test set; give --data "
                         "FILE to evaluate it on your test file")
    return task.recipe_test(recipe_of_run(task, run))


def recipe_of_run(task, run: LinkerRun):
    """The recipe whose built-in data a run was trained on (older runs: quick; "fine-tune", a run of
    --encoder without --recipe, read the default recipe's data)."""
    recipe = run.cfg.recipe or "quick"
    return task.recipe(None if recipe == "fine-tune" else recipe)


@dataclass
class TrainingInputs:
    """What `kexue gplinker TASK train` is asked to train on (None: not given)."""
    train: Path | None = None
    dev: Path | None = None
    schema: Path | None = None
    generate: int | None = None
    recipe: str | None = None
    encoder: Path | None = None


def resumed_inputs(folder: Path, given: TrainingInputs) -> TrainingInputs:
    """On a resume: the data and recipe of the run in `folder`, as its settings record them; those given on
    the command line must be the run's own (else one line saying what the run was trained on). Without a
    run in `folder` (nothing to resume yet), `given` unchanged."""
    if not (folder / CONFIG_FILE).is_file() and not (folder / OLD_GPLINKER_FILE).is_file():
        return given
    run = read_linker_run(folder)
    data, builtin = run.data, run.data.get("train") in BUILTIN
    recorded = {"--train": None if builtin else data.get("train") or None,
                "--dev": None if builtin else data.get("dev") or None, "--schema": data.get("schema") or None}
    for flag, path in (("--train", given.train), ("--dev", given.dev), ("--schema", given.schema)):
        if path is not None and str(path.resolve()) != recorded[flag]:
            raise ValueError(f"{flag} {path}: the run in {folder} was trained with {flag} {recorded[flag]} "
                             f"({'the built-in data' if builtin else 'its own files'}); drop {flag} to resume on the "
                             "run's own data")
    n = int(data.get("n", given.generate or 0)) if builtin else given.generate
    if builtin and given.generate is not None and given.generate != n:
        raise ValueError(f"--generate {given.generate}: the run in {folder} was trained on {n} built-in sentences; "
                         "drop --generate to resume on them")
    recipe = run.cfg.recipe
    if recipe in (None, "", "fine-tune"):
        recipe = given.recipe
    elif given.recipe is not None and given.recipe != recipe:
        raise ValueError(f"--preset {given.recipe}: the run in {folder} was trained with --preset {recipe}; drop "
                         "--preset to resume it")
    paths = [Path(recorded[f]) if recorded[f] else None for f in ("--train", "--dev", "--schema")]
    return replace(given, train=paths[0], dev=paths[1], schema=paths[2], generate=n, recipe=recipe)


@dataclass
class TrainingData:
    """The rows a run trains on, its dev rows (None without), labels, the record of where they came from,
    the texts its vocabulary is built on, the recipe chosen, and the readers' problem lines."""
    recipe: Any
    rows: list
    dev: list | None
    labels: list
    data: dict[str, Any]
    texts: list[str]
    problems: list[str] = field(default_factory=list)


def load_training_data(task: str, inputs: TrainingInputs, skip_bad: bool = False, resume: bool = False) -> TrainingData:
    """The data of `inputs`: the given files, else the recipe's built-in data (no options: the task's recipe
    to a plateau; a --train file keeps the short run unless --recipe says otherwise)."""
    from kexue.gplinker.data import Problems
    from kexue.gplinker.recipes import check_encoder
    from kexue.gplinker.tasks import get_task
    t = get_task(task)
    if inputs.train is None and (inputs.dev is not None or inputs.schema is not None):
        raise ValueError(f"{'--dev' if inputs.dev is not None else '--schema'} is given without --train; give "
                         "--train FILE too (without --train the built-in data is used)")
    chosen = t.recipe(inputs.recipe or ("quick" if inputs.train is not None else None))
    check_encoder(chosen, inputs.recipe, inputs.encoder, resume)  # a from-scratch recipe with --encoder, ...
    if inputs.train is None:
        rows, dev, labels, data = t.recipe_data(chosen, inputs.generate)
        return TrainingData(chosen, rows, dev, labels, data, t.vocab_texts(chosen, rows, dev))
    problems = Problems()
    rows, labels = t.read(inputs.train, inputs.schema, skip_bad, problems)
    t.check_labelled(rows, inputs.train)
    said = [problems.summary(inputs.train)] if problems.summary(inputs.train) else []
    dev = t.read(inputs.dev, inputs.schema, False)[0] if inputs.dev else None  # dev is never filtered
    data = {"train": str(inputs.train.resolve()), "dev": str(inputs.dev.resolve()) if inputs.dev else "",
            "schema": str(inputs.schema.resolve()) if inputs.schema else ""}
    return TrainingData(chosen, rows, dev, labels, data, [r.text for r in rows], said)


def preset_of(task: str, d: TrainingData, encoder: Path | None) -> GPLinkerConfig:
    """The settings a run starts from before --config and --set: the recipe chosen, or with --encoder the
    post's fine-tuning (its steps count the training rows)."""
    from kexue.gplinker.recipes import apply_recipe
    from kexue.gplinker.train import fine_tune_recipe
    if encoder is not None and not d.recipe.pretrained:
        return replace(fine_tune_recipe(GPLinkerConfig(task=task), len(d.rows))[0], recipe="fine-tune")
    return apply_recipe(GPLinkerConfig(task=task), d.recipe, len(d.rows))


def plan_line(task: str, cfg: GPLinkerConfig, d: TrainingData, encoder: Path | None = None) -> str:
    """The line that names what the run will do (printed at its start)."""
    from kexue.gplinker.recipes import describe
    from kexue.gplinker.train import fine_tune_recipe
    if cfg.recipe == "fine-tune":
        return fine_tune_recipe(cfg, len(d.rows))[1]
    return describe(task, cfg, len(d.rows), len(d.dev or []), encoder)
