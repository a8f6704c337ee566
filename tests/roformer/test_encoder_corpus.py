"""The msra-encoder pretraining corpus (kexue/roformer/corpus.py) holds no MSRA test sentence, checked by hashing
every sentence; the preset's clock cap stops a run after a checkpoint, and --resume with more minutes goes on."""
import json

import pytest
import torch

from kexue.data import load_msra
from kexue.roformer import corpus as C


def test_no_msra_test_sentence_is_in_the_corpus():
    pd, msra, counts = C.corpus_sources()
    test = {C.text_hash(t) for t, _ in load_msra("test")}
    assert len(test) > 4900
    kept = {C.text_hash("".join(w)) for w in pd} | {C.text_hash(t) for t in msra}
    assert not kept & test
    assert (counts.peoples_daily, counts.msra_train) == (len(pd), len(msra))
    assert counts.msra_train + counts.dropped_msra_train == len(load_msra("train"))
    assert counts.peoples_daily > 40_000 and counts.msra_train > 45_000
    # what the README says: 150 People's Daily sentences and 1 MSRA train sentence are MSRA test sentences
    assert (counts.dropped_peoples_daily, counts.dropped_msra_train) == (150, 1)


def test_a_sentence_equal_to_a_test_sentence_is_dropped_from_both_sources(monkeypatch):
    from kexue import data
    from kexue.data.peoples_daily import Sentence
    monkeypatch.setattr(data, "load_msra", lambda split: {"test": [("北京下雪了。", ())],
                                                          "train": [("北京下雪了。", ()), ("上海晴。", ())]}[split])
    words = [("北京", "下雪", "了", "。"), ("天津", "有", "雨", "。")]
    monkeypatch.setattr(data, "load_peoples_daily", lambda: [Sentence("".join(w), w, ("n",) * len(w)) for w in words])
    monkeypatch.setattr("kexue.roformer.mlm.segment", lambda t: list(t))
    texts, counts = C.encoder_corpus()
    assert sorted("".join(t) for t in texts) == ["上海晴。", "天津有雨。"]
    assert (counts.dropped_peoples_daily, counts.dropped_msra_train) == (1, 1)


def test_the_clock_cap_checkpoints_stops_and_resumes_for_longer(tmp_path, monkeypatch):
    from kexue.roformer import preset
    from kexue.roformer import pretrain as P
    from kexue.train import TrainConfig
    torch.set_num_threads(1)
    corpus = tmp_path / "c.txt"
    corpus.write_text("北京 下雪 了 。\n上海 天晴 。\n天津 有 雨 。\n广州 很 热 。\n" * 3, encoding="utf-8")
    monkeypatch.setattr(P, "segment", lambda t: t.split())  # words given by spaces: no jieba here

    class Steps(P.TimeCap):  # 15 s more "training" at every step: a minute is 4 steps (or fewer on a slow machine)
        def due(self):
            self.t0 -= 15.0
            return super().due()
    cfg = P.PretrainConfig(model=preset("small", hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32),
                           train=TrainConfig(steps=12, batch_size=2, lr=1e-3, log_every=1, ckpt_minutes=0),
                           corpus=str(corpus), max_len=16, eval_texts=2, max_minutes=1.0)
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(P, "TimeCap", Steps)
        s = P.pretrain(cfg, out, progress=False)
    assert 0 < s["steps"] <= 4 and "1 minutes of training passed" in s["stopped"] and "eval/mlm_loss" in s
    state = torch.load(out / "trainer_state.pt", weights_only=True)
    assert state["step"] == s["steps"]  # a checkpoint of the step it stopped at
    from dataclasses import replace
    more = P.pretrain(replace(cfg, max_minutes=1000.0), out, progress=False, resume=True)
    assert more["steps"] == 12 and not more["stopped"]
    assert json.loads((out / "config.json").read_text())["run"]["max_minutes"] == 1000.0


def test_the_preset_is_named_and_reads_this_corpus():
    from kexue.roformer.cli import pretrain_preset
    cfg = pretrain_preset("msra-encoder")
    assert cfg.corpus == C.ENCODER_CORPUS and cfg.max_minutes == 30.0 and cfg.max_len >= 102
    with pytest.raises(ValueError, match="msra-encoder"):
        pretrain_preset("nope")
