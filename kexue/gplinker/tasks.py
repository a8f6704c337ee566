"""The three GPLinker tasks as one registry: what each reads, how its labels are coded and decoded,
how it is scored and written out, looked up by name (as bert4keras's `build_transformer_model` looks
up its models), so no other module branches on the task's name.

- events (kexue.fm/archives/8926, duee_v1.py): DuEE JSONL, (event_type, role) labels from
  duee_event_schema.json, three EGP outputs (argu, head, tail), clique decoding, event- and
  argument-level P/R/F1 plus the leaderboard's soft argument F1; the best dev weights by event-level F1.
- relations (kexue.fm/archives/8888, duie_v1.py): DuIE JSONL, predicates from its schema, three outputs
  (entity, head, tail), (s, p, o) P/R/F1 over tokenised triples; best by spo/f1.
- ner (kexue.fm/archives/8373): {"text", "entities"} rows or BIO {"tokens", "ner_tags"} rows, in JSONL,
  a `datasets` save_to_disk folder, parquet or Arrow (`read_ner`; --schema names the tags of tag ids),
  the types found in the training file, one output; entity P/R/F1; best by entity/f1.

`Task.to_json` is the one JSON output (with scores) of predict, the service and Extractor;
`Task.read` returns the samples with the label space; `Task.has_labels` says whether any sample carries
the task's labels (a DuIE file given to the events task carries none: an error naming `label_field`).
What else differs per task is on its Task too: its built-in data (`builtin`, kexue/gplinker/builtin.py) and
from-scratch recipes (`recipe`, `recipe_data`, `recipe_test`, `vocab_texts`; kexue/gplinker/recipes.py), the
post's fine-tuning recipe on a pretrained encoder (`fine_tune`), the names of its model's outputs (`outputs`,
the ONNX graph's) and the article its name takes in a sentence.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kexue.data.bio import read_tag_names
from kexue.gplinker import fixture
from kexue.gplinker.builtin import MSRA, Generated
from kexue.gplinker.caps import DecodeCount
from kexue.gplinker.data import (TRIGGER, EventSample, EventSchema, NERSample, Problems, RelationSample,
                                 RelationSchema, read_duee, read_duie, read_ner)
from kexue.gplinker.events import decode_events, drop_subset_events, encode_events
from kexue.gplinker.generate import generate_events, generate_relations
from kexue.gplinker.metrics import event_prf, set_prf, soft_argument_prf, spo_key
from kexue.gplinker.model import EventModel, NERModel, RelationModel
from kexue.gplinker.ner import decode_entities, encode_entities
from kexue.gplinker.recipes import (GENERATED_EVENTS, GENERATED_RELATIONS, MSRA_BIGRAMS, MSRA_LEXICON, MSRA_PRETRAINED,
                                    MSRA_SCRATCH, QUICK, Recipe)
from kexue.gplinker.relations import decode_relations, encode_relations
from kexue.gplinker.scores import entities_json, events_json, relations_json


@dataclass(frozen=True)
class FineTune:
    """The post's fine-tuning of a pretrained encoder: Adam at 2e-5, its batch and its epochs."""
    batch_size: int
    epochs: int
    source: str  # the script it comes from


@dataclass(frozen=True)
class Task:
    name: str
    post: int
    sample_type: type
    label_field: str  # the JSON field of a line that carries the task's labels
    select: str  # the dev metric whose best weights are kept (the scripts' Evaluator)
    schema_fixture: str  # the bundled schema used without --schema ("" = labels from the data)
    model: Callable[..., Any]  # (encoder, n_labels, HeadConfig) → the nn.Module
    reader: Callable[..., list]  # (path, schema_or_None, skip_bad, problems) → samples
    schema_labels: Callable[[Path | None, list], list]  # (schema path, samples) → label space
    label_sets: Callable[[Any, list, list], list[list[set]]]  # (sample, labels, offsets) → per output, per head
    decode: Callable[..., Any]  # (outputs of one text, text, offsets, labels, **options, count=) → result
    score: Callable[[list, list], dict[str, float]]  # (predictions, gold samples) → named metrics
    # (outputs of one text, text, offsets, labels, threshold) → its DuEE / DuIE / entity JSON, items scored
    # (scores.py): the one JSON form of predict, the service and Extractor
    to_json: Callable[..., dict]
    has_labels: Callable[[Any], bool]  # whether a sample carries any label of the task
    article: str  # "a" or "an", as its name is said: "an events run", "a relations run"
    outputs: tuple[str, ...]  # the model's outputs in order (the ONNX graph's output names)
    builtin: MSRA | Generated  # the data it trains on without --train (builtin.py)
    recipes: dict[str, Recipe]  # its from-scratch recipes by name (recipes.py)
    default_recipe: str  # the one `train` runs on the built-in data without --preset
    fine_tune: FineTune  # the post's recipe on a pretrained encoder (--encoder)
    # one character end (exclusive) per label of a sample, for the labels training codes: an entity's end, an
    # event argument's (an enum value's is its trigger's), a triple's later end of subject and object
    # (Linker.beyond_max_len); a keyword field, last, so that fields added before it keep their places
    label_ends: Callable[[Any], list[int]] | None = None

    def read(self, path: str | Path, schema: str | Path | None = None, skip_bad: bool = False,
             problems: Problems | None = None) -> tuple[list, list]:
        """(samples, labels) of a JSONL file; the schema (or the bundled one) gives the labels."""
        schema_path = Path(schema) if schema else (fixture(self.schema_fixture) if self.schema_fixture else None)
        rows = self.reader(path, schema_path, skip_bad, problems if problems is not None else Problems())
        return rows, self.schema_labels(schema_path, rows)

    def recipe(self, name: str | None = None) -> Recipe:
        """The recipe called `name` (None: the task's default); an unknown name is an error listing the known."""
        name = name or self.default_recipe
        if name not in self.recipes:
            raise ValueError(f"--recipe {name}: no such {self.name} recipe; choose one of {', '.join(self.recipes)}")
        return self.recipes[name]

    def recipe_data(self, recipe: Recipe, n: int | None = None) -> tuple[list, list, list, dict[str, str]]:
        """(train, dev, labels, data record for config.json) of a recipe; `n` overrides its training size."""
        if recipe.data == "builtin":  # the quick recipe: the built-in data as it was before recipes
            n = n or recipe.n_train
            train, dev, labels = self.builtin.sample(n)
            return train, dev, labels, {"train": self.builtin.name, "dev": self.builtin.name, "n": str(n)}
        return self.builtin.split(recipe, n)

    def recipe_test(self, recipe: Recipe, seen: bool = False) -> list:
        """The recipe's test set (`seen`: new sentences of the training templates, generated data only)."""
        return self.builtin.test(recipe, seen)

    def vocab_texts(self, recipe: Recipe, train: list, dev: list | None) -> list[str]:
        """The texts the character vocabulary is built from: the training texts, and for a generated recipe its
        dev and test too (held-out names are a third of their characters, and one [UNK] for all of them
        erases the names a relation or event needs: held-out spo F1 0 vs 0.77 on seen templates); their
        embeddings stay as initialised, since training never sees them."""
        if recipe.data == "builtin":
            return [r.text for r in train]
        return self.builtin.vocab_texts(recipe, train, dev)

    def check_labelled(self, rows: Sequence, path: str | Path) -> None:
        """A training file where no line carries the task's labels is the wrong file for this task."""
        if rows and not any(self.has_labels(r) for r in rows):
            raise ValueError(f"{path}: no line has a non-empty '{self.label_field}', the field the {self.name} task "
                             f"trains on; is it a file for another task?")


# --- events ---

def _event_ends(sample: EventSample) -> list[int]:
    """The end of each argument training codes (encode_events): an enum value's is its trigger's; an unplaced
    argument (not at its index, data.py) is coded nowhere."""
    ends = []
    for event in sample.events:
        placed = [(r, s + len(a)) for _, r, a, s in event if s >= 0 and sample.text[s:s + len(a)] == a]
        trigger = next((end for r, end in placed if r == TRIGGER), None)
        ends += [end for _, end in placed] + [trigger for _, _, _, s in event if s < 0 and trigger is not None]
    return ends


def _read_duee(path, schema_path, skip_bad, problems):
    return read_duee(path, EventSchema.read(schema_path), skip_bad, problems)


def _event_outputs(sample: EventSample, labels: list, offsets: list) -> list[list[set]]:
    lab = encode_events(sample, labels, offsets)
    return [lab.argu, [lab.head], [lab.tail]]


def _decode_events(out: Sequence[np.ndarray], text: str, offsets: list, labels: list, trigger: bool = True,
                   drop_subsets: bool = False, count: DecodeCount | None = None) -> list:
    events = decode_events(out[0], out[1][0], out[2][0], text, offsets, labels, trigger=trigger, count=count)
    return drop_subset_events(events) if drop_subsets else events


def _score_events(pred: list, samples: list[EventSample]) -> dict[str, float]:
    gold = [s.events for s in samples]
    return {**event_prf(pred, gold), **soft_argument_prf(pred, gold, [s.aliases for s in samples])}


# --- relations ---

def _triple_ends(sample: RelationSample) -> list[int]:
    """The later end of subject and object of each placed triple (encode_relations codes no other)."""
    return [max(ss + len(sub), os + len(obj)) for sub, ss, _, obj, os in sample.triples if min(ss, os) >= 0]


def _read_duie(path, schema_path, skip_bad, problems):
    return read_duie(path, RelationSchema.read(schema_path), skip_bad, problems)


def _score_relations(pred: list, samples: list[RelationSample]) -> dict[str, float]:
    return set_prf(pred, [s.spo() for s in samples], key=spo_key, prefix="spo")


# --- ner ---

def _read_ner(path, schema_path, skip_bad, problems):
    # --schema, for NER: the BIO tag names that `ner_tags` ids stand for (kexue/data/bio.py)
    return read_ner(path, skip_bad, problems, read_tag_names(schema_path) if schema_path else None)


def _score_entities(pred: list, samples: list[NERSample]) -> dict[str, float]:
    """entity/* over all types, then entity/TYPE/* for each type seen in the gold or the predictions."""
    gold = [set(s.entities) for s in samples]
    out = set_prf(pred, gold, prefix="entity")
    for kind in sorted({e[2] for row in (*gold, *pred) for e in row}):
        out.update(set_prf([{e for e in r if e[2] == kind} for r in pred], [{e for e in t if e[2] == kind} for t in gold],
                           prefix=f"entity/{kind}"))
    return out


def _event_labels() -> list:
    return EventSchema.read(fixture("duee_event_schema.json")).labels()


def _relation_labels() -> list:
    return RelationSchema.read(fixture("duie_schema.json")).predicates


TASKS: dict[str, Task] = {
    "events": Task(
        "events", 8926, EventSample, "event_list", "event_level/f1", "duee_event_schema.json", EventModel,
        _read_duee, lambda schema, rows: EventSchema.read(schema).labels(), _event_outputs, _decode_events,
        _score_events, events_json, lambda s: bool(s.events),
        article="an", outputs=("argu", "head", "tail"), builtin=Generated(generate_events, _event_labels, "DuEE"),
        recipes={"generated": GENERATED_EVENTS, "quick": QUICK}, default_recipe="generated",
        fine_tune=FineTune(32, 200, "duee_v1.py"),
        label_ends=_event_ends),
    "relations": Task(
        "relations", 8888, RelationSample, "spo_list", "spo/f1", "duie_schema.json", RelationModel,
        _read_duie, lambda schema, rows: RelationSchema.read(schema).predicates,
        lambda s, labels, offsets: list(encode_relations(s, labels, offsets)),
        lambda out, text, offsets, labels, count=None, **_: decode_relations(out[0], out[1], out[2], text, offsets,
                                                                             labels, count=count),
        _score_relations, relations_json, lambda s: bool(s.triples),
        article="a", outputs=("entity", "head", "tail"),
        builtin=Generated(generate_relations, _relation_labels, "DuIE"),
        recipes={"generated": GENERATED_RELATIONS, "quick": QUICK}, default_recipe="generated",
        fine_tune=FineTune(64, 20, "duie_v1.py"),
        label_ends=_triple_ends),
    "ner": Task(
        "ner", 8373, NERSample, "entities", "entity/f1", "", NERModel,
        _read_ner, lambda schema, rows: sorted({e[2] for r in rows for e in r.entities}),
        lambda s, labels, offsets: [encode_entities(s, labels, offsets)],
        lambda out, text, offsets, labels, count=None, **_: decode_entities(out[0], offsets, labels, count=count),
        _score_entities, entities_json, lambda s: bool(s.entities),
        article="an", outputs=("spans",), builtin=MSRA(),
        recipes={"msra": MSRA_SCRATCH, "msra-pretrained": MSRA_PRETRAINED, "msra-lexicon": MSRA_LEXICON,
                 "msra-bigrams": MSRA_BIGRAMS, "quick": QUICK}, default_recipe="msra",
        fine_tune=FineTune(16, 10, "bert4keras task_sequence_labeling_ner_global_pointer.py"),
        label_ends=lambda s: [end for _, end, _ in s.entities]),
}


def get_task(name: str) -> Task:
    """The task called `name`; an unknown name is an error listing the known ones."""
    if name not in TASKS:
        raise ValueError(f"unknown GPLinker task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]
