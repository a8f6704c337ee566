"""HF checkpoints as today's transformers saves them: tokenizer.json in, the same ids out.

A folder written by transformers 5's `save_pretrained` has tokenizer.json and tokenizer_config.json and
no vocab.txt. GPLinker must read it with the checkpoint's own pipeline (WordPiece, BPE or Unigram),
give the ids the folder's own HF tokenizer gives on mixed Chinese, full-width punctuation, digits and
Latin text, add no normalisation of its own (a pretrained RoFormerV2's ids must not go through NFKC),
train, predict and evaluate from the run alone, take T5's encoder stack, and refuse a decoder-only model.
"""
import json
import shutil

import pytest
import torch
import transformers
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from typer.testing import CliRunner

from kexue.data.hf_tokenizer import HFTokenizer
from kexue.gplinker import fixture
from kexue.gplinker.cli import app
from kexue.gplinker.data import read_duee
from kexue.gplinker.encoders import load_encoder
from kexue.gplinker.train import load_run
from tests.gplinker.test_gplinker_encoder import NUDGE, SAMPLES, _evaluate_and_predict

torch.set_num_threads(1)
runner = CliRunner()
TABLE = ["北京，上海队3月5日击败ABC。", "Ｈｅｌｌｏ 世界！１２３", "天气很好, abc. 2023年", "“苹果公司”裁员200人；",
         "RoFormerV2：GlobalPointer（EGP）"]


def _texts() -> list[str]:
    return [s.text for s in read_duee(SAMPLES)] + TABLE


def _vocab() -> list[str]:
    chars = sorted({c for t in _texts() for c in t.lower() if not c.isspace()})
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, "##0", "##1", "##2", "##3", "##a", "##b", "##c"]


def _tiny_bert(folder, vocab_size: int) -> None:
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=128)
    transformers.BertModel(cfg).save_pretrained(folder)


@pytest.fixture(scope="module")
def bert_v5(tmp_path_factory):
    """A BERT folder as transformers 5 saves it: tokenizer.json + tokenizer_config.json, no vocab.txt."""
    out = tmp_path_factory.mktemp("v5") / "bert"
    vocab = _vocab()
    tok = transformers.BertTokenizer(vocab={v: i for i, v in enumerate(vocab)}, do_lower_case=True)
    tok.save_pretrained(out)
    _tiny_bert(out, len(vocab))
    assert (out / "tokenizer.json").is_file() and not (out / "vocab.txt").exists()
    return out


def _bpe_folder(out, model: str):
    """A byte-level BPE (RoBERTa's) or a Unigram tokenizer.json trained here, saved through transformers."""
    if model == "bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        names = dict(bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
    else:
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=600, special_tokens=["<pad>", "<unk>", "<cls>", "<sep>"],
                                          unk_token="<unk>", show_progress=False)
        names = dict(cls_token="<cls>", sep_token="<sep>", pad_token="<pad>", unk_token="<unk>")
    tok.train_from_iterator(_texts() * 3, trainer)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, **names)
    fast.save_pretrained(out)
    return out


def _hf_ids(folder, text: str) -> list[int]:
    """The folder's own HF tokenizer, framed [CLS] … [SEP] as GPLinker frames it."""
    hf = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    ids = hf(text, add_special_tokens=False)["input_ids"]
    return [hf.cls_token_id if hf.cls_token_id is not None else hf.bos_token_id, *ids,
            hf.sep_token_id if hf.sep_token_id is not None else hf.eos_token_id]


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "unigram"])
def test_token_ids_equal_the_folders_own_tokenizer(bert_v5, tmp_path, kind):
    folder = bert_v5 if kind == "wordpiece" else _bpe_folder(tmp_path / kind, kind)
    ours = HFTokenizer.from_folder(folder)
    for text in TABLE:
        ids, offsets = ours.encode_with_offsets(text)
        assert ids == _hf_ids(folder, text), text
        # offsets are character spans of the text as given (full-width characters included)
        assert all(0 <= s <= e <= len(text) for s, e in offsets)


def test_do_lower_case_of_the_config_wins_as_in_transformers(bert_v5, tmp_path):
    folder = tmp_path / "cased"
    shutil.copytree(bert_v5, folder)
    cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    (folder / "tokenizer_config.json").write_text(json.dumps({**cfg, "do_lower_case": False}), encoding="utf-8")
    ours = HFTokenizer.from_folder(folder)
    assert ours.encode("ABC abc") == _hf_ids(folder, "ABC abc")
    assert ours.encode("ABC") != HFTokenizer.from_folder(bert_v5).encode("ABC")  # the control: lowercased


def test_a_transformers_5_folder_trains_predicts_and_evaluates(bert_v5, tmp_path):
    copy, run = tmp_path / "ckpt", tmp_path / "run"
    shutil.copytree(bert_v5, copy)
    r = runner.invoke(app, ["events", "train", "--train", str(SAMPLES), "--encoder", str(copy), "--out", str(run),
                            *NUDGE])
    assert r.exit_code == 0, r.output
    shutil.rmtree(copy)  # from here on only the run folder
    g = load_run(run)
    assert g.cfg.encoder.tokenizer == "hf" and isinstance(g.tokenizer, HFTokenizer)
    assert (run / "tokenizer.json").is_file()
    text = TABLE[0]
    assert g.encode(text)[0] == _hf_ids(bert_v5, text)
    # the run folder is itself a tokenizer folder that transformers reads to the same ids
    assert _hf_ids(run, text) == g.encode(text)[0]
    _evaluate_and_predict(run, tmp_path)


def test_a_pretrained_roformer_v2_gets_no_nfkc(tmp_path):
    """JunnYu's RoFormerV2 reads text with BertTokenizer over its vocab.txt: "，" stays "，" (NFKC made it ",")."""
    from kexue.roformer import RoFormerV2
    from tests.roformer.test_roformer_import import CFG, write_hf
    torch.manual_seed(0)
    folder = write_hf(tmp_path / "junnyu", RoFormerV2(CFG).eval())
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"北京天气很好，,。", "1", "2"]
    (folder / "vocab.txt").write_text("".join(f"{v}\n" for v in vocab), encoding="utf-8")
    _, _, tok = load_encoder(folder)
    bert = transformers.BertTokenizer(vocab={v: i for i, v in enumerate(vocab)}, do_lower_case=True)
    for text in ("北京，天气很好。", "北京,天气１２"):
        assert tok.encode(text) == bert(text)["input_ids"], text
    assert tok.encode("，") != tok.encode(",")


def test_t5_gives_its_encoder_stack(tmp_path):
    folder = tmp_path / "t5"
    vocab = _vocab()
    transformers.BertTokenizer(vocab={v: i for i, v in enumerate(vocab)}).save_pretrained(folder)
    torch.manual_seed(0)
    cfg = transformers.T5Config(vocab_size=len(vocab), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                decoder_start_token_id=0)
    transformers.T5ForConditionalGeneration(cfg).save_pretrained(folder)
    enc_cfg, encoder, tok = load_encoder(folder)
    assert type(encoder.model).__name__ == "T5EncoderModel"
    ids = torch.tensor([tok.encode("北京天气很好")])
    want = transformers.T5EncoderModel.from_pretrained(folder).eval()(input_ids=ids).last_hidden_state
    with torch.no_grad():
        assert torch.allclose(encoder.eval()(ids, ids != tok.pad_id), want, atol=1e-6)
    r = runner.invoke(app, ["events", "train", "--train", str(SAMPLES), "--encoder", str(folder),
                            "--out", str(tmp_path / "run"), *NUDGE])
    assert r.exit_code == 0, r.output
    assert load_run(tmp_path / "run").cfg.encoder.model["model_type"] == "t5"


def test_a_decoder_only_model_is_refused_in_one_line(tmp_path):
    folder = tmp_path / "gpt2"
    transformers.GPT2Model(transformers.GPT2Config(vocab_size=64, n_embd=16, n_layer=1, n_head=2)).save_pretrained(folder)
    transformers.BertTokenizer(vocab={v: i for i, v in enumerate(_vocab())}).save_pretrained(folder)
    r = runner.invoke(app, ["events", "train", "--train", str(SAMPLES), "--encoder", str(folder),
                            "--out", str(tmp_path / "run"), *NUDGE])
    assert r.exit_code == 2 and "decoder-only" in r.output and "gpt2" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_a_model_id_is_found_in_the_local_hf_cache_offline(bert_v5, tmp_path, monkeypatch):
    """`--encoder org/name` reads the Hugging Face cache with no network; a missing id is one line."""
    import huggingface_hub.constants as hub

    snapshot = tmp_path / "hub" / "models--kexue-test--tiny-bert" / "snapshots" / ("0" * 40)
    shutil.copytree(bert_v5, snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40, encoding="utf-8")
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg, _, tok = load_encoder("kexue-test/tiny-bert")
    assert cfg.kind == "hf" and tok.encode(TABLE[0]) == _hf_ids(bert_v5, TABLE[0])
    r = runner.invoke(app, ["events", "train", "--train", str(SAMPLES), "--encoder", "kexue-test/not-cached",
                            "--out", str(tmp_path / "run"), *NUDGE])
    assert r.exit_code == 2 and "not in the local Hugging Face cache" in r.output and "huggingface-cli download" in r.output
    assert len(r.output.strip().splitlines()) == 1
