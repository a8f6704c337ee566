"""Labels past max_len tokens, which training cannot see, are counted and said (issue 24 §6, last line).

The posts cut every text at maxlen and drop the labels past the cut silently; `kexue gplinker ... train`
says, before its first step, how many labels it will not train, in how many sentences, and what to do, and
records the count in the run's config.json (its run section).
"""
import json

from typer.testing import CliRunner

from kexue.config import override
from kexue.gplinker.cli import app
from kexue.gplinker.data import NERSample
from tests.gplinker._tiny import tiny_linker
from tests.gplinker.conftest import TINY_RUN

# max_len=16: [CLS] + 14 characters + [SEP]; the characters [0, 14) are read
LINES = [
    {"text": "张三在北京。", "entities": [[0, 2, "PER"], [3, 5, "LOC"]]},  # short: nothing cut
    # 李四 read; 上海 (30..32) and 王五 (35..37) past the cut
    {"text": "李四" + "的" * 28 + "上海" + "和" * 3 + "王五" + "。", "entities": [[0, 2, "PER"], [30, 32, "LOC"],
                                                                        [35, 37, "PER"]]},
    # 北京 ends at character 14, the last one read: kept; 南京 (13..15) is cut at its last character
    {"text": "的" * 12 + "北京" + "的" * 10, "entities": [[12, 14, "LOC"]]},
    {"text": "的" * 13 + "南京" + "的" * 10, "entities": [[13, 15, "LOC"]]},
]


def _train(tmp_path, *sets: str):
    data = tmp_path / "ner.jsonl"
    data.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in LINES), encoding="utf-8")
    return CliRunner().invoke(app, ["ner", "train", "--train", str(data), "--out", str(tmp_path / "run"),
                                    *TINY_RUN, *sets])


def test_train_says_how_many_labels_past_max_len_it_drops(tmp_path):
    """Said before the first step (before the summary) and recorded in the run's config.json."""
    r = _train(tmp_path, "--set", "max_len=16")
    assert r.exit_code == 0, r.output
    line = ("warning: 3 labels in 2 sentences end past max_len=16; they are not trained: raise --set max_len or "
            "split the texts\n")
    assert line in r.stderr, r.stderr
    assert r.output.index(line) < r.output.index("final loss"), r.output
    config = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))
    assert config["run"]["beyond_max_len"] == {"labels": 3, "sentences": 2, "max_len": 16}


def test_nothing_is_said_when_every_label_fits(tmp_path):
    r = _train(tmp_path, "--set", "max_len=64")
    assert r.exit_code == 0, r.output
    assert "past max_len" not in r.output
    config = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))
    assert config["run"]["beyond_max_len"] == {"labels": 0, "sentences": 0, "max_len": 64}


# the output with one cell per distinct label: events' argu (an argument), relations' tail (a triple), ner's one
PER_LABEL = {"events": 0, "relations": 2, "ner": 0}


def _coded(g, sample, offsets) -> int:
    return sum(len(cells) for cells in g.label_sets(sample, offsets)[PER_LABEL[g.cfg.task]])


def _past_14(task: str, s) -> int:
    """The labels of a fixture sample (no spaces: a character a token) that end past character 14."""
    if task == "events":
        return sum(st + len(a) > 14 for event in s.events for _, _, a, st in event)
    if task == "relations":
        return sum(max(ss + len(sub), os + len(obj)) > 14 for sub, ss, _, obj, os in s.triples)
    return sum(end > 14 for _, end, _ in s.entities)


def test_the_count_for_every_task_is_the_labels_past_the_cut():
    """Per task, on its fixture cut at max_len=16 (14 characters read): the labels that end past character
    14 and the sentences they are in; as many as training codes from the whole text and not from the cut
    one, or more where two events share an argument (a cell counts once) — never fewer."""
    for task in ("events", "relations", "ner"):
        g, rows = tiny_linker(task)
        if task == "ner":
            rows = [NERSample(x["text"], [tuple(e) for e in x["entities"]]) for x in LINES]
        g.cfg = override(g.cfg, ["max_len=16"])
        past = [_past_14(task, s) for s in rows]
        assert sum(past) > 0 and not any(" " in s.text for s in rows), task
        assert g.beyond_max_len(rows) == (sum(past), sum(n > 0 for n in past)), task
        lost = sum(_coded(g, s, g.tokenizer.encode_with_offsets(s.text)[1]) - _coded(g, s, g.encode(s.text)[1])
                   for s in rows)
        assert 0 < lost <= sum(past), task
