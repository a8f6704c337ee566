import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kexue.data import SPECIAL_TOKENS, CharTokenizer, WordPieceTokenizer, train_wordpiece
from kexue.data.tokenizers import SPACE_TOKEN, char_key

# Chinese, ASCII, full-width digits, and spaces (ASCII, ideographic, tab, newline)
MIXED = st.text(st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x4E00 + 400),
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    st.sampled_from("０１２３４５６７８９"),
    st.sampled_from(" \u3000\t\n"),
), max_size=40)


@pytest.fixture(scope="session")
def char_tok(peoples_daily):
    return CharTokenizer.build([s.text for s in peoples_daily[:3000]] + [" abcdefghij xyz"])


@pytest.fixture(scope="session")
def wordpiece_dir(peoples_daily, tmp_path_factory):
    return train_wordpiece([s.text for s in peoples_daily[:2000]], 2600, tmp_path_factory.mktemp("wp"))


@pytest.fixture(scope="session")
def wp_tok(wordpiece_dir):
    return WordPieceTokenizer(wordpiece_dir)


def test_char_specials_and_build_order():
    tok = CharTokenizer.build(["ab b", "ｂc"], normalize=True)
    assert tok.vocab[:5] == list(SPECIAL_TOKENS) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    # b: 3 (ｂ is b after NFKC), then a, c, [SPACE] once each, by code point
    assert tok.vocab[5:] == ["b", SPACE_TOKEN, "a", "c"]
    assert CharTokenizer.build(["ab b", "ｂc"], min_count=2).vocab[5:] == ["b"]
    assert CharTokenizer.build(["ab b", "ｂc"], max_size=7).vocab_size == 7


def test_char_encode_is_one_token_per_character(char_tok):
    text = "１９９８年，江泽民 说"
    ids, offsets = char_tok.encode_with_offsets(text)
    assert ids[0] == char_tok.cls_id and ids[-1] == char_tok.sep_id and len(ids) == len(text) + 2
    assert offsets == [(0, 0), *[(i, i + 1) for i in range(len(text))], (0, 0)]
    assert char_tok.encode("１９９８") == char_tok.encode("1998")
    assert char_tok.decode(ids) == "1998年,江泽民 说"
    assert char_tok.encode(text, add_special=False) == ids[1:-1]


def test_char_max_len(char_tok):
    text = "中华人民共和国"
    assert char_tok.encode(text, max_len=4) == char_tok.encode_with_offsets(text, max_len=4)[0]
    assert char_tok.encode(text, max_len=4) == [2, *char_tok.encode("中华", add_special=False), 3]
    assert char_tok.encode_with_offsets(text, max_len=4)[1] == [(0, 0), (0, 1), (1, 2), (0, 0)]
    assert len(char_tok.encode(text, add_special=False, max_len=3)) == 3
    with pytest.raises(ValueError, match="max_len=1"):
        char_tok.encode(text, max_len=1)


@settings(max_examples=200, deadline=None)
@given(text=MIXED)
def test_char_offsets_round_trip(char_tok, text):
    ids, offsets = char_tok.encode_with_offsets(text)
    for i, (start, end) in zip(ids[1:-1], offsets[1:-1]):
        assert end == start + 1
        if i != char_tok.unk_id:
            assert char_tok.id_to_token(i) == char_key(text[start:end])
    decoded = char_tok.decode(ids)
    expected = "".join(" " if char_key(c) == SPACE_TOKEN else
                       (char_key(c) if char_tok.token_to_id(char_key(c)) is not None else "[UNK]") for c in text)
    assert decoded == expected


def test_char_save_load(char_tok, tmp_path):
    path = char_tok.save(tmp_path / "vocab.txt")
    again = CharTokenizer.load(path)
    assert again.vocab == char_tok.vocab
    assert CharTokenizer.load(tmp_path).vocab == char_tok.vocab  # the folder works too
    text = "江泽民 1998年 ｘｙｚ"
    assert again.encode_with_offsets(text) == char_tok.encode_with_offsets(text)
    assert path.read_text(encoding="utf-8").split("\n")[:6] == [*SPECIAL_TOKENS, char_tok.vocab[5]]


def test_char_load_errors(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n[CLS]\n[MASK]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{path}:4: expected special token '\[SEP\]'"):
        CharTokenizer.load(path)
    path.write_text("\n".join([*SPECIAL_TOKENS, "a", "b", "a"]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{path}:8: token 'a' repeats line 6"):
        CharTokenizer.load(path)
    with pytest.raises(FileNotFoundError, match="vocab file not found"):
        CharTokenizer.load(tmp_path / "missing.txt")


def test_nfkc_keeps_original_offsets():
    tok = CharTokenizer.build(["5㎏ ½"], normalize=True)
    assert tok.vocab[5:] == ["1⁄2", "5", "[SPACE]", "kg"]
    ids, offsets = tok.encode_with_offsets("5㎏", add_special=False)
    assert offsets == [(0, 1), (1, 2)] and tok.id_to_token(ids[1]) == "kg"
    assert CharTokenizer.build(["１"], normalize=False).vocab[5:] == ["１"]


def test_wordpiece_vocab_has_the_requested_size(wordpiece_dir, wp_tok):
    assert wp_tok.vocab_size == 2600
    lines = wordpiece_dir.read_text(encoding="utf-8").split("\n")
    assert lines[:5] == list(SPECIAL_TOKENS) and len(lines) == 2601 and lines[-1] == ""


def test_wordpiece_full_width_digits_read_as_half_width(wp_tok):
    assert wp_tok.encode("１９９８年３月") == wp_tok.encode("1998年3月")
    ids, offsets = wp_tok.encode_with_offsets("１９９８年", add_special=False)
    assert [wp_tok.id_to_token(i) for i in ids][-1] == "年" and offsets[-1] == (4, 5)


def test_wordpiece_splits_chinese_characters(wp_tok):
    ids = wp_tok.encode("江泽民说", add_special=False)
    assert [wp_tok.id_to_token(i) for i in ids] == ["江", "泽", "民", "说"]
    assert wp_tok.decode(wp_tok.encode("江泽民说，1998年")) == "江泽民说,1998年"


@settings(max_examples=200, deadline=None)
@given(text=MIXED)
def test_wordpiece_offsets_round_trip(wp_tok, text):
    ids, offsets = wp_tok.encode_with_offsets(text)
    assert ids[0] == wp_tok.cls_id and ids[-1] == wp_tok.sep_id and offsets[0] == offsets[-1] == (0, 0)
    for i, (start, end) in zip(ids[1:-1], offsets[1:-1]):
        assert 0 <= start < end <= len(text)
        if i != wp_tok.unk_id:
            surface = unicodedata.normalize("NFKC", text[start:end]).lower()
            assert wp_tok.id_to_token(i).removeprefix("##") == surface


@settings(max_examples=100, deadline=None)
@given(text=MIXED)
def test_wordpiece_decode_keeps_the_non_space_characters(wp_tok, text):
    ids = wp_tok.encode(text)
    if wp_tok.unk_id not in ids:
        normal = unicodedata.normalize("NFKC", text).lower()
        assert wp_tok.decode(ids).replace(" ", "") == "".join(normal.split())


def test_wordpiece_save_load(wp_tok, tmp_path):
    again = WordPieceTokenizer.load(wp_tok.save(tmp_path / "vocab.txt"))
    assert again.vocab == wp_tok.vocab
    text = "中国１９９８年 Hello"
    assert again.encode_with_offsets(text) == wp_tok.encode_with_offsets(text)


def test_wordpiece_vocab_in_bert_order(tmp_path):
    # BERT's Chinese vocab puts [UNK] at 100, [CLS] at 101, ...; ids are looked up, not assumed
    vocab = ["[PAD]", "a", "b", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "##b", "中"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = WordPieceTokenizer(tmp_path)
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 3, 4, 5, 6)
    assert tok.encode("ab 中x") == [4, 1, 7, 8, 3, 5]


def test_wordpiece_vocab_without_specials(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\na\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab.txt: the vocab lacks \[CLS\], \[SEP\], \[MASK\]"):
        WordPieceTokenizer(tmp_path / "vocab.txt")
