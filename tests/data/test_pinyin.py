import pytest

from kexue.data import load_pinyin_table, load_pinyin_words


def test_table():
    table = load_pinyin_table()
    assert len(table) == 5_076
    assert table["长"] == ["chang", "zhang"]  # 182 uses against 59
    assert table["行"][0] == "xing" and table["的"][0] == "de"
    assert all(s.islower() and s.isascii() for readings in table.values() for s in readings)


def test_words():
    words = load_pinyin_words()
    assert len(words) == 55_745
    assert words["长城"] == ["chang", "cheng"]
    assert all(len(w) == len(s) for w, s in words.items())


def test_users_file(tmp_path):
    path = tmp_path / "py.txt"
    path.write_text("重 zhong\n重庆 Chong qing\n重要 zhong yao\n坏行 huai\n", encoding="utf-8")
    assert load_pinyin_table(path) == {"重": ["zhong", "chong"], "庆": ["qing"], "要": ["yao"]}
    path.write_text("好 hao\n坏 h4o\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{path}:2: expected 'WORD SYLLABLE ...'"):
        load_pinyin_table(path)


def test_tone_pinyin_reads_words_in_context():
    from kexue.data.pinyin import tone_pinyin

    assert tone_pinyin(["中国"]) == ["zhong1", "guo2"]
    # the polyphone 行 by its word: a bank, walking
    assert tone_pinyin(["银行"]) == ["yin2", "hang2"] and tone_pinyin(["行走"]) == ["xing2", "zou3"]
    assert tone_pinyin(["长城", "长大"]) == ["chang2", "cheng2", "zhang3", "da4"]
    # neutral tone 5, ü as v, no pinyin for digits, Latin letters and punctuation
    assert tone_pinyin(["他", "的", "女儿", "，", "1998年", "ok"]) == ["ta1", "de5", "nv3", "er2", "nian2"]


def test_tone_pinyin_word_by_word_equals_one_call_on_the_sentence():
    from pypinyin import Style, lazy_pinyin

    from kexue.data.peoples_daily import load_peoples_daily
    from kexue.data.pinyin import tone_pinyin

    for s in list(load_peoples_daily())[:300]:
        whole = lazy_pinyin(list(s.words), style=Style.TONE3, neutral_tone_with_five=True, errors="ignore")
        assert tone_pinyin(s.words) == whole, s.text
        assert all(t[:-1].isascii() and t[:-1].isalpha() and t[-1] in "12345" for t in whole)
