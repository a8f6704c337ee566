"""The run-facing half of GPLinker: train through kexue's one Trainer, save and load run folders.

kexue.fm/archives/8926, 8888, 8373. The model-facing half (collate, loss, predict, evaluate) is
linker.py's `Linker`; `GPLinker` adds fit, save and load; `build_linker` decides resume / pretrained
encoder / fresh; the keep-the-best-dev-weights hook is kexue/train/best.py's. Where we depart: the posts
train a pretrained BERT with Adam 2e-5 for 200 (events) / 20 (relations) epochs; the quick preset
trains `TinyEncoder` from scratch with AdamW 1e-3 for a few hundred steps, so its F1s are those of a
small model on synthetic data; `GPLinker.pretrained` (CLI `--encoder PATH`) starts from a kexue
RoFormerV2 or an HF checkpoint instead (encoders.py). A trained run folder holds model.safetensors
(encoder and heads, the last step), vocab.txt and config.json (task, labels, model settings, the
encoder's config, the data: run_folder.py) — all `load_run` needs; the checkpoint folder is never read
again. Trained with dev
data it also holds best.safetensors and best.json: as the posts' scripts (an Evaluator callback every
epoch that saves the weights of the best dev F1, then loads them to predict), the weights of the best
dev evaluation, which `fit` ends with and `load_run` prefers.
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from kexue.config import to_dict
from kexue.data import CharTokenizer
from kexue.gplinker.encoders import load_encoder, load_tokenizer
from kexue.gplinker.linker import GPLinkerConfig, Linker, TaskName
from kexue.gplinker.bigrams import BIGRAMS_FILE, read_bigrams, save_bigrams
from kexue.gplinker.lexicon import LEXICON_FILE, LexiconEmbedding, read_lexicon, save_lexicon
from kexue.gplinker.model import EncoderConfig
from kexue.gplinker.recipes import EarlyStopping, StopTraining
from kexue.gplinker.tasks import TASKS
from kexue.train import Trainer, read_metrics
from kexue.train.best import BEST_FILE, BEST_RECORD, BestWeights, read_best
from kexue.train.length_batches import LengthBuckets
from kexue.gplinker.run_folder import SECTION, read_linker_run
from kexue.runs import check_unchanged, write_settings
from kexue.train.checkpoint import METRICS_FILE, MODEL_FILE, checkpoint_step, has_checkpoint, load_model
from kexue.train.rng import seed_everything

# the dev F1 the scripts keep the best of: duee_v1.py best_model.e.weights (event level), duie_v1.py
SELECT = {name: t.select for name, t in TASKS.items()}
__all__ = ["BEST_FILE", "BEST_RECORD", "BestWeights", "GPLinker", "GPLinkerConfig", "build_linker", "load_run",
           "read_best", "rebuild_run"]


class GPLinker(Linker):
    """A Linker that trains, and saves and loads its run folder. `data` names the files it was trained
    on ({"train", "dev", "schema"}: paths, or "generated"/"msra" for the built-in data), written to the
    run's settings so that evaluate and predict take the task, schema, labels and dev file from the run."""

    data: dict[str, str] = {}
    cut: dict[str, int] | None = None  # fit's count of the training labels past max_len (cut_record)

    @classmethod
    def pretrained(cls, cfg: GPLinkerConfig, labels: list, path: str | Path,
                   texts: list[str] | None = None) -> "GPLinker":
        """GPLinker on the pretrained encoder of the checkpoint folder `path`, with its own tokenizer
        (`texts`: the training texts, which encoder.bigrams are counted in)."""
        enc_cfg, encoder, tokenizer = load_encoder(path, cfg.encoder)
        positions = enc_cfg.model.get("max_position_embeddings") if enc_cfg.kind == "hf" else (
            enc_cfg.model.get("max_position") if enc_cfg.model.get("position") == "learned" else None)
        if positions is not None and cfg.max_len > positions:
            raise ValueError(f"--encoder {path}: max_len={cfg.max_len} is over the model's {positions} positions; "
                             f"--set max_len={positions}")
        return cls(replace(cfg, encoder=enc_cfg), labels, tokenizer, encoder=encoder, texts=texts)

    # -- runs --------------------------------------------------------------------------------------
    def fit(self, train: list, dev: list | None, out_dir: str | Path, progress: bool = False,
            resume: bool = False, device: str | None = None) -> dict[str, Any]:
        """Train on `train`. With `dev` and cfg.keep_best, as the posts' Evaluator: evaluate on dev every
        cfg.eval_every steps (0: once per epoch) and at the last step, keep the weights of the best
        SELECT[task] F1 in best.safetensors (a tie goes to the later step, as their `>=`) with best.json,
        and end holding them (the scripts load best_model.weights to predict). The summary's `weights`
        says which weights the model holds, `best` the best evaluation (None without one), `dev` the dev
        metrics of the weights it ends with (best.json's, else one evaluation; None without dev),
        `beyond_max_len` the training labels past max_len tokens, which it never sees (`cut_record`)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.cut = self.cut_record(train)  # config.json records it
        self.save_meta(out_dir)
        keep = bool(dev) and self.cfg.keep_best
        tcfg = self.cfg.train
        if keep:
            # the scripts' epoch in steps: ⌈|train| / batch_size⌉ (bert4keras also yields the short last batch)
            tcfg = replace(tcfg, eval_every=self.cfg.eval_every or math.ceil(len(train) / tcfg.batch_size))
        eval_fn = (lambda model: self.evaluate(dev)) if dev else None
        continuing = resume and has_checkpoint(out_dir)
        keeper = BestWeights(out_dir, SELECT[self.cfg.task], read_best(out_dir) if continuing else None)
        # early stopping on the dev curve and the time cap (recipes.py), around the keep-the-best hook
        stopper = EarlyStopping(keeper if keep else None, SELECT[self.cfg.task], self.cfg.patience if dev else 0,
                                self.cfg.max_minutes)
        data = (LengthBuckets(train, tcfg.batch_size, [len(r.text) for r in train], tcfg.seed)
                if self.cfg.sort_by_length else train)
        trainer = Trainer(self.model, tcfg, data, lambda m, b: self.loss(m, b), out_dir, collate_fn=self.collate,
                          param_groups=encoder_head_groups(self.cfg.encoder_lr_scale, tcfg.weight_decay),
                          eval_fn=eval_fn, on_eval=stopper.on_eval if dev else None, run_config=self.settings(),
                          progress=progress, device=device,
                          on_step=stopper.on_step if stopper.patience or stopper.max_minutes else None,
                          time_left=stopper.seconds_left)
        if trainer.is_main and not continuing:  # a new run: an earlier run's best is not this run's
            for name in (BEST_FILE, BEST_RECORD):
                (out_dir / name).unlink(missing_ok=True)
        if continuing:  # the stop rule and the time cap go on from the checkpoint, not from nothing
            step = checkpoint_step(out_dir)
            records = [r for r in read_metrics(out_dir) if r["step"] <= step]
            stopper.resume(records, records[-1]["seconds"] if records else 0.0)
        try:
            if stopper.reason:  # resumed, it had already stopped (patience or time cap): nothing to train
                raise StopTraining(step, stopper.reason)
            summary = {**trainer.fit(resume=resume), "stopped": ""}
        except StopTraining as stop:  # the checkpoint of stop.step is written; the run ends there
            summary = {"final_loss": last_loss(out_dir), "steps": stop.step, "stopped": stop.reason}
        summary["curve"] = stopper.curve
        self.model = trainer.model
        best = read_best(out_dir) if keep else None
        dev_metrics = None
        if best is not None:
            load_model(self.model, out_dir / BEST_FILE)
            # those weights were evaluated when they were kept: "eval_ema/event_level/f1" → "event_level/f1"
            record = json.loads((out_dir / BEST_RECORD).read_text(encoding="utf-8"))
            dev_metrics = {k.split("/", 1)[1]: v for k, v in record["metrics"].items()}
        elif dev:
            dev_metrics = self.evaluate(dev)
        self.weights = describe_weights(out_dir, best)
        return {**summary, "weights": self.weights, "best": best, "dev": dev_metrics, "beyond_max_len": self.cut}

    def cut_record(self, train: list) -> dict[str, int]:
        """{"labels", "sentences", "max_len"}: the labels of `train` that end past what max_len tokens cover
        (Linker.beyond_max_len) and the sentences they are in; the posts drop them silently."""
        labels, sentences = self.beyond_max_len(train)
        return {"labels": labels, "sentences": sentences, "max_len": self.cfg.max_len}

    def settings(self) -> dict[str, Any]:
        """The run's settings (config.json's `run` section, kexue/gplinker/run_folder.py), and once `fit`
        counted them the training labels past max_len (`beyond_max_len`)."""
        settings = {SECTION: to_dict(self.cfg), "labels": self.labels, "data": dict(self.data)}
        if self.cut is not None:
            settings["beyond_max_len"] = self.cut
        return json.loads(json.dumps(settings, ensure_ascii=False))  # as config.json holds them: labels as lists

    def save_meta(self, out_dir: Path) -> None:
        """vocab.txt and the run's settings: what `load_run` needs beside the weights."""
        self.tokenizer.save(out_dir / "vocab.txt")
        if self.lexicon is not None:
            save_lexicon(self.lexicon, out_dir / LEXICON_FILE)
        if self.bigrams is not None:
            save_bigrams(self.bigrams, self.tokenizer, out_dir / BIGRAMS_FILE)
        write_settings(out_dir, self.settings())


def build_linker(cfg: GPLinkerConfig, labels: list, texts: list[str], out_dir: str | Path, resume: bool = False,
                 encoder: str | Path | None = None, train_texts: list[str] | None = None) -> tuple[GPLinker, str]:
    """The decision "resume / pretrained encoder / fresh" and the GPLinker it gives, with one word naming it:
    - resume (and out_dir holds a run): the run as it was saved (its labels, its vocab.txt) under `cfg`,
      which must be the run's own settings but for what a resume may change (kexue.runs.check_unchanged:
      one line naming the setting); the labels must be the run's, and an --encoder must be the run's own;
    - encoder: the checkpoint's encoder and tokenizer under `cfg` (GPLinker.pretrained);
    - else fresh: a from-scratch encoder on a character vocabulary of `texts`.
    encoder.bigrams are counted in `train_texts` (default `texts`): the training texts only, never a test's."""
    out_dir = Path(out_dir)
    if resume and has_run(out_dir):
        check_unchanged(out_dir, cfg, SECTION)
        g = rebuild_run(out_dir)
        g.cfg = cfg
        if g.labels != list(labels):
            raise ValueError(f"--resume {out_dir}: the data's labels differ from the run's; give the run's "
                             "--train / --schema")
        if encoder is not None and not same_encoder(load_encoder(encoder, g.cfg.encoder)[0], g.cfg.encoder):
            raise ValueError(f"--resume {out_dir}: --encoder {encoder} is not the encoder the run was trained "
                             f"on ({g.cfg.encoder.source or g.cfg.encoder.kind}); drop --encoder to resume")
        return g, "resume"
    # the new weights (a fresh encoder, a pretrained encoder's heads) come from train.seed: the same command
    # builds the same model in every process (the Trainer seeds only once the model exists)
    seed_everything(cfg.train.seed)
    counted = texts if train_texts is None else train_texts
    if encoder is not None:
        return GPLinker.pretrained(cfg, labels, encoder, counted), "pretrained"
    return GPLinker(cfg, labels, CharTokenizer.build(texts, max_size=cfg.encoder.vocab), texts=counted), "fresh"


def has_run(folder: Path) -> bool:
    """Whether `folder` holds a GPLinker run's settings (and vocab.txt) to rebuild."""
    from kexue.runs import OLD_GPLINKER_FILE
    from kexue.train.checkpoint import CONFIG_FILE
    return (folder / "vocab.txt").is_file() and any((folder / f).is_file() for f in (CONFIG_FILE, OLD_GPLINKER_FILE))


def encoder_head_groups(scale: float, weight_decay: float = 0.0):
    """The Trainer's param_groups with the encoder at lr · scale and the heads at lr (None for scale 1:
    one group, as the posts train). As Su's fine-tuning of a pretrained encoder under new layers, the new
    layers learn faster than the pretrained encoder they read: the heads, and the lexicon features'
    projection P (lexicon.py) and the bigram embeddings B, W (bigrams.py), new too though in the encoder."""
    if scale == 1.0:
        return None

    def groups(model: Any) -> list[dict]:
        new = {id(p) for m in model.encoder.modules() if isinstance(m, LexiconEmbedding) for p in m.new_parameters()}
        encoder = {id(p) for p in model.encoder.parameters()} - new
        params = [p for p in model.parameters() if p.requires_grad]
        # lr_encoder = lr · scale, lr_heads = lr
        return [{"params": [p for p in params if id(p) in encoder], "lr_scale": scale, "weight_decay": weight_decay},
                {"params": [p for p in params if id(p) not in encoder], "lr_scale": 1.0, "weight_decay": weight_decay}]
    return groups


def load_run(run_dir: str | Path, device: str = "cpu", last: bool = False) -> GPLinker:
    """A trained run folder (gplinker.json, vocab.txt, best.safetensors or model.safetensors) → GPLinker,
    strictly loaded: the best dev weights when the run kept them, else (or with last=True) the last step's.
    `.weights` says which. A pretrained encoder is rebuilt from its config in the run's settings; its
    weights are in the run's file."""
    run_dir = Path(run_dir)
    g = rebuild_run(run_dir)
    best = None if last else read_best(run_dir)
    load_model(g.model, run_dir / BEST_FILE if best is not None else run_dir)
    g.weights = describe_weights(run_dir, best)
    g.model.to(device).eval()
    return g


def last_loss(run_dir: Path) -> float | None:
    """The training loss of the last metrics.jsonl record that has one (the summary of a stopped run)."""
    loss = None
    file = Path(run_dir) / METRICS_FILE
    for record in read_metrics(file) if file.is_file() else []:
        loss = record.get("loss", loss)
    return loss


def describe_weights(run_dir: Path, best: dict[str, Any] | None) -> str:
    """One line naming the weights a model holds, e.g. for the command line's output."""
    if best is not None:
        return f"{BEST_FILE} (best dev {best['metric']} {best['value']:.4f} at step {best['step']})"
    step = checkpoint_step(run_dir)
    return f"{MODEL_FILE} (the last step, {'?' if step is None else step})"


def fine_tune_recipe(cfg: GPLinkerConfig, n_train: int) -> tuple[GPLinkerConfig, str]:
    """cfg with the post's fine-tuning recipe for its task (Adam, lr 2e-5, its batch, its epochs as steps over
    n_train sentences), and one line saying so."""
    r = TASKS[cfg.task].fine_tune
    steps = r.epochs * math.ceil(n_train / r.batch_size)
    train = replace(cfg.train, optimizer="adam", lr=2e-5, batch_size=r.batch_size, steps=steps)
    line = (f"recipe: the post's fine-tuning ({r.source}): Adam lr 2e-5, batch {r.batch_size}, {r.epochs} "
            f"epochs = {steps} steps on {n_train} sentences (override with --set train.steps=N ...)")
    return replace(cfg, train=train), line


def rebuild_run(run_dir: str | Path) -> GPLinker:
    """The GPLinker a run folder was trained as (its settings and labels, its vocab.txt read as its encoder
    reads it), with fresh weights: what a resume continues, whatever --encoder was."""
    run_dir = Path(run_dir)
    run = read_linker_run(run_dir)
    e = run.cfg.encoder
    tokenizer = load_tokenizer(e, run_dir / "vocab.txt")
    lexicon = read_lexicon(kept_file(run_dir, LEXICON_FILE, f"encoder.lexicon={e.lexicon}")) if e.lexicon else None
    bigrams = read_bigrams(kept_file(run_dir, BIGRAMS_FILE, f"encoder.bigrams={e.bigrams}"), tokenizer) \
        if e.bigrams else None
    g = GPLinker(run.cfg, run.labels, tokenizer, lexicon=lexicon, bigrams=bigrams)
    g.data = run.data
    return g


def kept_file(run_dir: Path, name: str, setting: str) -> Path:
    """run_dir / name, which a run trained with `setting` keeps; its absence is an error naming it."""
    if not (run_dir / name).is_file():
        raise FileNotFoundError(f"{run_dir / name}: missing; the run was trained with {setting} and keeps it there")
    return run_dir / name


def same_encoder(a: EncoderConfig, b: EncoderConfig) -> bool:
    """Whether two encoder configs build the same encoder and read vocab.txt alike (`source` is a record only)."""
    return to_dict(replace(a, source="")) == to_dict(replace(b, source=""))


def samples_of(task: TaskName, rows: list) -> list:
    """Type check of what a task trains on."""
    want = TASKS[task].sample_type
    for k, r in enumerate(rows):
        if not isinstance(r, want):
            raise TypeError(f"sample {k} is a {type(r).__name__}; the {task} task trains on {want.__name__}")
    return rows
