"""Extractor scores: σ of the logit at the decoded cells, σ(weakest link) for an event or a triple.

The expected scores are computed another way: from the label codec's own cells (encode_events /
encode_relations of the one gold event or triple), not from the extractor's position lookup.
"""
import json
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue.gplinker import fixture
from kexue.gplinker.data import EventSample, EventSchema, RelationSample, RelationSchema, read_duee, read_duie
from kexue.gplinker.events import encode_events, oracle_logits, recoverable
from kexue.gplinker.extractor import Extractor
from kexue.gplinker.scores import score_entities, score_events, score_relations
from kexue.gplinker.relations import encode_relations
from tests.gplinker._tiny import fresh_run, tiny_linker


def char_offsets(text: str) -> list[tuple[int, int]]:
    """[CLS] + one token per character + [SEP], as the CharTokenizer."""
    return [(0, 0)] + [(i, i + 1) for i in range(len(text))] + [(0, 0)]


def noisy(sign: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Logits with the sign of `sign` and a random magnitude in [0.5, 6): decoding sees the same sets."""
    sign = torch.as_tensor(sign)
    return torch.sign(sign) * (0.5 + 5.5 * torch.rand(sign.shape, generator=gen))


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


EVENT_SCHEMA = EventSchema.read(fixture("duee_event_schema.json"))
EVENT_ROWS = [r for r in read_duee(fixture("duee_sample.json"), EVENT_SCHEMA)
              if r.events and recoverable(r, EVENT_SCHEMA, char_offsets(r.text))]


@settings(max_examples=25, deadline=None)
@given(k=st.integers(0, len(EVENT_ROWS) - 1), seed=st.integers(0, 2**31 - 1))
def test_event_score_is_sigma_of_its_weakest_link(k, seed):
    sample, labels = EVENT_ROWS[k], EVENT_SCHEMA.labels()
    offsets = char_offsets(sample.text)
    argu, head, tail = (noisy(x, torch.Generator().manual_seed(seed + j)) for j, x in
                        enumerate(oracle_logits(encode_events(sample, labels, offsets), len(offsets))))
    got = score_events(argu, head, tail, sample.text, offsets, labels)
    assert len(got) == len(set(sample.events))
    for out in got:
        # the gold event this output is
        args = {(out["event_type"], a["role"], a["argument"], a["argument_start_index"]) for a in out["arguments"]}
        args.add((out["event_type"], "触发词", out["trigger"], out["trigger_start_index"]))
        event = next(e for e in sample.events if set(e) == args)
        cells = encode_events(EventSample(sample.text, [event]), labels, offsets)
        weakest = min([float(argu[lab, h, t]) for lab, spans in enumerate(cells.argu) for h, t in spans]
                      + [float(head[i, j]) for i, j in cells.head] + [float(tail[i, j]) for i, j in cells.tail])
        assert out["score"] == pytest.approx(sig(weakest), abs=1e-6)
        for a in out["arguments"]:
            lab = labels.index((out["event_type"], a["role"]))
            h, t = a["argument_start_index"] + 1, a["argument_start_index"] + len(a["argument"])
            assert a["score"] == pytest.approx(sig(float(argu[lab, h, t])), abs=1e-6)
            assert sample.text[a["argument_start_index"]:][:len(a["argument"])] == a["argument"]


RELATION_SCHEMA = RelationSchema.read(fixture("duie_schema.json"))
RELATION_ROWS = [r for r in read_duie(fixture("duie_sample.json"), RELATION_SCHEMA) if r.triples]


def relation_logits(sample: RelationSample, offsets, gen) -> tuple[torch.Tensor, ...]:
    entity, head, tail = encode_relations(sample, RELATION_SCHEMA.predicates, offsets)
    out = []
    for sets in (entity, head, tail):
        x = torch.full((len(sets), len(offsets), len(offsets)), -1.0)
        for k, cells in enumerate(sets):
            for i, j in cells:
                x[k, i, j] = 1.0
        out.append(noisy(x, gen))
    return tuple(out)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(0, len(RELATION_ROWS) - 1), seed=st.integers(0, 2**31 - 1))
def test_triple_score_is_sigma_of_its_weakest_link(k, seed):
    sample, preds = RELATION_ROWS[k], RELATION_SCHEMA.predicates
    offsets = char_offsets(sample.text)
    entity, head, tail = relation_logits(sample, offsets, torch.Generator().manual_seed(seed))
    got = score_relations(entity, head, tail, sample.text, offsets, preds)
    assert {(x["subject"], x["predicate"], x["object"]) for x in got} == sample.spo()
    for x in got:
        s_start, o_start = x["subject_start_index"], x["object_start_index"]
        assert sample.text[s_start:s_start + len(x["subject"])] == x["subject"]
        assert sample.text[o_start:o_start + len(x["object"])] == x["object"]
        triple = (x["subject"], s_start, x["predicate"], x["object"], o_start)
        entity_cells, head_cells, tail_cells = encode_relations(RelationSample(sample.text, [triple]), preds, offsets)
        q = preds.index(x["predicate"])
        weakest = min([float(entity[0, i, j]) for i, j in entity_cells[0]]
                      + [float(entity[1, i, j]) for i, j in entity_cells[1]]
                      + [float(head[q, i, j]) for i, j in head_cells[q]]
                      + [float(tail[q, i, j]) for i, j in tail_cells[q]])
        assert x["score"] == pytest.approx(sig(weakest), abs=1e-6)


def test_a_triple_at_two_places_reports_its_stronger_occurrence():
    text = "阿里巴巴总部位于杭州，阿里巴巴创始人是马云。"
    preds = RELATION_SCHEMA.predicates
    offsets = char_offsets(text)
    q = preds.index("总部地点")
    sample = RelationSample(text, [("阿里巴巴", 0, "总部地点", "杭州", 8), ("阿里巴巴", 11, "总部地点", "杭州", 8)])
    entity, head, tail = relation_logits(sample, offsets, torch.Generator().manual_seed(0))
    # the second 阿里巴巴 (tokens 12..15) is the surer subject, the first one's head link the weakest of all
    entity[0, 1, 4], entity[0, 12, 15], head[q, 1, 9], head[q, 12, 9] = 2.0, 3.0, 0.25, 4.0
    tail[q, 4, 10], tail[q, 15, 10], entity[1, 9, 10] = 5.0, 5.0, 5.0
    (x,) = score_relations(entity, head, tail, text, offsets, preds)
    assert x["subject_start_index"] == 11 and x["score"] == pytest.approx(sig(3.0), abs=1e-6)
    head[q, 12, 9] = 0.1  # now the first occurrence (weakest 0.25) is the stronger one
    (x,) = score_relations(entity, head, tail, text, offsets, preds)
    assert x["subject_start_index"] == 0 and x["score"] == pytest.approx(sig(0.25), abs=1e-6)


def test_entity_score_is_sigma_of_its_logit():
    text, types = "张三在北京大学读书", ["PER", "LOC", "ORG"]
    offsets = char_offsets(text)
    logits = torch.randn(3, len(offsets), len(offsets), generator=torch.Generator().manual_seed(1)) - 1.5
    got = score_entities(logits, text, offsets, types)
    assert got, "the random logits should give a few spans"
    for e in got:
        assert e["text"] == text[e["start"]:e["end"]]
        # token i holds character i − 1
        assert e["score"] == pytest.approx(sig(float(logits[types.index(e["type"]), e["start"] + 1, e["end"]])),
                                           abs=1e-6)
        assert e["score"] > 0.5  # decoded at threshold 0


@pytest.mark.parametrize("task", ["events", "relations", "ner"])
def test_extractor_matches_predict_and_does_not_depend_on_the_batch(task, tmp_path):
    run = fresh_run(task, tmp_path / task, shift=-1.0)  # an untrained model at shift 0 takes a minute to decode
    g, rows = tiny_linker(task)
    texts = [r.text for r in rows] + ["短", "一句没有任何东西的话。"]
    ex = Extractor.from_pretrained(run, batch_size=3)
    together = ex(texts)
    # alone or length-batched: the same items, the same scores up to float rounding of padded batches
    alone = [ex(t) for t in texts]
    assert [without_scores(x) for x in alone] == [without_scores(x) for x in together]
    assert scores(alone) == pytest.approx(scores(together), abs=1e-5)
    predicted = Extractor.from_pretrained(run).g.predict(texts)
    n_items = 0
    for out, want in zip(together, predicted):
        if task == "events":
            # DuEE form holds one trigger per event: the first of the decoded event's trigger spans
            got = [(e["event_type"], e["trigger"], e["trigger_start_index"],
                    sorted((a["role"], a["argument"], a["argument_start_index"]) for a in e["arguments"]))
                   for e in out["event_list"]]
            assert got == [(e[0][0], *next(a[2:] for a in e if a[1] == "触发词"),
                            sorted(a[1:] for a in e if a[1] != "触发词")) for e in want]
            items = out["event_list"]
        elif task == "relations":
            assert {(x["subject"], x["predicate"], x["object"]) for x in out["spo_list"]} == want
            items = out["spo_list"]
        else:
            assert {(x["start"], x["end"], x["type"]) for x in out["entities"]} == want
            assert all(x["text"] == out["text"][x["start"]:x["end"]] for x in out["entities"])
            items = out["entities"]
        assert all(0.5 < x["score"] <= 1 for x in items)
        n_items += len(items)
    assert n_items > 0, "the untrained model should decode a few items to score"
    json.dumps(together, ensure_ascii=False)  # JSON-ready as it is


def without_scores(x):
    if isinstance(x, dict):
        return {k: without_scores(v) for k, v in x.items() if k != "score"}
    return [without_scores(v) for v in x] if isinstance(x, list) else x


def scores(x) -> list[float]:
    if isinstance(x, dict):
        return ([x["score"]] if "score" in x else []) + [s for v in x.values() for s in scores(v)]
    return [s for v in x for s in scores(v)] if isinstance(x, list) else []


def test_extractor_refuses_what_is_not_text(tmp_path):
    ex = Extractor.from_pretrained(fresh_run("relations", tmp_path / "r"))
    with pytest.raises(TypeError, match=r"texts\[1\] is a int"):
        ex(["好", 3])
    assert ex([]) == []


def test_predict_writes_what_the_extractor_returns(tmp_path):
    from typer.testing import CliRunner

    from kexue.gplinker.cli import app
    run = fresh_run("events", tmp_path / "ev", shift=-1.0)
    src = tmp_path / "in.txt"
    src.write_text('今天北京的天气很好。\n\n{"text": "苹果公司裁员200人。", "id": "x"}\n', encoding="utf-8")
    r = CliRunner().invoke(app, ["events", "predict", "--model", str(run), "--input", str(src),
                                 "--output", str(tmp_path / "out.jsonl")])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    want = Extractor.from_pretrained(run)(["今天北京的天气很好。", "苹果公司裁员200人。"])
    assert [without_scores(r) for r in rows] == [without_scores(w) for w in want[:1]] + [
        {"id": "x", **without_scores(want[1])}]
    assert scores(rows) == pytest.approx(scores(want), abs=1e-5)


@settings(max_examples=200, deadline=None)
@given(lengths=st.lists(st.integers(1, 130), max_size=70), slack=st.floats(1.0, 3.0), least=st.integers(1, 10))
def test_length_buckets_partition_by_length_within_the_slack(lengths, slack, least):
    from kexue.gplinker.extractor import length_buckets
    buckets = length_buckets(lengths, slack, least)
    assert sorted(k for b in buckets for k in b) == list(range(len(lengths)))  # each text once
    flat = [lengths[k] for b in buckets for k in b]
    assert flat == sorted(lengths)  # sorted, so buckets hold neighbouring lengths
    for b in buckets:
        longest, real = max(lengths[k] for k in b), sum(lengths[k] for k in b)
        # the padding bound holds for every bucket, up to its `least`-th text
        for m in range(least + 1, len(b) + 1):
            assert m * lengths[b[m - 1]] <= slack * sum(lengths[k] for k in b[:m]) + 1e-9
        assert longest * len(b) >= real
    for one, two in zip(buckets, buckets[1:]):  # a bucket is closed only when the next text broke the bound
        assert len(one) >= least
        assert (len(one) + 1) * lengths[two[0]] > slack * (sum(lengths[k] for k in one) + lengths[two[0]])


def test_a_micro_batch_in_length_buckets_gives_what_one_pass_gives(tmp_path):
    """extract_batch's buckets against one forward pass over the whole batch (slack = ∞): same items, scores
    equal up to float rounding of the padding."""
    run = fresh_run("ner", tmp_path / "ner")
    texts = ["张三", "张三在北京大学读书。" * 5, "李四去了上海。", "李四" * 30, "上海"] * 4
    bucketed, whole = Extractor.from_pretrained(run), Extractor.from_pretrained(run, batch_size=64)
    whole.slack = float("inf")
    from kexue.gplinker.extractor import length_buckets
    assert len(length_buckets([len(t) for t in texts], bucketed.slack)) > 1
    a, b = bucketed.extract_batch(texts), whole.extract_batch(texts)
    assert [without_scores(x) for x in a] == [without_scores(x) for x in b] and sum(len(x["entities"]) for x in a)
    assert scores(a) == pytest.approx(scores(b), abs=1e-5)
