"""Scoring as Su's scripts score (issue 15 §6): tokenised DuIE triples, normalised DuEE arguments, enum
arguments with their trigger's span, and the leaderboard's subset-event post-processing."""
import pytest

from kexue.gplinker.events import drop_subset_events
from kexue.gplinker.metrics import basic_tokens, event_prf, set_prf, spo_key

T = "触发词"


def test_triples_compare_as_their_tokens():
    assert basic_tokens("Jay  Chou") == ("jay", "chou") == basic_tokens(" jay chou ")
    assert basic_tokens("周 杰伦") == basic_tokens("周杰伦") == ("周", "杰", "伦")
    assert basic_tokens("Café") == ("cafe",)
    assert basic_tokens("JayChou") != basic_tokens("Jay Chou")  # a space between letters is a boundary
    gold = [{("周杰伦", "妻子", "Hannah Quinlivan")}]
    pred = [{("周 杰伦", "妻子", "hannah  quinlivan")}]
    assert set_prf(pred, gold, key=spo_key)["f1"] > 0.999
    assert set_prf(pred, gold)["f1"] < 1e-6  # compared as raw strings they differ


def test_arguments_compare_after_whitespace_and_case():
    gold = [[(("t", T, "胜", 5), ("t", "胜者", "NBA 湖人", 0))]]
    pred = [[(("t", T, "胜", 5), ("t", "胜者", "nba  湖人", 0))]]
    m = event_prf(pred, gold)
    assert m["event_level/correct"] == 1 and m["argument_level/correct"] == 1


def test_an_enum_argument_is_scored_with_its_trigger_span():
    gold = [[(("上市", "环节", "正式上市", -1), ("上市", T, "上市", 7))]]
    right = [[(("上市", "环节", "正式上市", -1), ("上市", T, "上市", 7))]]
    moved = [[(("上市", "环节", "正式上市", -1), ("上市", T, "上市", 2))]]
    assert event_prf(right, gold)["argument_level/correct"] == 1
    # duee_fin.py carries the enum on the trigger's span: a wrong trigger position makes it wrong too
    assert event_prf(moved, gold)["argument_level/correct"] == 0


def test_counts_come_with_the_scores():
    m = event_prf([[]], [[(("t", T, "x", 0),)]])
    assert (m["event_level/predicted"], m["event_level/gold"], m["event_level/correct"]) == (0, 1, 0)
    # the posts' ε made precision 1 with nothing predicted; it is undefined, and recall and F1 are 0
    assert m["event_level/precision"] is None and m["event_level/recall"] < 1e-9 and m["event_level/f1"] < 1e-9


def test_subset_events_are_dropped_as_su_does():
    big = (("t", T, "胜", 5), ("t", "胜者", "甲", 0), ("t", "败者", "乙", 2))
    small = (("t", T, "胜", 5), ("t", "胜者", "甲", 0))
    other = (("u", T, "胜", 5), ("u", "胜者", "甲", 0))
    assert drop_subset_events([small, big, other]) == [big, other]
    assert drop_subset_events([big, small]) == [big]
    # a subset of another type is kept; the trigger is left out of the comparison (his `isin`)
    no_trigger_variant = (("t", T, "败", 9), ("t", "胜者", "甲", 0))
    assert drop_subset_events([big, no_trigger_variant]) == [big]


def test_a_rate_with_nothing_behind_it_is_undefined_never_one():
    """The posts' ε-smoothing gave precision 1.0 with nothing predicted: an untrained model looked perfect."""
    from kexue.gplinker.metrics import set_prf

    nothing = set_prf([set(), set()], [{(0, 2, "PER")}, set()], prefix="entity")
    assert nothing["entity/precision"] is None and nothing["entity/recall"] == pytest.approx(0.0, abs=1e-9)
    assert nothing["entity/f1"] == pytest.approx(0.0, abs=1e-9)
    empty = set_prf([set()], [set()], prefix="entity")
    assert empty["entity/precision"] is None and empty["entity/recall"] is None and empty["entity/f1"] is None
    some = set_prf([{(0, 2, "PER")}], [{(0, 2, "PER"), (3, 5, "LOC")}], prefix="entity")
    assert some["entity/precision"] == pytest.approx(1.0, abs=1e-9) and some["entity/recall"] == pytest.approx(0.5, abs=1e-9)


def test_evaluate_refuses_another_tasks_file(event_run, tmp_path):
    """An events run evaluated on an NER file: one line, exit 2 (it printed P = R = F1 = 1.0000 before)."""
    from typer.testing import CliRunner

    from kexue.gplinker import fixture
    from kexue.gplinker.cli import app

    ner = tmp_path / "ner.jsonl"
    ner.write_text('{"text": "张三在北京。", "entities": [[0, 2, "PER"], [3, 5, "LOC"]]}\n', encoding="utf-8")
    r = CliRunner().invoke(app, ["events", "evaluate", "--model", str(event_run), "--data", str(ner)])
    assert r.exit_code == 2 and "event_list" in r.output and "another task" in r.output
    r = CliRunner().invoke(app, ["events", "evaluate", "--model", str(event_run), "--data",
                                 str(fixture("duee_sample.json")), "--json"])
    assert r.exit_code == 0, r.output  # its own task's file is scored as before
