"""Readers never crash on a bad line (issue 14 §2) and keep every gold label for evaluation (issue 15 §6).

Each bad input is one ValueError naming file, line and field; with skip_bad it is counted, never raised.
A label that cannot be placed stays in the gold set and is left out of training only.
"""
import json
import re

import pytest

from kexue.data import CharTokenizer
from kexue.gplinker import fixture
from kexue.gplinker.data import EventSchema, Problems, RelationSchema, read_duee, read_duie, read_ner
from kexue.gplinker.events import encode_events
from kexue.gplinker.relations import encode_relations

SCHEMA = EventSchema.read(fixture("duee_event_schema.json"))
RSCHEMA = RelationSchema.read(fixture("duie_schema.json"))
GOOD_EVENT = {"text": "张三会见李四", "event_list": [{"event_type": "人生-会见", "trigger": "会见", "trigger_start_index": 2,
                                                     "arguments": [{"role": "会见主体", "argument": "张三",
                                                                    "argument_start_index": 0}]}]}
GOOD_SPO = {"text": "马云的妻子是张瑛", "spo_list": [{"subject": "马云", "predicate": "妻子", "object": "张瑛"}]}
GOOD_NER = {"text": "马云来了", "entities": [[0, 2, "PER"]]}


def _event(**change):
    e = {**GOOD_EVENT["event_list"][0], **change}
    return {"text": GOOD_EVENT["text"], "event_list": [e]}


BAD_DUEE = [
    ({**GOOD_EVENT, "event_list": 5}, "field 'event_list' should be a list, got a number"),
    (_event(arguments=7), "event_list[0]: field 'arguments' should be a list, got a number"),
    (_event(trigger=12), "event_list[0]: field 'trigger' should be a string, got a number"),
    ({**GOOD_EVENT, "title": 7}, "field 'title' should be a string, got a number"),
    ({**GOOD_EVENT, "event_list": [5]}, "event_list[0]: should be an object, got a number"),
    (_event(arguments=[3]), "event_list[0].arguments[0]: should be an object, got a number"),
    (_event(arguments=[{"role": "会见主体", "argument": "张三", "argument_start_index": -1}]),
     "event_list[0].arguments[0].argument: start index -1 is negative (−1 is reserved for the values of an enum"),
    (_event(trigger_start_index=-3), "event_list[0].trigger: start index -3 is negative"),
    (_event(trigger_start_index="2"), "event_list[0].trigger: start index '2' is not an integer"),
    ({"text": 5}, "field 'text' should be a string, got a number"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object, got list"),
]


def _write(tmp_path, rows, name="d.json"):
    p = tmp_path / name
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                 encoding="utf-8")
    return p


def _check(reader, tmp_path, good, bad, message):
    """The bad line (line 2) is one error naming file, line and field; with skip_bad it is counted."""
    path = _write(tmp_path, [good, bad, good])
    with pytest.raises(ValueError) as e:
        reader(path)
    text = str(e.value)
    assert "\n" not in text and text.startswith(f"{path}:2: ") and message in text, text
    problems = Problems()
    got = reader(path, skip_bad=True, problems=problems)
    assert len(got) == 2 and len(problems) == 1 and message in problems.lines[0]


@pytest.mark.parametrize("bad, message", BAD_DUEE, ids=[m[:40] for _, m in BAD_DUEE])
def test_bad_duee_line(tmp_path, bad, message):
    _check(lambda p, **k: read_duee(p, SCHEMA, **k), tmp_path, GOOD_EVENT, bad, message)


BAD_DUIE = [
    ({**GOOD_SPO, "spo_list": 3}, "field 'spo_list' should be a list, got a number"),
    ({**GOOD_SPO, "spo_list": ["马云"]}, "spo_list[0]: should be an object, got a string"),
    ({**GOOD_SPO, "spo_list": [{"subject": 1, "predicate": "妻子", "object": "张瑛"}]},
     "spo_list[0]: field 'subject' should be a string, got a number"),
    ({**GOOD_SPO, "spo_list": [{"subject": "马云", "predicate": "妻子", "object": 4}]},
     "spo_list[0]: field 'object' is missing or not a string"),
    ("\"just a string\"", "expected a JSON object, got str"),
]


@pytest.mark.parametrize("bad, message", BAD_DUIE, ids=[m[:40] for _, m in BAD_DUIE])
def test_bad_duie_line(tmp_path, bad, message):
    _check(lambda p, **k: read_duie(p, RSCHEMA, **k), tmp_path, GOOD_SPO, bad, message)


BAD_NER = [
    ({"text": "马云", "entities": 3}, "field 'entities' should be a list, got a number"),
    ({"text": "马云", "entities": [[-1, 2, "PER"]]}, "entities[0] = [-1, 2, 'PER'] is not [start, end_exclusive"),
    ({"text": "马云", "entities": [[0, 2, 5]]}, "entities[0] = [0, 2, 5] is not"),
    ("{oops", "not valid JSON"),
]


@pytest.mark.parametrize("bad, message", BAD_NER, ids=[m[:40] for _, m in BAD_NER])
def test_bad_ner_line(tmp_path, bad, message):
    _check(read_ner, tmp_path, GOOD_NER, bad, message)


@pytest.mark.parametrize("reader", [lambda p, **k: read_duee(p, SCHEMA, **k), lambda p, **k: read_duie(p, RSCHEMA, **k),
                                    read_ner], ids=["duee", "duie", "ner"])
def test_not_utf8_names_the_file_and_line(tmp_path, reader):
    path = tmp_path / "gbk.json"
    good = json.dumps(GOOD_NER, ensure_ascii=False).encode("utf-8")
    path.write_bytes(good + b"\n" + json.dumps({"text": "马云"}, ensure_ascii=False).encode("gbk") + b"\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:2: not UTF-8 (byte 0x")):
        reader(path)
    problems = Problems()
    try:
        reader(path, skip_bad=True, problems=problems)
    except ValueError as e:  # the good line may be bad for this reader: then the file holds no samples
        assert "holds no samples" in str(e)
    assert any("not UTF-8" in line for line in problems.lines)


@pytest.mark.parametrize("reader", [read_duee, read_duie, read_ner], ids=["duee", "duie", "ner"])
def test_empty_file_holds_no_samples(tmp_path, reader):
    path = tmp_path / "empty.json"
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{path} holds no samples")):
        reader(path)


def test_an_unplaceable_argument_stays_gold_and_leaves_training(tmp_path):
    # 李四 is not at index 0: the sample stays, its gold event keeps the argument, training leaves it out
    row = _event(arguments=[{"role": "会见主体", "argument": "张三", "argument_start_index": 0},
                            {"role": "会见对象", "argument": "李四", "argument_start_index": 0}])
    path = _write(tmp_path, [row])
    problems = Problems()
    (s,) = read_duee(path, SCHEMA, problems=problems)
    assert ("人生-会见", "会见对象", "李四", 0) in s.events[0]
    assert len(problems) == 0 and len(problems.unplaced) == 1 and "'李四' is not at index 0" in problems.unplaced[0]
    assert "cannot be placed" in problems.summary(path)
    offsets = CharTokenizer.build([s.text]).encode_with_offsets(s.text)[1]
    lab = encode_events(s, SCHEMA.labels(), offsets)
    assert sum(map(len, lab.argu)) == 2  # the trigger and 张三; 李四 is not trained on


def test_an_absent_duie_subject_stays_gold_and_leaves_training(tmp_path):
    path = _write(tmp_path, [{"text": "马云  的妻子是张瑛", "spo_list": [
        {"subject": "马化腾", "predicate": "妻子", "object": "张瑛"},
        {"subject": "马云", "predicate": "妻子", "object": "张瑛"}]}])
    problems = Problems()
    (s,) = read_duie(path, RSCHEMA, problems=problems)
    assert s.text == "马云 的妻子是张瑛"  # duie_v1.py's whitespace normalisation
    assert s.spo() == {("马化腾", "妻子", "张瑛"), ("马云", "妻子", "张瑛")}
    assert len(problems.unplaced) == 1 and "'马化腾' does not occur" in problems.unplaced[0]
    offsets = CharTokenizer.build([s.text]).encode_with_offsets(s.text)[1]
    entity, head, tail = encode_relations(s, RSCHEMA.predicates, offsets)
    assert len(entity[0]) == 1 and sum(map(len, head)) == 1
