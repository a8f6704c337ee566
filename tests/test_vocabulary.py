"""One vocabulary across topics (issue 24 §5), through the real command: `--preset` names a recipe,
`--model` a run folder to read, `decoder-only` and `decoder_only` are one topic, `--set`'s own example
is a key the settings take, every group's help has an example that parses, completion installs, and
GPLinker's data formats are in its help and in the README.

Before (e9de7cb): gplinker took `--recipe` and decoder-only `--size` for what other topics call
`--preset`; diffusion read its run with `--checkpoint`, and the exports took it as a positional argument;
`kexue reproduce decoder-only` was an unknown topic; `--set lr` answered "e.g. --set lr=3e-4", itself
refused; no group's help had an example."""
import re
import shlex
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from kexue.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("attention", "roformer", "gplinker", "diffusion", "lru", "decoder-only", "mad", "report")


def leaves(cmd=None, path=("kexue",)):
    """(path, click command) of every command that runs something."""
    cmd = cmd or typer.main.get_command(app)
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            yield from leaves(sub, (*path, name))
    else:
        yield path, cmd


def options(cmd, hidden: bool) -> set[str]:
    return {o for p in cmd.params if p.param_type_name == "option" and bool(p.hidden) == hidden for o in p.opts}


@pytest.mark.parametrize("args", [["decoder-only", "compare", "--preset", "tiny"],
                                  ["gplinker", "ner", "train", "--preset", "quick"]])
def test_a_recipe_is_chosen_with_preset_and_the_old_spellings_are_hidden_aliases(args):
    r = runner.invoke(app, [*args, "--print-config"])
    assert r.exit_code == 0, r.output
    old = {"decoder-only": "--size", "gplinker": "--recipe"}[args[0]]
    alias = runner.invoke(app, [*[old if a == "--preset" else a for a in args], "--print-config"])
    assert alias.exit_code == 0 and alias.stdout == r.stdout
    # no command shows --recipe; --size, where it is shown, is a size (of a model, of an image), not a recipe
    for path, cmd in leaves():
        assert "--recipe" not in options(cmd, hidden=False), path
        size = next((p for p in cmd.params if "--size" in p.opts and not p.hidden), None)
        assert size is None or "preset" not in (size.help or "").split("(")[0], (path, size.help)


def test_a_run_to_read_is_given_with_model(tmp_path):
    absent = tmp_path / "absent"
    for args in (["diffusion", "sample", "--out", str(tmp_path / "s.png")], ["lru", "evaluate"],
                 ["gplinker", "ner", "evaluate"], ["diffusion", "export", str(tmp_path / "onnx")],
                 ["gplinker", "export", str(tmp_path / "onnx")]):
        r = runner.invoke(app, [*args, "--model", str(absent)])
        assert r.exit_code == 2 and "No such option" not in r.output and str(absent) in r.stderr, r.output
    for path, cmd in leaves():  # the old --checkpoint still works, hidden
        assert "--checkpoint" not in options(cmd, hidden=False), path


def test_decoder_only_and_decoder_dash_only_are_one_topic_everywhere():
    for spelling in ("decoder-only", "decoder_only"):
        r = runner.invoke(app, ["reproduce", spelling, "--set", f"{spelling}.nope=1", "--out", "unused"])
        assert r.exit_code == 2 and "unknown setting 'nope' of DecoderOnlyPreset" in r.stderr, r.stderr
        r = runner.invoke(app, [spelling, "rank", "--n", "8", "--d", "4", "--kinds", "causal"])
        assert r.exit_code == 0, r.output
    assert "decoder_only" not in runner.invoke(app, ["--help"]).stdout  # one spelling shown


def test_the_example_of_a_bad_set_is_itself_accepted():
    r = runner.invoke(app, ["lru", "train", "--set", "lr", "--print-config"])
    assert r.exit_code == 2
    example = re.search(r"e\.g\. --set (\S+)", r.stderr).group(1)
    assert runner.invoke(app, ["lru", "train", "--set", example, "--print-config"]).exit_code == 0, example


@pytest.mark.parametrize("group", GROUPS)
def test_every_group_help_has_an_example_that_parses(group):
    text = runner.invoke(app, [group, "--help"], terminal_width=200).stdout
    assert "Example:" in text, text
    examples = [line.strip() for line in text.split("Example:")[1].splitlines() if line.strip().startswith("kexue ")]
    assert examples
    for example in examples:
        words = shlex.split(example)[1:]
        cmd = typer.main.get_command(app)
        while hasattr(cmd, "commands"):
            cmd = cmd.commands[words.pop(0)]  # a KeyError names a command that does not exist
        given = {w.split("=")[0] for w in words if w.startswith("--")}
        assert given <= options(cmd, hidden=False), (example, given - options(cmd, hidden=False))


def test_shell_completion_is_installable(monkeypatch):
    import typer.completion

    assert "--install-completion" in runner.invoke(app, ["--help"]).stdout
    # the shell is found from the process tree, which a test's (an xdist worker's, CI's) need not have
    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "bash")
    r = runner.invoke(app, ["--show-completion"], prog_name="kexue")
    assert r.exit_code == 0 and "_KEXUE_COMPLETE" in r.stdout, r.output


def test_gplinker_data_formats_are_in_its_help_and_the_readme():
    text = runner.invoke(app, ["gplinker", "--help"], terminal_width=200).stdout
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    fixtures = ROOT / "kexue" / "gplinker" / "fixtures"
    for doc in (text, readme):
        assert '"entities": [[0, 2, "PER"]' in doc or "[start, end" in doc  # the NER line format
        for word in ("DuEE", "DuIE", "duee_sample.json", "duie_sample.json", "duee_event_schema.json"):
            assert word in doc, word
    for name in ("duee_sample.json", "duie_sample.json", "duee_event_schema.json", "duie_schema.json"):
        assert (fixtures / name).is_file(), name
