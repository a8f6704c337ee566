from collections import Counter

from kexue.data import load_sentiment


def test_counts_and_labels():
    reviews = load_sentiment()
    assert Counter(label for _, label in reviews) == {1: 16_548, 0: 18_575}
    assert all(text and text == text.strip() for text, _ in reviews)
    assert reviews[0][0].startswith("我正在写这本书的心得") and reviews[0][1] == 1
    assert reviews[-1][1] == 0


def test_users_files(tmp_path):
    (tmp_path / "p.txt").write_text("好\n\n很好\n", encoding="utf-8")
    (tmp_path / "n.txt").write_text(" 差 \n", encoding="utf-8")
    assert load_sentiment(tmp_path / "p.txt", tmp_path / "n.txt") == [("好", 1), ("很好", 1), ("差", 0)]
