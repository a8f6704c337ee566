"""`kexue reproduce --set TOPIC.key=value`: each setting reaches its topic's preset, bad ones stop the run first."""
import dataclasses
import importlib
import inspect
import json
import typing

import pytest
from typer.testing import CliRunner

from kexue.cli import app
from kexue.reproduce import TOPICS, topic_presets

runner = CliRunner()


def _a_number_setting(cfg, prefix: str = "") -> tuple[str, object]:
    """The dotted key of the first int or float setting of a preset (nested settings searched), and a
    value different from its own."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if hints[f.name] in (int, float) and not isinstance(value, bool):
            return prefix + f.name, value + 1
    for f in dataclasses.fields(cfg):
        if dataclasses.is_dataclass(getattr(cfg, f.name)):
            return _a_number_setting(getattr(cfg, f.name), f"{prefix}{f.name}.")
    raise AssertionError(f"{type(cfg).__name__} has no int/float setting")


def _get(cfg, key: str):
    for name in key.split("."):
        cfg = getattr(cfg, name)
    return cfg


@pytest.mark.parametrize("topic", TOPICS)
def test_every_topic_takes_its_settings(topic):
    module = importlib.import_module(f"kexue.{topic}.reproduce")
    assert "cfg" in inspect.signature(module.reproduce).parameters
    key, value = _a_number_setting(module.preset("smoke"))
    got = topic_presets([topic], "smoke", [f"{topic}.{key}={value}"])
    assert list(got) == [topic] and _get(got[topic], key) == value
    assert got[topic] != module.preset("smoke") and type(got[topic]) is type(module.preset("smoke"))


def test_nested_keys_and_several_topics():
    got = topic_presets(["attention", "gplinker"], "smoke",
                        ["gplinker.extract.steps=7", "attention.quality.train.steps=2", "gplinker.keep_best=false"])
    assert got["gplinker"].extract.steps == 7 and got["gplinker"].keep_best is False
    assert got["attention"].quality.train.steps == 2
    assert topic_presets(["attention"], "smoke", None) == {}


@pytest.mark.parametrize("item, message", [
    ("nosuch.x=1", "--set nosuch.x=1: unknown topic 'nosuch'; choose from attention, roformer"),
    ("gplinker.x=1", "--set gplinker.x=1: topic gplinker is not in this run (attention)"),
    ("attention.nokey=1", "--set attention.nokey: unknown setting 'nokey' of AttentionPreset; known:"),
    ("attention.quality.train.steps=many", "--set attention.quality.train.steps=many: expected an int"),
    ("steps=3", "--set 'steps=3': expected TOPIC.key=value"),
    ("attention.quality", "--set 'attention.quality': expected TOPIC.key=value"),
])
def test_bad_settings_are_one_clear_line(item, message):
    with pytest.raises(ValueError) as e:
        topic_presets(["attention"], "smoke", [item])
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_cli_routes_a_setting_to_the_topic_run(tmp_path):
    out = tmp_path / "rep"
    r = runner.invoke(app, ["reproduce", "attention", "--preset", "smoke", "--out", str(out),
                            "--set", "attention.quality.train.steps=2"])
    assert r.exit_code == 0, r.output
    config = json.loads((out / "attention" / "runs" / "lm-softmax-seed0" / "config.json").read_text(encoding="utf-8"))
    assert config["train"]["steps"] == 2  # the smoke preset's 3, replaced
    assert json.loads((out / "results.json").read_text(encoding="utf-8"))["meta"]["sets"] == [
        "attention.quality.train.steps=2"]


def test_cli_bad_setting_stops_before_any_topic(tmp_path):
    out = tmp_path / "rep"
    r = runner.invoke(app, ["reproduce", "attention", "--preset", "smoke", "--out", str(out),
                            "--set", "attention.nokey=1"])
    assert r.exit_code != 0 and "unknown setting 'nokey' of AttentionPreset" in r.output
    assert not out.exists()


def _fake_topics(monkeypatch, calls: list):
    """Two topics that run in no time (kexue.fake_a / kexue.fake_b), each recording that it ran."""
    import sys
    import types

    import kexue.reproduce as rp
    from kexue.result import Claim, TopicResult

    monkeypatch.setattr(rp, "TOPICS", ("fake_a", "fake_b"))
    for name in ("fake_a", "fake_b"):
        module = types.ModuleType(f"kexue.{name}.reproduce")
        module.preset = lambda preset: {}

        def reproduce(preset, out_dir, cfg=None, name=name):
            calls.append(name)
            return TopicResult(topic=name, post=1, title=name, date="2020-01-01", preset=preset,
                               claims=[Claim(f"{name} {len(calls)}", "m", "held")])
        module.reproduce = reproduce
        monkeypatch.setitem(sys.modules, f"kexue.{name}.reproduce", module)
    return rp


def test_one_topic_into_a_page_keeps_the_others(tmp_path, monkeypatch):
    """`kexue reproduce TOPIC --out DIR` dropped DIR's other topics from results.json and the page."""
    from kexue.result import load_results

    calls: list = []
    rp = _fake_topics(monkeypatch, calls)
    rp.run_topics(["fake_a"], "smoke", tmp_path)
    rp.run_topics(["fake-b"], "smoke", tmp_path)  # the command line's spelling of a topic is accepted
    meta, page = load_results(tmp_path / "results.json")
    assert [r.topic for r in page] == ["fake_a", "fake_b"] and meta["kept_from"]["topics"] == ["fake_a"]
    rp.run_topics(["fake_a"], "smoke", tmp_path)  # redone: replaced, not added twice
    _, page = load_results(tmp_path / "results.json")
    assert [(r.topic, r.claims[0].claim) for r in page] == [("fake_a", "fake_a 3"), ("fake_b", "fake_b 2")]
    with pytest.raises(ValueError, match="holds a --preset smoke page"):
        rp.run_topics(["fake_b"], "quick", tmp_path)
    assert calls == ["fake_a", "fake_b", "fake_a"]  # the refused run ran nothing


def test_the_command_into_a_folder_of_other_topics_keeps_them(tmp_path, monkeypatch):
    """`kexue reproduce fake_b --out DIR` into the page of `kexue reproduce fake_a --out DIR` (every topic's
    default --out is the same runs/reproduce): both topics in results.json and on the page, not fake_b alone."""
    from kexue.result import load_results

    calls: list = []
    _fake_topics(monkeypatch, calls)
    for topic in ("fake_a", "fake_b"):
        r = runner.invoke(app, ["reproduce", topic, "--preset", "smoke", "--out", str(tmp_path)])
        assert r.exit_code == 0, r.output
    _, page = load_results(tmp_path / "results.json")
    assert [r.topic for r in page] == ["fake_a", "fake_b"]
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "fake_a 1" in html and "fake_b 2" in html
