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
