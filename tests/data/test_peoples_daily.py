from collections import Counter

import pytest

from kexue.data import Sentence, load_peoples_daily, peoples_daily_text
from kexue.data.peoples_daily import CLOSERS, SENTENCE_END, parse_line, split_sentences


def test_counts(peoples_daily, peoples_daily_paragraphs):
    assert len(peoples_daily_paragraphs) == 19_484
    assert len(peoples_daily) == 44_533
    chars = sum(len(s.text) for s in peoples_daily)
    assert chars == sum(len(s.text) for s in peoples_daily_paragraphs) == 1_841_657
    assert sum(len(s.words) for s in peoples_daily) == 1_121_447


def test_entity_counts(peoples_daily):
    joined = Counter(kind for s in peoples_daily for *_, kind in s.entities())
    assert joined == {"nr": 20_093, "ns": 27_890, "nt": 3_573}
    tokens = Counter(kind for s in peoples_daily for *_, kind in s.entities(join_names=False))
    assert tokens == {"nr": 35_267, "ns": 27_890, "nt": 3_573}


def test_sentences_tile_their_paragraphs(peoples_daily, peoples_daily_paragraphs):
    assert "".join(s.text for s in peoples_daily) == "".join(p.text for p in peoples_daily_paragraphs)
    for s in peoples_daily[:5000]:
        assert "".join(s.words) == s.text and len(s.words) == len(s.pos)


def test_sentences_end_at_an_end_mark_or_a_paragraph_end(peoples_daily, peoples_daily_paragraphs):
    ends = Counter()
    for s in peoples_daily:
        last = next((w for w in reversed(s.words) if w not in CLOSERS), "")
        ends[last in SENTENCE_END] += 1
    # every sentence but those closing a paragraph without 。！？ (headlines, bylines, lists)
    unended = sum(1 for p in peoples_daily_paragraphs
                  if next((w for w in reversed(p.words) if w not in CLOSERS), "") not in SENTENCE_END)
    assert ends[False] == unended


def test_first_sentences(peoples_daily):
    first, second = peoples_daily[0], peoples_daily[1]
    assert first.text.startswith("迈向充满希望的新世纪")
    assert second.text == "中共中央总书记、国家主席江泽民"
    assert [(second.text[a:b], k) for a, b, k in second.entities()] == [("中共中央", "nt"), ("江泽民", "nr")]
    assert peoples_daily_text()[:2] == [first.text, second.text]


def test_name_joining():
    s = parse_line("记者/n  王/nr  永治/nr  牛/nr  爱民/nr  会见/v  奥尔布赖特/nr  克林顿/nr")
    assert [s.text[a:b] for a, b, _ in s.entities()] == ["王永治", "牛爱民", "奥尔布赖特", "克林顿"]


def test_brackets_and_line_ids_of_the_full_release():
    line = ("19980101-01-001-002/m  [中央/n  人民/n  广播/vn  电台/n]nt  和/c  "
            "[中国/ns  国际/n  广播/vn  电台/n]nt  [/w  ]/w")
    s = parse_line(line)
    assert s.text == "中央人民广播电台和中国国际广播电台[]"
    assert s.compounds == ((0, 4, "nt"), (5, 9, "nt"))
    # the compound replaces the 中国/ns inside it
    assert [(s.text[a:b], k) for a, b, k in s.entities()] == [
        ("中央人民广播电台", "nt"), ("中国国际广播电台", "nt")]


def test_a_compound_is_never_cut():
    s = parse_line("[新华/nz  。/w  社/n]nt  说/v  。/w  好/a")
    parts = split_sentences(s)
    assert [p.text for p in parts] == ["新华。社说。", "好"]
    assert parts[0].compounds == ((0, 3, "nt"),)


def test_quotes_stay_with_their_sentence():
    s = parse_line("他/r  说/v  ：/w  “/w  好/a  。/w  ”/w  我/r  笑/v  了/y  ！/w")
    assert [p.text for p in split_sentences(s)] == ["他说：“好。”", "我笑了！"]


def test_bad_token_names_file_and_line(tmp_path):
    path = tmp_path / "pd.txt"
    path.write_text("好/a\n\n坏了\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{path}:3: token '坏了' is not WORD/POS"):
        load_peoples_daily(path)


def test_unclosed_bracket(tmp_path):
    path = tmp_path / "pd.txt"
    path.write_text("[中央/n  人民/n\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{path}:1: bracket opened at word 0 is never closed"):
        load_peoples_daily(path)


def test_sentence_is_frozen():
    s = Sentence("好", ("好",), ("a",))
    with pytest.raises(AttributeError):
        s.text = "坏"  # type: ignore[misc]


def test_a_gbk_file_names_the_line_and_the_fix(tmp_path):
    path = tmp_path / "pd.txt"
    path.write_bytes("好/a\n".encode() + "人民/n\n".encode("gbk"))
    with pytest.raises(ValueError, match=rf"{path}:2: not UTF-8 .*iconv -f GBK -t UTF-8"):
        load_peoples_daily(path)
