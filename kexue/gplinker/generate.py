"""Synthetic DuEE / DuIE-format data: event and relation templates filled with real MSRA names.

No DuEE or DuIE is shipped (Baidu's licence), so the quick preset trains on sentences built from
templates of the fixture schemas (fixtures/duee_event_schema.json, duie_schema.json), whose person,
place and organisation slots are drawn from the MSRA NER entity pool. A sentence joins 1–3 clauses;
some templates write two events of one type that share their trigger and arguments (the post's
"程杰、王绍伟" case), so arguments are shared across events. Where we depart: a sentence that the
codec cannot carry (events.recoverable is False with one token per character) is drawn again, so
the F1 ceiling on generated data is 1.

`split="train"` draws from every template but the last of each event type (predicate) and from the
names at even places of each MSRA pool; `split="heldout"` from the last template of each and the names
at odd places, so a held-out sentence has a wording and names never seen in training: what it tests is
whether the model reads the structure, not whether it remembers strings. `split="all"` uses everything.
Generated data tests the pipeline, not the leaderboard.
"""
from __future__ import annotations

import random
import re
from typing import Literal

from kexue.data import msra_entity_pool
from kexue.gplinker import fixture
from kexue.gplinker.data import TRIGGER, EventSample, EventSchema, RelationSample
from kexue.gplinker.events import recoverable

# {role:KIND} fills a slot (KIND: PER/LOC/ORG from MSRA, or a word list below); <word> is the trigger;
# a role ending in "2" starts a second event of the same type that replaces that role's argument.
EVENT_TEMPLATES = {
    "竞赛行为-胜负": ["{时间:TIME}，{胜者:ORG}在{赛事名称:GAME}中<击败>{败者:ORG}", "{胜者:PER}<击败>了{败者:PER}",
                     "{胜者:ORG}先后<击败>{败者:ORG}和{败者2:ORG}"],
    "人生-会见": ["{时间:TIME}，{会见主体:PER}在{地点:LOC}<会见>了{会见对象:PER}", "{会见主体:PER}<会见>{会见对象:PER}",
                 "{会见对象:PER}于{时间:TIME}在{地点:LOC}受到{会见主体:PER}的亲切<会见>"],
    "组织关系-裁员": ["{裁员方:ORG}{时间:TIME}<裁员>{裁员人数:COUNT}", "{裁员方:ORG}宣布<裁员>",
                   "据悉，{裁员方:ORG}计划在{时间:TIME}前<裁员>约{裁员人数:COUNT}"],
    "司法行为-入狱": ["{入狱者:PER}被判处<有期徒刑>{刑期:TERM}", "{入狱者:PER}、{入狱者2:PER}被判处<有期徒刑>{刑期:TERM}",
                     "{入狱者:PER}在{监禁地点:LOC}<服刑>"],
    "组织行为-开幕": ["{时间:TIME}，{活动名称:FAIR}在{地点:LOC}<开幕>", "{活动名称:FAIR}于{时间:TIME}<开幕>",
                   "第十届{活动名称:FAIR}{时间:TIME}在{地点:LOC}隆重<开幕>"],
}
RELATION_TEMPLATES = [("出生地", "{s:PER}出生于{o:LOC}"), ("创始人", "{s:ORG}由{o:PER}创办"),
                      ("总部地点", "{s:ORG}总部位于{o:LOC}"), ("妻子", "{s:PER}的妻子是{o:PER}"),
                      ("出生地", "{o:LOC}是{s:PER}的故乡"), ("创始人", "{o:PER}一手创立了{s:ORG}"),
                      ("总部地点", "{s:ORG}把总部设在{o:LOC}"), ("妻子", "{o:PER}嫁给了{s:PER}")]
Split = Literal["all", "train", "heldout"]
WORDS = {
    "TIME": ["1月", "3月5日", "去年", "昨天", "上周", "2月10日", "今年夏天", "12月"],
    "GAME": ["联赛", "锦标赛", "世界杯", "邀请赛", "公开赛"],
    "COUNT": ["300人", "两千人", "50名员工", "一成员工", "800人"],
    "TERM": ["五年", "十年", "22年", "三年零六个月", "无期"],
    "FAIR": ["博览会", "运动会", "艺术节", "电影节", "交易会"],
}
_SLOT = re.compile(r"\{(\w+?):(\w+)\}|<(\w+)>")


def generate_events(n: int, seed: int = 0, max_clauses: int = 3, pool_size: int = 400,
                    split: Split = "all") -> list[EventSample]:
    """n DuEE-format sentences of the fixture schema, each with 1..max_clauses clauses."""
    rng, pool = random.Random(seed), _pool(pool_size, split)
    templates = {t: _split(ts, split) for t, ts in EVENT_TEMPLATES.items()}
    schema = EventSchema.read(fixture("duee_event_schema.json"))
    out = []
    while len(out) < n:
        text, events = "", []
        for c in range(rng.randint(1, max_clauses)):
            if c:
                text += "，"
            etype = rng.choice(sorted(templates))
            text, new = _fill(text, etype, rng.choice(templates[etype]), rng, pool)
            events.extend(new)
        sample = EventSample(text + "。", events, f"gen-{seed}-{len(out)}")
        offsets = [(0, 0)] + [(i, i + 1) for i in range(len(sample.text))] + [(0, 0)]
        if recoverable(sample, schema, offsets):
            out.append(sample)
    return out


def generate_relations(n: int, seed: int = 0, max_clauses: int = 3, pool_size: int = 400,
                       split: Split = "all") -> list[RelationSample]:
    """n DuIE-format sentences; a later clause reuses an earlier subject or object half the time."""
    rng, pool = random.Random(seed), _pool(pool_size, split)
    by_predicate: dict[str, list[str]] = {}
    for pred, template in RELATION_TEMPLATES:
        by_predicate.setdefault(pred, []).append(template)
    relation_templates = [(p, t) for p, ts in by_predicate.items() for t in _split(ts, split)]
    out = []
    while len(out) < n:
        text, triples, seen = "", [], []
        for c in range(rng.randint(1, max_clauses)):
            pred, template = rng.choice(relation_templates)
            parts = {}
            for m in _SLOT.finditer(template):
                kind = m.group(2)
                reuse = [e for e, k in seen if k == kind and e not in parts.values()]
                parts[m.group(1)] = rng.choice(reuse) if reuse and rng.random() < 0.5 else \
                    rng.choice([x for x in pool[kind] if x not in parts.values()])
                seen.append((parts[m.group(1)], kind))
            text += ("，" if c else "") + _SLOT.sub(lambda m: parts[m.group(1)], template)
            triples.append((parts["s"], pred, parts["o"]))
        text += "。"
        located = [(s, text.index(s), p, o, text.index(o)) for s, p, o in dict.fromkeys(triples)]
        out.append(RelationSample(text, located, f"gen-{seed}-{len(out)}"))
    return out


def _fill(text: str, etype: str, template: str, rng: random.Random, pool: dict) -> tuple[str, list]:
    base, second = [], None
    pos = 0
    for m in _SLOT.finditer(template):
        text += template[pos:m.start()]
        pos = m.end()
        if m.group(3):
            word, role = m.group(3), TRIGGER
        else:
            role, kind = m.group(1), m.group(2)
            word = (rng.choice(pool["LOC"]) + rng.choice(WORDS[kind])) if kind == "FAIR" else \
                rng.choice(pool[kind] if kind in pool else WORDS[kind])
        arg = (etype, role, word, len(text))
        text += word
        if role.endswith("2"):
            second = arg
        else:
            base.append(arg)
    text += template[pos:]
    events = [tuple(sorted(base))]
    if second is not None:
        role = second[1][:-1]
        events.append(tuple(sorted([a for a in base if a[1] != role] + [(etype, role, second[2], second[3])])))
    return text, events


def _split(templates: list[str], split: Split) -> list[str]:
    """All templates, all but the last (train) or the last (heldout)."""
    if split == "all":
        return templates
    if split not in ("train", "heldout"):
        raise ValueError(f"split={split!r}: choose all, train or heldout")
    return templates[:-1] if split == "train" else templates[-1:]


def _pool(size: int, split: Split = "all") -> dict[str, list[str]]:
    """The `size` most frequent MSRA names per type, two characters or longer, not nested in one another;
    for a split, those at even (train) or odd (heldout) places."""
    out = {}
    for kind, names in msra_entity_pool("train").items():
        kept = [x for x in names if 2 <= len(x) <= 6][:size]
        kept = [x for x in kept if not any(x != y and (x in y or y in x) for y in kept)]
        out[kind] = kept if split == "all" else kept[(split == "heldout")::2]
    return out
