"""Readers: the fixtures read, bad input is one line naming file, line and field; relations round trip."""
import json
import re

import pytest

from kexue.data import CharTokenizer
from kexue.gplinker import fixture
from kexue.gplinker.data import EventSchema, Problems, RelationSchema, read_duee, read_duie, read_ner
from kexue.gplinker.ner import decode_entities, encode_entities
from kexue.gplinker.relations import decode_relations, encode_relations
from kexue.gplinker.linker import labels_tensor

SCHEMA = EventSchema.read(fixture("duee_event_schema.json"))


def _write(tmp_path, rows, name="d.json"):
    p = tmp_path / name
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                 encoding="utf-8")
    return p


def test_schema_labels_put_the_trigger_first():
    labels = SCHEMA.labels()
    assert labels[0] == ("竞赛行为-胜负", "触发词") and ("司法行为-入狱", "刑期") in labels
    assert len(labels) == sum(1 + len(r) for r in SCHEMA.roles.values())


@pytest.mark.parametrize("row, message", [
    ("{not json", "d.json:1: not valid JSON"),
    ({"text": "张三来了", "event_list": [{"event_type": "人生-会见", "trigger": "来", "trigger_start_index": 2,
                                          "arguments": [{"role": "主角", "argument": "张三",
                                                         "argument_start_index": 0}]}]},
     "role '主角' is not a role of '人生-会见'"),
    ({"text": "x", "event_list": [{"event_type": "无此类型"}]}, "event_type '无此类型' is not in the schema"),
    ({"id": 1}, "field 'text' is missing"),
])
def test_bad_duee_lines_are_one_line_errors(tmp_path, row, message):
    path = _write(tmp_path, [row])
    with pytest.raises(ValueError, match=re.escape(message)) as e:
        read_duee(path, SCHEMA)
    assert "\n" not in str(e.value) and str(path) in str(e.value)
    problems = Problems()
    with pytest.raises(ValueError, match="holds no samples"):
        read_duee(path, SCHEMA, skip_bad=True, problems=problems)
    assert len(problems) == 1 and message in problems.lines[0]


def test_duee_fin_title_enum_and_located_arguments(tmp_path):
    schema_path = _write(tmp_path, [{"event_type": "公司上市", "role_list": [
        {"role": "上市公司"}, {"role": "环节", "enum_items": ["筹备上市", "正式上市"]}]}], "s.json")
    schema = EventSchema.read(schema_path)
    assert ("公司上市", "环节=正式上市") in schema.labels()
    path = _write(tmp_path, [{"title": "快讯", "text": "小米今日上市", "event_list": [
        {"event_type": "公司上市", "trigger": "上市", "arguments": [
            {"role": "上市公司", "argument": "小米"}, {"role": "环节", "argument": "正式上市"}]}]}])
    (s,) = read_duee(path, schema)
    assert s.text == "快讯\n小米今日上市"
    assert s.events == [(("公司上市", "上市公司", "小米", 3), ("公司上市", "环节", "正式上市", -1),
                         ("公司上市", "触发词", "上市", 7))]
    from kexue.gplinker.events import recoverable
    tok = CharTokenizer.build([s.text])
    assert recoverable(s, schema, tok.encode_with_offsets(s.text)[1])


def test_duie_fixture_round_trips():
    schema = RelationSchema.read(fixture("duie_schema.json"))
    samples = read_duie(fixture("duie_sample.json"), schema)
    tok = CharTokenizer.build(s.text for s in samples)
    import torch
    for s in samples:
        _, offsets = tok.encode_with_offsets(s.text)
        n = len(offsets)
        parts = encode_relations(s, schema.predicates, offsets)
        logits = []
        for sets in parts:
            x = torch.full((len(sets), n, n), -1e4)
            for k, cells in enumerate(sets):
                for i, j in cells:
                    x[k, i, j] = 1e4
            logits.append(x)
        assert decode_relations(*logits, s.text, offsets, schema.predicates) == s.spo()
    assert labels_tensor([[{(1, 2)}, set()]]).tolist() == [[[[1, 2]], [[0, 0]]]]


def test_bad_duie_and_ner_lines(tmp_path):
    schema = RelationSchema.read(fixture("duie_schema.json"))
    path = _write(tmp_path, [{"text": "马云", "spo_list": [{"subject": "马云", "predicate": "父亲", "object": "马云"}]}])
    with pytest.raises(ValueError, match=r"d\.json:1: spo_list\[0\]: predicate '父亲' is not in the schema"):
        read_duie(path, schema)
    path = _write(tmp_path, [{"text": "马云来了", "entities": [[0, 2, "PER"]]}, {"text": "x", "entities": [[0, 5, "PER"]]}])
    with pytest.raises(ValueError, match=r"d\.json:2: entities\[0\]"):
        read_ner(path)


def test_ner_codec_round_trip():
    from kexue.gplinker.data import NERSample
    import torch
    s = NERSample("北京大学在北京", [(0, 4, "ORG"), (0, 2, "LOC"), (5, 7, "LOC")])
    tok = CharTokenizer.build([s.text])
    _, offsets = tok.encode_with_offsets(s.text)
    sets = encode_entities(s, ["LOC", "ORG"], offsets)
    x = torch.full((2, len(offsets), len(offsets)), -1.0)
    for k, cells in enumerate(sets):
        for i, j in cells:
            x[k, i, j] = 1.0
    assert decode_entities(x, offsets, ["LOC", "ORG"]) == set(s.entities)
