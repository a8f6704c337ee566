"""Lexicon features (kexue/gplinker/lexicon.py, issue 22): each character's B/M/E/S roles in the lexicon words
that match, per category; the embedding they are added to; a run that keeps its lexicon."""
import json

import pytest
import torch
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from kexue.data import CharTokenizer
from kexue.gplinker.cli import app
from kexue.gplinker.lexicon import (CATEGORIES, LEXICON_FILE, ROLES, LexiconEmbedding, Matcher, attach_lexicon,
                                    build_lexicon, read_lexicon, save_lexicon)
from kexue.gplinker.onnx_export import export_onnx
from kexue.gplinker.train import encoder_head_groups, load_run

from ._tiny import tiny_linker

torch.set_num_threads(1)
runner = CliRunner()
WORDS = {"北京": {"LOC"}, "北京大学": {"ORG"}, "大学": set(), "京": set(), "张三": {"PER"}}
TEXT = "张三在北京大学"


def _bit(f, c, category, role):
    return int(f[c, CATEGORIES.index(category) * len(ROLES) + ROLES.index(role)])


def test_each_character_gets_its_roles_in_the_matched_words():
    tok = CharTokenizer.build([TEXT])
    f = Matcher(WORDS, tok.char_id, tok.unk_id).features(torch.tensor([tok.encode(TEXT)]))[0]
    assert f.shape == (len(TEXT) + 2, 16)
    assert not f[0].any() and not f[-1].any()  # [CLS] and [SEP] match nothing
    at = {ch: c + 1 for c, ch in enumerate(TEXT)}  # token index of each (distinct) character
    # 北京 (LOC) and 北京大学 (ORG) begin at 北; 京 is the end of 北京, a middle of 北京大学 and a word by itself
    assert _bit(f, at["北"], "LOC", "B") and _bit(f, at["北"], "ORG", "B") and _bit(f, at["北"], "word", "B")
    assert _bit(f, at["京"], "LOC", "E") and _bit(f, at["京"], "ORG", "M") and _bit(f, at["京"], "word", "S")
    assert _bit(f, at["大"], "ORG", "M") and _bit(f, at["大"], "word", "B") and not _bit(f, at["大"], "LOC", "M")
    assert _bit(f, at["学"], "ORG", "E") and _bit(f, at["学"], "word", "E")
    assert _bit(f, at["张"], "PER", "B") and _bit(f, at["三"], "PER", "E") and not f[at["在"]].any()
    assert int(f.sum()) == 3 + 5 + 3 + 2 + 2 + 2  # 北 京 大 学 张 三, nothing else


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text("abcd", min_size=1, max_size=4), st.sets(st.sampled_from(CATEGORIES[1:])),
                       max_size=12),
       st.lists(st.text("abcde", max_size=9), min_size=1, max_size=3))
def test_the_matches_are_every_lexicon_word_in_the_text(words, texts):
    # the prefix walk stops early; a scan of every substring must find the same words
    tok = CharTokenizer.build(["abcd"])
    m = Matcher(words, tok.char_id, tok.unk_id)
    for text in texts:
        want = sorted((i, j, 1 | sum(1 << CATEGORIES.index(k) for k in words[text[i:j]]))
                      for i in range(len(text)) for j in range(i + 1, len(text) + 1) if text[i:j] in words)
        assert sorted(m.spans(tok.encode(text, add_special=False))) == want


def test_words_with_characters_outside_the_vocabulary_are_left_out():
    tok = CharTokenizer.build(["北京"])
    m = Matcher({"北京": {"LOC"}, "南京": {"LOC"}}, tok.char_id, tok.unk_id)
    assert len(m.bits) == 1  # 南 is [UNK]: 南京 would match any unknown character before 京


def test_the_embedding_starts_as_the_one_it_replaces():
    g, rows = tiny_linker("ner")
    emb = g.model.encoder.embed
    ids = torch.tensor([g.tokenizer.encode(rows[0].text)])
    before = emb(ids)
    keys = set(g.model.state_dict())
    attach_lexicon(g.model.encoder, WORDS, g.tokenizer)
    assert isinstance(g.model.encoder.embed, LexiconEmbedding)
    assert torch.equal(g.model.encoder.embed(ids), before)  # P = 0 at the start
    assert set(g.model.state_dict()) == keys | {"encoder.embed.lexicon.weight"}  # E keeps its key
    # P f is what is added: one step of P changes exactly the rows with a matched word
    with torch.no_grad():
        g.model.encoder.embed.lexicon.weight.fill_(1.0)
    changed = (g.model.encoder.embed(ids) != before).any(-1)[0]
    feats = g.model.encoder.embed.matcher.features(ids)[0].any(-1)
    assert torch.equal(changed, feats) and feats.any()


def test_a_lexicon_needs_a_character_tokenizer():
    g, _ = tiny_linker("ner")
    with pytest.raises(ValueError, match="character tokenizer"):
        attach_lexicon(g.model.encoder, WORDS, object())


def test_the_lexicon_file_round_trips_and_a_bad_line_is_named(tmp_path):
    save_lexicon(WORDS, tmp_path / LEXICON_FILE)
    assert read_lexicon(tmp_path / LEXICON_FILE) == WORDS
    (tmp_path / "bad.txt").write_text("北京\tLOC\n大学\tCITY\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.txt:2: expected WORD<tab>CATEGORIES"):
        read_lexicon(tmp_path / "bad.txt")


def test_the_built_lexicon_has_names_from_both_sources():
    words = build_lexicon("jieba+peoples-daily")
    assert len(words) > 340_000
    assert "LOC" in words["北京"]  # jieba's ns
    assert words["刘子富"] == {"PER"}  # People's Daily's joined nr (刘/nr 子富/nr), a name jieba's dict lacks
    with pytest.raises(ValueError, match="choose one of jieba"):
        build_lexicon("gazetteer")


def _data(tmp_path):
    rows = [("张三在北京大学读书。", [[0, 2, "PER"], [3, 7, "ORG"]]), ("李四去了上海。", [[0, 2, "PER"], [4, 6, "LOC"]])]
    data = tmp_path / "ner.jsonl"
    data.write_text("".join(json.dumps({"text": t, "entities": e}, ensure_ascii=False) + "\n" for t, e in rows),
                    encoding="utf-8")
    return data


def test_a_run_keeps_its_lexicon_and_loads_to_the_same_logits(tmp_path):
    data, run = _data(tmp_path), tmp_path / "run"
    r = runner.invoke(app, ["ner", "train", "--train", str(data), "--dev", str(data), "--out", str(run),
                            "--set", "encoder.lexicon=jieba+peoples-daily", "--set", "train.steps=3", "--set", "train.batch_size=2",
                            "--set", "encoder.hidden=16", "--set", "head.head_size=8"])
    assert r.exit_code == 0, r.output
    assert "with lexicon features (jieba+peoples-daily)" in r.output
    assert "PER" in read_lexicon(run / LEXICON_FILE)["张三"]  # jieba's nr
    g = load_run(run)
    ids = torch.tensor([g.tokenizer.encode("张三去了北京")])
    assert g.model.encoder.embed.lexicon.weight.abs().sum() > 0  # trained, and loaded strictly
    assert torch.equal(g.model(ids, ids != 0)[0], load_run(run).model(ids, ids != 0)[0])
    with pytest.raises(ValueError, match="looked up in Python, which an ONNX graph cannot hold"):
        export_onnx(run, tmp_path / "onnx")
    (run / LEXICON_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="lexicon.txt: missing"):
        load_run(run)


def test_the_new_projection_learns_at_the_heads_rate():
    # P is a new layer inside a pretrained encoder: the encoder's quarter rate would slow what is not pretrained
    g, _ = tiny_linker("ner")
    attach_lexicon(g.model.encoder, WORDS, g.tokenizer)
    encoder, heads = encoder_head_groups(0.25)(g.model)
    p = g.model.encoder.embed.lexicon.weight
    assert encoder["lr_scale"] == 0.25 and heads["lr_scale"] == 1.0
    assert any(q is p for q in heads["params"]) and not any(q is p for q in encoder["params"])
    assert any(q is g.model.encoder.embed.weight for q in encoder["params"])  # E stays pretrained
