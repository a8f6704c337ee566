"""Train one architecture on the seq2seq task with the one Trainer, and measure it on held-out sentences.

kexue.fm/archives/9529: the loss on the output part only, the same data for every architecture.
Measured: the output loss on (a slice of) the training split and on the held-out split, teacher
forced; exact match and token accuracy of greedy decoding (KV cache) on the held-out split; training
tokens/s; parameters and training FLOPs per example. `compare` runs several architectures × seeds
on one data set, the encoder-decoder either as given (equal depth and width: about equal FLOPs and
2× the parameters) or with its width matched to the decoder-only model's Transformer weights ("params",
the post's count: the tied embedding left out), every parameter ("params_total") or training FLOPs.

Where we depart: the post trains 1B models; the sizes here are the presets' (reproduce.py).
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from kexue.config import from_dict, to_dict
from kexue.decoder_only.model import (ModelConfig, Seq2SeqModel, match_width, output_loss,
                                      training_flops)
from kexue.decoder_only.tasks import EOS, SEP, Pairs, TaskConfig, build_task, collate, count_tokens
from kexue.nn.params import count_parameters
from kexue.parallel import map_runs
from kexue.train import TrainConfig, Trainer
from kexue.train.checkpoint import read_json, write_json

RESULT_FILE = "result.json"  # a finished compare run's measurements
LABELS = {"decoder": "decoder-only", "prefix": "prefix-LM", "encdec@params": "enc-dec, equal weights",
          "encdec@params_total": "enc-dec, equal params with embedding", "encdec@flops": "enc-dec, equal FLOPs",
          "encdec": "enc-dec"}  # "equal weights": the Transformer weights, the tied embedding left out


def _default_train() -> TrainConfig:
    return TrainConfig(steps=300, batch_size=32, lr=3e-3, weight_decay=0.01, schedule="cosine", warmup=30,
                       min_lr_ratio=0.05, clip=1.0, log_every=50)


@dataclass
class RunConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=_default_train)
    eval_batch: int = 128
    n_generate: int = 0  # held-out sentences greedily decoded (0: all)


def run(cfg: RunConfig, out_dir: str | Path, *, data: tuple | None = None, progress: bool = True,
        resume: bool | str = False) -> dict[str, Any]:
    """Train cfg.model on cfg.task and return the Trainer's summary with the measurements above (rank 0;
    other ranks of a torchrun get the Trainer's summary alone). resume is the Trainer's (True, "auto")."""
    train_set, test_set, vocab = data if data is not None else build_task(cfg.task)
    torch.manual_seed(cfg.train.seed)
    model = Seq2SeqModel(cfg.model, len(vocab), vocab.n_output)
    batcher = collate(cfg.model.arch)

    def loss_fn(m, batch):
        loss, _, hits = output_loss(m, batch)
        return loss, {"acc": float(hits.float().mean())}

    trainer = Trainer(model, cfg.train, train_set, loss_fn, out_dir, collate_fn=batcher, run_config=cfg,
                      progress=progress, count_tokens=count_tokens)
    summary = trainer.fit(resume=resume)
    if trainer.rank:
        return summary
    model.eval()
    train_slice = Pairs(train_set.pairs[:len(test_set)], train_set.texts[:len(test_set)])
    summary["train_loss"] = evaluate_loss(model, train_slice, cfg.eval_batch)["loss"]
    held = evaluate_loss(model, test_set, cfg.eval_batch)
    summary["test_loss"], summary["test_token_acc_tf"] = held["loss"], held["acc"]
    k = cfg.n_generate or len(test_set)
    gen_set = Pairs(test_set.pairs[:k], test_set.texts[:k])
    summary.update(evaluate_generation(model, gen_set, cfg.eval_batch))
    n_src = sum(len(s) for s, _ in test_set.pairs) / len(test_set)
    n_tgt = sum(len(t) for _, t in test_set.pairs) / len(test_set)
    summary["params"] = count_parameters(model)
    summary["flops_per_example"] = training_flops(cfg.model, vocab.n_output, round(n_src), round(n_tgt))
    summary["arch"], summary["hidden"], summary["config_model"] = cfg.model.arch, cfg.model.hidden, cfg.model
    return summary


@torch.no_grad()
def evaluate_loss(model: Seq2SeqModel, data: Pairs, batch_size: int = 128) -> dict[str, float]:
    """Mean output-part loss (nats per token, [EOS] included) and teacher-forced token accuracy."""
    was = model.training
    model.eval()
    batcher = collate(model.cfg.arch)
    loss_sum, hits, count = 0.0, 0, 0
    for start in range(0, len(data), batch_size):
        batch = batcher(data.pairs[start:start + batch_size])
        _, losses, hit = output_loss(model, batch)
        loss_sum, hits, count = loss_sum + float(losses.sum()), hits + int(hit.sum()), count + losses.numel()
    model.train(was)
    return {"loss": loss_sum / count, "acc": hits / count}


@torch.no_grad()
def evaluate_generation(model: Seq2SeqModel, data: Pairs, batch_size: int = 128, cache: bool = True
                        ) -> dict[str, float]:
    """Greedy decoding (up to |input| + 1 tokens): exact match of the whole output, and token accuracy =
    matching positions of the reference `output [EOS]` (a missing or extra token counts as wrong)."""
    was = model.training
    model.eval()
    by_len: dict[int, list[int]] = defaultdict(list)
    for i, (s, _) in enumerate(data.pairs):
        by_len[len(s)].append(i)  # one input length per batch: no padding inside the cached prefix
    exact, correct, total = 0, 0, 0
    for m, idx in sorted(by_len.items()):
        for start in range(0, len(idx), batch_size):
            rows = [data.pairs[i] for i in idx[start:start + batch_size]]
            src = torch.tensor([s for s, _ in rows])
            out = model.generate(src, m + 1, SEP, EOS, cache=cache).tolist()
            for (_, t), pred in zip(rows, out):
                ref = t + [EOS]
                pred = pred[:pred.index(EOS) + 1] if EOS in pred else pred
                exact += pred == ref
                correct += sum(a == b for a, b in zip(pred, ref))
                total += len(ref)
    model.train(was)
    return {"exact_match": exact / len(data), "token_acc": correct / total}


def compare(base: RunConfig, archs: tuple[str, ...], seeds: int, out_dir: str | Path, *,
            match: str | None = "params", data: tuple | None = None, progress: bool = False,
            resume: bool = True) -> dict[str, list[dict]]:
    """Each arch × seed on one data set. `archs` may include "encdec@params" / "encdec@params_total" /
    "encdec@flops" (the encoder-decoder's width matched to base's) next to plain "encdec" (base's depth and
    width); a plain "encdec" follows `match` (None: as given). Returns {arch: [summary per seed]}.

    Run `arch@by` of seed s trains in out_dir/`arch_by-seed{s}` and leaves its measurements there in
    result.json, with the settings it ran with. resume=True (the default, as the CLI's --resume) reads the
    finished runs' result.json back instead of training them again, continues a run that was cut (or one
    asked for more steps) from its checkpoint, and starts the ones not yet begun; resume=False trains every
    run anew. The runs to train are independent, and run side by side on the topic's cores
    (`train_missing`)."""
    data = data or build_task(base.task)
    train_set, test_set, vocab = data
    n_src = round(sum(len(s) for s, _ in train_set.pairs) / len(train_set))
    n_tgt = round(sum(len(t) for _, t in train_set.pairs) / len(train_set))
    runs = []  # (arch name, the run's settings, its folder)
    for name in archs:
        arch, _, by = name.partition("@")
        by = by or (match if arch == "encdec" else None)
        model_cfg = replace(base.model, arch=arch)
        if by:
            model_cfg = match_width(replace(base.model, arch="decoder"), arch, len(vocab), by, n_src, n_tgt,
                                    vocab.n_output)
        runs += [(name, replace(base, model=model_cfg, train=replace(base.train, seed=seed)),
                  Path(out_dir) / f"{name.replace('@', '_')}-seed{seed}") for seed in range(seeds)]
    return train_missing(compare_run, runs, resume, data, progress, resume, read=_model_config_back)


def _model_config_back(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "config_model": from_dict(ModelConfig, row["config_model"])}


def compare_run(cfg: RunConfig, folder: Path, data: tuple, progress: bool = False, resume: bool = True
                ) -> dict[str, Any]:
    """One run of `compare`, trained in `folder` (continued from its checkpoint when resume), its
    measurements left there in result.json; its summary (rank 0's measurements, another rank's Trainer's)."""
    t0 = time.perf_counter()
    s = run(cfg, folder, data=data, progress=progress, resume="auto" if resume else False)
    if s.get("rank"):
        return s
    s["wall_seconds"] = time.perf_counter() - t0
    write_result(folder, {**s, "config_model": to_dict(s["config_model"])}, to_dict(cfg))
    return s


def finished_result(folder: Path, settings: dict[str, Any], resume: bool) -> dict[str, Any] | None:
    """The measurements of the finished run in `folder` when it ran with `settings` and resume is on; else
    None, and the folder's result.json is removed first, so that it never stands beside a newer checkpoint.
    A result.json of other settings than a resume may change (more steps, ...) is a ValueError naming them."""
    file = Path(folder) / RESULT_FILE
    if not file.is_file():
        return None
    row = read_json(file)
    saved = row.pop("settings", None)
    if resume and (saved is None or saved == settings):  # None: a result.json of an older kexue
        return row
    if resume:
        from kexue.train.resume import flatten
        from kexue.train.settings import MAY_CHANGE_ON_RESUME

        was, now = flatten(saved), flatten(settings)
        differ = [k for k in now if was.get(k) != now[k] and k.removeprefix("train.") not in MAY_CHANGE_ON_RESUME]
        if differ:
            raise ValueError(f"{file}: this run was made with other settings ({differ[0]} = {was.get(differ[0])!r}, "
                             f"now {now[differ[0]]!r}); give another out_dir, or resume=False to train it anew")
    file.unlink()
    return None


def train_missing(fn: Callable[..., dict], runs: list[tuple[str, Any, Path]], resume: bool, *args: Any,
                  read: Callable[[dict], dict] = lambda row: row) -> dict[str, list[dict]]:
    """{name: one row per run, in the order of `runs` = [(name, settings, folder)]}: a finished run's
    result.json read back (`finished_result`, then `read`), the others trained by fn(settings, folder,
    *args), side by side on the topic's cores (kexue.parallel.map_runs: fn at module level)."""
    rows = [finished_result(folder, to_dict(cfg), resume) for _, cfg, folder in runs]
    rows = [None if row is None else read(row) for row in rows]
    todo = [i for i, row in enumerate(rows) if row is None]
    for i, row in zip(todo, map_runs(fn, [(*runs[i][1:], *args) for i in todo])):
        rows[i] = row
    results: dict[str, list[dict]] = {name: [] for name, _, _ in runs}
    for (name, _, _), row in zip(runs, rows):
        results[name].append(row)
    return results


def write_result(folder: Path, row: dict[str, Any], settings: dict[str, Any]) -> None:
    """result.json: a finished run's measurements and the settings it ran with."""
    write_json(Path(folder) / RESULT_FILE, {**row, "settings": settings})


def read_result(folder: str | Path) -> dict[str, Any]:
    """The measurements a finished compare run left in its folder (result.json)."""
    s = read_json(Path(folder) / RESULT_FILE)
    s.pop("settings", None)
    s["config_model"] = from_dict(ModelConfig, s["config_model"])
    return s
