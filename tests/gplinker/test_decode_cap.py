"""The decoding cap (caps.py, issue 22 §3): an untrained head's decoding is bounded per sentence and the
bound's hits are counted and stated; an oracle model on the fixtures never meets it; NER's evaluation has
per-type P/R/F1 beside the total."""
import json

import torch
from typer.testing import CliRunner

from kexue.gplinker.caps import MAX_ITEMS, DecodeCount, cap_line
from kexue.gplinker.cli import app
from kexue.gplinker.data import NERSample
from kexue.gplinker.events import decode_events, encode_events, oracle_logits
from kexue.gplinker.ner import decode_entities, encode_entities
from kexue.gplinker.relations import decode_relations, encode_relations
from kexue.gplinker.tasks import get_task

from ._tiny import fresh_run, tiny_linker


def _untrained(task: str, n: int = 300):
    """An untrained tiny linker (default init: about half of every head's cells positive), and n sentences."""
    torch.set_num_threads(1)
    g, rows = tiny_linker(task)
    if task == "ner":  # sentences of 40 characters: 3 · 40²/2 spans, about half of them positive
        rows = [NERSample(r.text * 4, []) for r in rows]
    return g, (rows * (n // len(rows) + 1))[:n]


def test_an_untrained_head_decodes_a_bounded_number_of_items_and_says_so():
    # the old decoder gave 62,311 events for these 300 sentences (208 a sentence) and no count
    for task, items in (("events", "event_level/predicted"), ("relations", "spo/predicted"),
                        ("ner", "entity/predicted")):
        g, rows = _untrained(task)
        m = g.evaluate(rows)
        assert m["decode/sentences"] == 300
        assert 0 < m["decode/capped"] <= 300, task
        assert m[items] <= MAX_ITEMS * 300, task
        assert all(len(p) <= MAX_ITEMS for p in g.predict([r.text for r in rows[:20]])), task
        assert f"decode cap hit in {m['decode/capped']} of 300 sentences" in cap_line(m)


def test_an_oracle_model_on_the_fixtures_never_meets_the_cap():
    count = DecodeCount()
    for task in ("events", "relations", "ner"):
        g, rows = tiny_linker(task)
        t = get_task(task)
        for r in rows:
            _, offsets = g.encode(r.text)
            n = len(offsets)
            if task == "events":
                outputs = [x[None] if x.ndim == 2 else x for x in oracle_logits(encode_events(r, g.labels, offsets), n)]
                got = t.decode(outputs, r.text, offsets, g.labels, trigger=False, count=count)
                # what the uncapped decoder reads back (gold, but for the events the codec absorbs: events.py)
                assert got == decode_events(*(x[0] if k else x for k, x in enumerate(outputs)), r.text, offsets,
                                            g.labels, trigger=False, max_items=10**9, max_steps=10**9)
                assert bool(got) == bool(r.events)
            elif task == "relations":
                sets = encode_relations(r, g.labels, offsets)
                outputs = [_dense(s, n) for s in sets]
                assert t.decode(outputs, r.text, offsets, g.labels, count=count) == r.spo()
            else:
                outputs = [_dense(encode_entities(r, g.labels, offsets), n)]
                assert t.decode(outputs, r.text, offsets, g.labels, count=count) == set(r.entities)
    assert count.sentences > 10 and count.capped == 0
    assert cap_line(count.metrics()).startswith(f"decode cap hit in 0 of {count.sentences} sentences")


def _dense(sets, n, big=1e4):
    x = torch.full((len(sets), n, n), -big)
    for k, cells in enumerate(sets):
        for i, j in cells:
            x[k, i, j] = big
    return x


def test_the_caps_keep_the_strongest():
    n = 20
    offsets = [(0, 0)] + [(i, i + 1) for i in range(n - 2)] + [(0, 0)]
    logits = torch.arange(3 * n * n, dtype=torch.float).reshape(3, n, n) + 1  # all positive, strongest last
    count = DecodeCount()
    got = decode_entities(logits, offsets, ["A", "B", "C"], max_items=5, count=count)
    assert got == {(offsets[i][0], offsets[j][1], "C") for i, j in [(18, 14), (18, 15), (18, 16), (18, 17), (18, 18)]}
    assert count.capped == 1
    entity = torch.full((2, n, n), -1.0)
    entity[0, 1, 1] = entity[1, 2, 2] = entity[1, 3, 3] = 1.0
    head = tail = torch.tensor([1.0, 2.0])[:, None, None].expand(2, n, n)
    got = decode_relations(entity, head, tail, "abcdefghijklmnopqr", offsets, ["p", "q"], max_items=2, count=count)
    assert got == {("a", "q", "b"), ("a", "q", "c")}  # the stronger predicate's two triples
    assert count.capped == 2 and count.sentences == 2


def test_ner_evaluate_reports_each_type(tmp_path):
    run = fresh_run("ner", tmp_path / "run", shift=-30.0)  # nothing predicted: precision is n/a, not 1.0
    data = tmp_path / "gold.jsonl"
    rows = [NERSample("张三在北京大学读书。", [(0, 2, "PER"), (3, 7, "ORG")])]
    data.write_text("".join(json.dumps({"text": r.text, "entities": [list(e) for e in r.entities]}, ensure_ascii=False)
                            + "\n" for r in rows), encoding="utf-8")
    r = CliRunner().invoke(app, ["ner", "evaluate", "--model", str(run), "--data", str(data), "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["entity/PER/gold"] == 1 and m["entity/ORG/gold"] == 1 and "entity/LOC/gold" not in m
    assert m["entity/PER/precision"] is None and m["entity/PER/recall"] < 1e-9
    r = CliRunner().invoke(app, ["ner", "evaluate", "--model", str(run), "--data", str(data)])
    assert r.exit_code == 0, r.output
    assert "entity/PER" in r.output and "entity/ORG" in r.output and "decode cap hit in 0 of 1" in r.output
