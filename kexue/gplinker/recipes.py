"""Named training recipes for GPLinker from scratch: how long, how fast, on what, and when to stop.

kexue.fm/archives/8373 (NER), 8926 (events), 8888 (relations). The posts fine-tune a pretrained BERT
(train.py's `fine_tune_recipe`, CLI `--encoder`); without one, a from-scratch `TinyEncoder` needs its
own recipe, and `kexue gplinker TASK train` with no options runs the task's default one, named and
printed at the start, its settings written to the run's config.json. Which task has which recipes, and
its default, is on its Task (kexue/gplinker/tasks.py: `recipes`, `recipe(name)`, `recipe_data`); the
data they read is kexue/gplinker/builtin.py's:

- ner `msra`: all of MSRA train but its last 1000 sentences (the dev set: MSRA ships no dev split, and
  selecting on test would leak), whole sentences (max_len 128 ⊇ MSRA's 100 characters + [CLS]/[SEP]),
  sort-by-length batches of 32, AdamW 3e-3 with 300 warm-up steps and a cosine decay over 3 epochs,
  dev entity F1 every 500 steps, the best dev weights kept (kexue/train/best.py), early stopping after
  4 evaluations without a gain, and a 25-minute cap on training so that training and the test
  evaluation fit 30 minutes on 2 CPU cores;
- events / relations `generated`: sentences of the training templates and names (generate.py
  split="train"), dev = more of them (seed 1), test = the held-out templates and names (split="heldout",
  seed 2); the vocabulary covers dev and test characters (`Task.vocab_texts`); the same optimiser, schedule
  and stopping rule sized to the smaller data. Measured: seen-template F1 0.994 (events) / 0.808
  (relations), held-out event-level / spo F1 0.000 (argument-level 0.36): a held-out template says
  the relation in words training never showed (出生于 vs 是…的故乡), which only a pretrained encoder
  (`--encoder`) can bring;
  Measured (benchmarks/gplinker_recipe.py, 1 thread on a shared 2-core machine, load average ~7):
  dev F1 0.85 at the end of 4621 steps, MSRA test entity F1 0.808 (P 0.888, R 0.742) in 15.6 min of
  training + 16 s of test; 2 epochs gave 0.784. Recall is what a from-scratch character encoder lacks
  on test names it never saw (dev, drawn from train, reaches 0.85); the posts' BERT reaches 0.955.
- ner `msra-pretrained`: the same split, stopping rule and time cap, on a pretrained encoder (`--encoder
  RUN`, e.g. `kexue roformer pretrain --preset msra-encoder`): AdamW 2e-3 on the GlobalPointer head and a
  quarter of it (5e-4) on the encoder, the split of a pretrained encoder under new layers (Su fine-tunes
  the whole model at one small rate, 2e-5, on a BERT-base; our encoder is small and briefly pretrained).
- ner `msra-lexicon`: `msra-pretrained` with lexicon features on the encoder's input (lexicon.py: each
  character's B/M/E/S roles in the words of jieba's dictionary and People's Daily's names that match,
  per category word/PER/LOC/ORG). Not in the posts: a pretrained BERT knows the names; an encoder
  pretrained on 4M characters in 30 minutes does not, and a lexicon brings them. `--set
  encoder.lexicon=jieba+peoples-daily` adds the same features to any recipe. Measured
  (benchmarks/gplinker_pretrained.py --lexicon, 3 seeds): MSRA test F1 0.881 (P 0.911, R 0.853) against
  0.854 for msra-pretrained; from scratch with the lexicon 0.851 against 0.808.
- ner `msra-bigrams`: `msra-lexicon` with 32-dim bigram embeddings (bigrams.py: each character also reads
  the bigrams c_{i-1}c_i and c_i c_{i+1}, counted on the training texts, as every character-level Chinese NER
  baseline since Zhang & Yang 2018). `--set encoder.bigrams=D` adds them to any recipe. Measured
  (benchmarks/gplinker_pretrained.py --lexicon … --bigrams 32, 3 seeds): MSRA test F1 0.904 (P 0.914, R 0.894),
  the issue's ≥ 0.90; a random-init encoder of the same shape 0.888.
- `quick` (every task): the short run kept for tests and demos (GPLinkerConfig's defaults: 300 steps,
  constant AdamW 1e-3, 1200 sentences, dev = the built-in dev set as before).

Early stopping is `EarlyStopping`: the Trainer's on_eval hook (wrapping BestWeights) counts the dev
evaluations since the best one, and its on_step hook ends the run, after a checkpoint of that step,
once `patience` of them did not beat it or `max_minutes` of training have passed. A resumed run
replays its metrics.jsonl through the same count and keeps its clock, so `--resume` neither restarts
the patience nor the time cap, and a run that had stopped stays stopped. Where we depart:
the posts train a fixed number of epochs and keep the best; the stop rule and the time cap are ours,
so that a CPU run ends on its own near its plateau.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from kexue.train.timecap import TimeCap


@dataclass(frozen=True)
class Recipe:
    """A from-scratch training recipe; `steps` = ⌈epochs · |train| / batch⌉ unless `fixed_steps` is set."""
    name: str
    data: str  # "builtin" (the task's built-in data as before recipes) or its own split: "msra", "generated"
    n_train: int = 0  # training sentences (0: all of MSRA train but the dev ones)
    n_dev: int = 1000
    n_test: int = 0  # generated test sentences (0: MSRA test, all 5000)
    epochs: float = 3.0
    fixed_steps: int = 0
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 300
    schedule: str = "cosine"
    min_lr_ratio: float = 0.0
    eval_every: int = 500  # steps between dev evaluations (0: once per epoch)
    patience: int = 4  # dev evaluations without a gain before stopping (0: never)
    max_minutes: float = 25.0  # training time cap (0: none)
    sort_by_length: bool = True
    hidden: int = 128
    heads: int = 4
    layers: int = 2
    pretrained: bool = False  # fine-tunes `--encoder RUN` (its size is the encoder's; hidden/heads/layers unused)
    encoder_lr_scale: float = 1.0  # the encoder's rate over the heads' (a pretrained recipe's split)
    lexicon: str = ""  # lexicon features on the encoder's input (lexicon.py): "" = none, else their source
    bigrams: int = 0  # bigram embeddings of this size on the encoder's input (bigrams.py): 0 = none


QUICK = Recipe("quick", "builtin", n_train=1200, fixed_steps=300, lr=1e-3, warmup=0, schedule="constant",
               eval_every=0, patience=0, max_minutes=0.0, sort_by_length=False)
MSRA_SCRATCH = Recipe("msra", "msra")
# a pretrained encoder (`kexue roformer pretrain --preset msra-encoder`) fine-tuned on the msra split: the heads
# at AdamW 2e-3, the encoder at a quarter of it (the split of pretrained encoder vs new heads), 3 epochs
MSRA_PRETRAINED = Recipe("msra-pretrained", "msra", lr=2e-3, encoder_lr_scale=0.25, pretrained=True)
MSRA_LEXICON = replace(MSRA_PRETRAINED, name="msra-lexicon", lexicon="jieba+peoples-daily")
MSRA_BIGRAMS = replace(MSRA_LEXICON, name="msra-bigrams", bigrams=32)
GENERATED_EVENTS = Recipe("generated", "generated", n_train=3000, n_dev=300, n_test=1000, epochs=20, warmup=100,
                          eval_every=200, patience=5, max_minutes=10.0)
GENERATED_RELATIONS = Recipe("generated", "generated", n_train=3000, n_dev=300, n_test=1000, epochs=10, warmup=100,
                             eval_every=100, max_minutes=10.0)


def check_encoder(recipe: Recipe, name: str | None, encoder: Any, resume: bool = False) -> None:
    """A from-scratch recipe named with --encoder, or a pretrained one without it (and not resuming), is an error."""
    if encoder is not None and name is not None and not recipe.pretrained:
        raise ValueError(f"--recipe {name} is a from-scratch recipe; --encoder brings the post's fine-tuning "
                         "recipe, or name a pretrained recipe (ner: msra-pretrained, msra-lexicon, msra-bigrams): "
                         "drop one of them")
    if encoder is None and recipe.pretrained and not resume:
        raise ValueError(f"--recipe {recipe.name} fine-tunes a pretrained encoder: give --encoder RUN (a `kexue roformer "
                         "pretrain --preset msra-encoder` folder, or an HF checkpoint folder)")


def apply_recipe(cfg: Any, recipe: Recipe, n_train: int) -> Any:
    """The GPLinkerConfig `cfg` with the recipe's encoder, optimiser, schedule and stopping rule."""
    steps = recipe.fixed_steps or math.ceil(recipe.epochs * n_train / recipe.batch_size)
    train = replace(cfg.train, steps=steps, batch_size=recipe.batch_size, lr=recipe.lr, warmup=recipe.warmup,
                    schedule=recipe.schedule, min_lr_ratio=recipe.min_lr_ratio)
    encoder = cfg.encoder if recipe.pretrained else replace(cfg.encoder, hidden=recipe.hidden, heads=recipe.heads,
                                                            layers=recipe.layers)
    encoder = replace(encoder, lexicon=recipe.lexicon, bigrams=recipe.bigrams)
    return replace(cfg, train=train, encoder=encoder, recipe=recipe.name, eval_every=recipe.eval_every,
                   patience=recipe.patience, max_minutes=recipe.max_minutes, sort_by_length=recipe.sort_by_length,
                   encoder_lr_scale=recipe.encoder_lr_scale)


def describe(task: str, cfg: Any, n_train: int, n_dev: int, encoder: Any = None) -> str:
    """One line naming the recipe and what it will do, printed at the start of a run."""
    t, e = cfg.train, cfg.encoder
    epochs = t.steps * t.batch_size / max(n_train, 1)
    sched = f"{t.schedule}" + (f" after {t.warmup} warm-up steps" if t.warmup else "")
    stop = (f"; dev {'every ' + str(cfg.eval_every) + ' steps' if cfg.eval_every else 'every epoch'}, "
            f"the best kept" if n_dev and cfg.keep_best else "")
    if n_dev and cfg.patience:
        stop += f", early stop after {cfg.patience} evaluations without a gain"
    if cfg.max_minutes:
        stop += f", at most {cfg.max_minutes:g} min of training"
    rate = (f"AdamW lr {t.lr:g} on the heads and {t.lr * cfg.encoder_lr_scale:g} on the encoder"
            if cfg.encoder_lr_scale != 1.0 else f"AdamW lr {t.lr:g}")
    what = (f"the pretrained encoder of --encoder {encoder}" if encoder is not None
            else f"TinyEncoder {e.hidden}×{e.layers} layers from scratch")
    features = ([f"lexicon features ({e.lexicon})"] if e.lexicon else []) + (
        [f"bigram embeddings ({e.bigrams}-dim)"] if e.bigrams else [])
    if features:
        what += " with " + " and ".join(features)
    return (f"recipe {task}/{cfg.recipe}: {what}, {rate} {sched}, batch {t.batch_size}{' sorted by length' if cfg.sort_by_length else ''}, "
            f"{t.steps} steps ≈ {epochs:.1f} epochs of {n_train} sentences ({n_dev} dev){stop} "
            f"(--recipe quick: the short demo run; --set key=value overrides)")


class StopTraining(Exception):
    """Raised by EarlyStopping.on_step after the checkpoint of `step`: the run ends there."""

    def __init__(self, step: int, reason: str):
        super().__init__(f"stopped at step {step}: {reason}")
        self.step, self.reason = step, reason


class EarlyStopping:
    """The Trainer's on_eval / on_step hooks: `keep` (BestWeights, or any on_eval) keeps the best weights;
    this counts the dev evaluations since the best `metric` (a gain must exceed min_delta; a tie is no
    gain) and stops the run once `patience` of them in a row gave none, or once `max_minutes` passed."""

    def __init__(self, keep: Callable[[Any, dict], dict | None] | None, metric: str, patience: int = 0,
                 max_minutes: float = 0.0, min_delta: float = 0.0, clock: Callable[[], float] = time.perf_counter):
        self.keep, self.metric, self.patience = keep, metric, patience
        self.min_delta, self.cap = min_delta, TimeCap(max_minutes, clock=clock)
        self.best: float | None = None
        self.best_step, self.since, self.reason = 0, 0, ""
        self.curve: list[tuple[int, float, float]] = []  # (step, minutes, value) of every dev evaluation

    @property
    def max_minutes(self) -> float:
        return self.cap.max_minutes

    def seconds_left(self) -> float:
        """Seconds until the time cap (inf without one)."""
        return self.cap.seconds_left()

    def on_eval(self, trainer: Any, metrics: dict[str, float]) -> dict[str, Any]:
        out = dict(self.keep(trainer, metrics) or {}) if self.keep is not None else {}
        if not any(k in metrics for k in (f"eval_ema/{self.metric}", f"eval/{self.metric}")):
            raise ValueError(f"early stopping: the dev evaluation has no {self.metric} (got {', '.join(metrics)})")
        value = self._value(metrics)
        if value is None:  # undefined (a dev set with nothing gold and nothing predicted): not counted
            return {**out, "early_stop/since_best": self.since}
        self._count(trainer.step, self.minutes(), value)
        return {**out, "early_stop/since_best": self.since}

    def resume(self, records: list[dict[str, Any]], seconds: float) -> None:
        """Continue a run where its checkpoint left it: replay the dev evaluations among its metrics.jsonl
        `records` (those up to the checkpoint) through the same rule, and count the `seconds` of training
        it had done toward max_minutes. A run that had already stopped has `reason` set again."""
        self.cap.restart(seconds)
        for r in records:
            value = self._value(r)
            if value is not None:
                self._count(r["step"], r.get("seconds", 0.0) / 60.0, value)
        if not self.reason and self.cap.due():
            self.reason = f"{self.max_minutes:g} minutes of training passed"

    def _value(self, metrics: dict[str, Any]) -> float | None:
        key = next((k for k in (f"eval_ema/{self.metric}", f"eval/{self.metric}") if k in metrics), None)
        return None if key is None else metrics[key]

    def _count(self, step: int, minutes: float, value: float) -> None:
        self.curve.append((step, minutes, value))
        if self.best is None or value > self.best + self.min_delta:
            self.best, self.best_step, self.since = value, step, 0
        else:
            self.since += 1
            if self.patience and self.since >= self.patience and not self.reason:
                self.reason = (f"dev {self.metric} has not beaten {self.best:.4f} (step {self.best_step}) in "
                               f"{self.since} evaluations")

    def on_step(self, trainer: Any, step: int) -> None:
        if not self.reason and self.cap.due():
            self.reason = f"{self.max_minutes:g} minutes of training passed"
        if self.reason and step < trainer.cfg.steps:
            trainer.save()
            raise StopTraining(step, self.reason)

    def minutes(self) -> float:
        return self.cap.minutes()
