"""Bigram embeddings (kexue/gplinker/bigrams.py, issue 22): e_i = E[c_i] + W [B[c_{i-1} c_i] ; B[c_i c_{i+1}]],
B counted on the training texts; a run that keeps its table."""
import json

import pytest
import torch
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from kexue.config import override
from kexue.data import CharTokenizer
from kexue.gplinker.bigrams import BIGRAMS_FILE, BigramTable, count_bigrams, read_bigrams, save_bigrams
from kexue.gplinker.cli import app
from kexue.gplinker.lexicon import LexiconEmbedding, attach_features
from kexue.gplinker.onnx_export import export_onnx
from kexue.gplinker.train import GPLinker, encoder_head_groups, load_run

from ._tiny import tiny_linker

torch.set_num_threads(1)
runner = CliRunner()


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=30),
       ids=st.lists(st.lists(st.integers(0, 9), min_size=1, max_size=8), min_size=1, max_size=3))
def test_the_lookup_finds_each_pair_row_as_a_dictionary_would(pairs, ids):
    # rows are 1… in key order a·V + b; any pair not in the table, and the ends of the row, read row 0
    table = BigramTable(pairs, vocab_size=10)
    row_of = {pair: r + 1 for r, pair in enumerate(sorted(set(pairs), key=lambda p: p[0] * 10 + p[1]))}
    n = min(map(len, ids))
    x = torch.tensor([row[:n] for row in ids])
    left, right = table.rows(x)
    for b, row in enumerate(x.tolist()):
        want = [row_of.get((row[i], row[i + 1]), 0) for i in range(n - 1)]
        assert right[b].tolist() == want + [0]
        assert left[b].tolist() == [0] + want
    assert table.pairs() == sorted(row_of, key=row_of.get)


def test_count_keeps_pairs_seen_twice_and_none_with_unk():
    tok = CharTokenizer.build(["北京北京上海", "北京"])
    got = {(tok.id_to_token(a), tok.id_to_token(b)) for a, b in count_bigrams(["北京北京上海", "北京人"], tok)}
    assert got == {("北", "京")}  # 京北 and 京上 and 海… once; 京人 has [UNK]
    assert count_bigrams(["北京", "北京"], tok, min_count=3) == []


def test_the_embedding_starts_as_the_one_it_replaces_and_reads_only_neighbours():
    g, _ = tiny_linker("ner")
    tok = g.tokenizer
    before = g.model.encoder.embed
    ids = torch.tensor([tok.encode("北京大学在北京")])
    e0 = before(ids).detach()
    attach_features(g.model.encoder, tok, bigrams=BigramTable(count_bigrams(["北京大学", "北京大学"], tok),
                                                              tok.vocab_size), bigram_dim=4)
    emb = g.model.encoder.embed
    assert isinstance(emb, LexiconEmbedding) and emb.matcher is None
    assert torch.equal(emb(ids), e0)  # W = 0: a pretrained encoder starts as it was
    torch.nn.init.normal_(emb.bigram.W.weight)
    delta = (emb(ids) - e0).abs().sum(-1)[0]
    # tokens: [CLS] 北 京 大 学 在 北 京 [SEP]; counted bigrams 北京 京大 大学: 北…学 and the second 北京 move
    assert (delta[[1, 2, 3, 4, 6, 7]] > 0).all() and (delta[[0, 5, 8]] == 0).all()


def test_bigrams_file_round_trips_and_a_bad_line_is_named(tmp_path):
    tok = CharTokenizer.build(["北京上海"])
    table = BigramTable(count_bigrams(["北京上海", "北京上海"], tok), tok.vocab_size)
    save_bigrams(table, tok, tmp_path / BIGRAMS_FILE)
    assert BigramTable(read_bigrams(tmp_path / BIGRAMS_FILE, tok), tok.vocab_size).pairs() == table.pairs()
    (tmp_path / BIGRAMS_FILE).write_text("北\t京\n广\t州\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bigrams.txt:2: expected two tokens of the run's vocab.txt"):
        read_bigrams(tmp_path / BIGRAMS_FILE, tok)


def test_bigram_tables_learn_at_the_heads_rate_and_need_a_character_tokenizer():
    g, _ = tiny_linker("ner")
    attach_features(g.model.encoder, g.tokenizer, bigrams=BigramTable([(5, 6)], g.tokenizer.vocab_size), bigram_dim=4)
    encoder, heads = encoder_head_groups(0.25)(g.model)
    new = [g.model.encoder.embed.bigram.B.weight, g.model.encoder.embed.bigram.W.weight]
    assert all(any(q is p for q in heads["params"]) and not any(q is p for q in encoder["params"]) for p in new)
    g2, _ = tiny_linker("ner")
    with pytest.raises(ValueError, match=r"encoder.bigrams=-1: the size of the bigram embeddings, an integer ≥ 0"):
        GPLinker(override(g2.cfg, ["encoder.bigrams=-1"]), g2.labels, g2.tokenizer, texts=["张三"])
    g2, _ = tiny_linker("ner")
    with pytest.raises(ValueError, match="encoder.bigrams needs a character tokenizer"):
        attach_features(g2.model.encoder, object(), bigrams=BigramTable([], 10), bigram_dim=4)


def _rows(path, rows):
    path.write_text("".join(json.dumps({"text": t, "entities": e}, ensure_ascii=False) + "\n" for t, e in rows),
                    encoding="utf-8")
    return path


def test_a_run_counts_its_training_texts_keeps_the_table_and_loads_to_the_same_logits(tmp_path):
    train = _rows(tmp_path / "train.jsonl", [("张三在北京读书。", [[0, 2, "PER"], [3, 5, "LOC"]])] * 2
                  + [("李四去了上海。", [[0, 2, "PER"], [4, 6, "LOC"]])])
    dev = _rows(tmp_path / "dev.jsonl", [("王五去了广州。", [[0, 2, "PER"], [4, 6, "LOC"]])] * 3)
    run = tmp_path / "run"
    r = runner.invoke(app, ["ner", "train", "--train", str(train), "--dev", str(dev), "--out", str(run),
                            "--set", "encoder.bigrams=8", "--set", "train.steps=3", "--set", "train.batch_size=2",
                            "--set", "encoder.hidden=16", "--set", "head.head_size=8"])
    assert r.exit_code == 0, r.output
    assert "with bigram embeddings (8-dim)" in r.output
    g = load_run(run)
    pairs = {g.tokenizer.id_to_token(a) + g.tokenizer.id_to_token(b) for a, b in g.bigrams.pairs()}
    assert pairs == {"张三", "三在", "在北", "北京", "京读", "读书", "书。"}  # twice in train; none from dev
    ids = torch.tensor([g.tokenizer.encode("张三去了北京")])
    assert g.model.encoder.embed.bigram.W.weight.abs().sum() > 0  # trained, and loaded strictly
    assert torch.equal(g.model(ids, ids != 0)[0], load_run(run).model(ids, ids != 0)[0])
    with pytest.raises(ValueError, match="bigram embeddings .* looked up in Python, which an ONNX graph cannot hold"):
        export_onnx(run, tmp_path / "onnx")
    (run / BIGRAMS_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="bigrams.txt: missing; the run was trained with encoder.bigrams=8"):
        load_run(run)


def test_an_hf_model_gets_the_features_in_its_own_input_embedding():
    # token_embedding's HF branch: the module transformers reads its input embedding from is replaced
    import transformers

    from kexue.gplinker.encoders import HFEncoder
    torch.manual_seed(0)
    tok = CharTokenizer.build(["北京大学在北京"])
    cfg = transformers.BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=32)
    enc = HFEncoder(transformers.BertModel(cfg)).eval()
    ids = torch.tensor([tok.encode("北京大学在北京")])
    h0 = enc(ids, ids != 0).detach()
    attach_features(enc, tok, bigrams=BigramTable(count_bigrams(["北京"] * 2, tok), tok.vocab_size), bigram_dim=4)
    assert isinstance(enc.model.get_input_embeddings(), LexiconEmbedding)
    assert torch.equal(enc(ids, ids != 0), h0)  # W = 0
    torch.nn.init.normal_(enc.model.get_input_embeddings().bigram.W.weight)
    assert not torch.allclose(enc(ids, ids != 0), h0)  # the model reads the new embedding
