"""The decoding cap: how much one sentence's decoding may produce, and how often the cap was hit.

kexue.fm/archives/8926, 8888, 8373 decode every positive cell (threshold 0). A trained model scores a
few cells positive; an untrained or early head scores about half of them positive, and its decoding
explodes: 645,451 events for 300 generated sentences, minutes per dev evaluation (issue 22 §3).

Where we depart: every decoder (events.py, relations.py, ner.py) stops at `MAX_ITEMS` events, triples or
entities per sentence (the strongest candidates first), on top of the bounds it already has on its
candidates (events: `MAX_NODES` arguments per event type and `MAX_STEPS` clique-search steps;
relations: `MAX_ENTITIES` subjects and objects). A sentence where any bound cut the decoding is
counted (`DecodeCount`), and every evaluation states it: "decode cap hit in k of n sentences". The
bounds are far above any real sentence's (MSRA's most crowded sentence has 35 entities; a DuEE sentence a
few events), so a trained model never meets them: k > 0 says the scores are an untrained model's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_ITEMS = 128  # events / triples / entities decoded from one sentence at most
MAX_ENTITIES = 64  # relations: subjects and objects (the strongest) paired per sentence
MAX_NODES = 256  # events: candidate arguments of one event type beyond which only the strongest are kept
MAX_STEPS = 1024  # events: steps of the clique search of one sentence (cliques.py; 8× a 10-event document's)


@dataclass
class DecodeCount:
    """Sentences decoded, and those where a cap cut the decoding."""
    sentences: int = 0
    capped: int = 0

    def sentence(self, hit: bool) -> None:
        self.sentences += 1
        self.capped += bool(hit)

    def metrics(self) -> dict[str, int]:
        return {"decode/sentences": self.sentences, "decode/capped": self.capped}


def count_sentence(count: DecodeCount | None, hit: bool) -> None:
    """`count.sentence(hit)` where there is a count (a decoder called alone has none)."""
    if count is not None:
        count.sentence(hit)


def cap_line(metrics: dict[str, Any]) -> str:
    """The evaluation line's statement of the cap ("" when the metrics carry no count)."""
    if "decode/sentences" not in metrics:
        return ""
    k, n = round(metrics["decode/capped"]), round(metrics["decode/sentences"])
    return (f"decode cap hit in {k} of {n} sentences (at most {MAX_ITEMS} items a sentence"
            + ("; the scores are an untrained model's" if k else "") + ")")
