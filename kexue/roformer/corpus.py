"""The pretraining corpus of an encoder meant for GPLinker's MSRA NER: People's Daily 1998 and the
unlabelled text of MSRA train, never a sentence of MSRA test.

kexue.fm/archives/8998 pretrains RoFormerV2 with whole-word MLM on 280 GB of text; kexue has People's
Daily 1998 (44,533 sentences, gold segmentation) and MSRA NER's training sentences (50,289, read here as
plain text: their tags are not used). MSRA's words come from jieba (`segment`, as the post's words come
from a segmenter), People's Daily keeps its own. Whatever MSRA test holds must stay unseen, so a text
equal to an MSRA test sentence (compared by the SHA-256 of its UTF-8 text) is dropped from both sources:
`msra_test_hashes` is that set, `encoder_corpus` says how many of each source it dropped. The two sources
are interleaved by a seeded shuffle, so the held-out end of the corpus (PretrainConfig.eval_texts) has
sentences of both.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

ENCODER_CORPUS = "peoples-daily+msra-train"  # the PretrainConfig.corpus name that reads this corpus


@dataclass(frozen=True)
class CorpusCounts:
    peoples_daily: int  # sentences kept
    msra_train: int
    dropped_peoples_daily: int  # equal to an MSRA test sentence
    dropped_msra_train: int


def text_hash(text: str) -> str:
    """SHA-256 of the UTF-8 text: what is compared with MSRA test."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def msra_test_hashes() -> set[str]:
    """The hashes of every MSRA test sentence."""
    from kexue.data import load_msra
    return {text_hash(t) for t, _ in load_msra("test")}


def corpus_sources() -> tuple[list[list[str]], list[str], CorpusCounts]:
    """(People's Daily sentences as their words, MSRA train texts, counts), each without MSRA test's texts."""
    from kexue.data import load_msra, load_peoples_daily
    banned = msra_test_hashes()
    pd_all = [list(s.words) for s in load_peoples_daily()]
    pd = [w for w in pd_all if text_hash("".join(w)) not in banned]
    msra_all = [t for t, _ in load_msra("train")]
    msra = [t for t in msra_all if text_hash(t) not in banned]
    return pd, msra, CorpusCounts(len(pd), len(msra), len(pd_all) - len(pd), len(msra_all) - len(msra))


def encoder_corpus(max_texts: int | None = None, seed: int = 0) -> tuple[list[list[str]], CorpusCounts]:
    """(texts as lists of words, counts): People's Daily 1998 and MSRA train (jieba's words), minus MSRA
    test, shuffled; the first `max_texts` of them."""
    from kexue.roformer.mlm import segment
    pd, msra, counts = corpus_sources()
    texts: list = pd + msra
    random.Random(seed).shuffle(texts)
    texts = texts[:max_texts]
    return [segment(t) if isinstance(t, str) else t for t in texts], counts
