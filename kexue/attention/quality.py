"""Quality of linear vs softmax attention: a causal LM and a bidirectional MLM on People's Daily.

kexue.fm/archives/8610 (with 8338 and 9529): linear attention with the same head size loses little as
a causal language model and clearly as a masked language model. We train four small Transformers
(`TinyTransformer`) on the same character windows: {softmax, linear} × {LM, MLM}. Within a task
both attentions get the same steps; the MLM pair gets `mlm_steps_mult` times the LM's, since it
learns only from the 15 % of positions it masks.
The MLM masks 15 % of characters (80 % [MASK], 10 % random, 10 % kept) and scores only those; the
LM predicts every next character. Both are measured in nats per predicted character on held-out
windows with a fixed evaluation mask, so the two attentions see exactly the same targets.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from kexue.attention.model import AttentionKind, TinyConfig, TinyTransformer
from kexue.data.char_lm import char_corpus, windows
from kexue.data.tokenizers import CharTokenizer
from kexue.data.unigram import unigram_loss as unigram_floor
from kexue.nn.params import count_parameters
from kexue.parallel import map_runs
from kexue.train import TrainConfig
from kexue.train.lm import next_token_loss, train_and_score


@dataclass
class QualityConfig:
    # head size 16 < window 64, so the rank bound of bidirectional linear attention (≤ d) can bite
    model: TinyConfig = field(default_factory=lambda: TinyConfig(heads=8))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=300, batch_size=32, lr=3e-3, schedule="cosine", warmup=30, clip=1.0, log_every=50))
    linear_kind: AttentionKind = "elu"  # the linear form compared against softmax
    mlm_steps_mult: int = 2  # an MLM learns from 15 % of positions, so it gets this many times the LM's steps
    train_chars: int = 400_000  # characters of People's Daily used for training windows
    eval_windows: int = 256
    vocab_size: int = 3000  # most frequent characters; the rest are [UNK]
    mask_rate: float = 0.15  # MLM: share of characters selected
    seed: int = 0
    seeds: tuple[int, ...] = ()  # `compare` trains every model once per seed (init, data order); () = (seed,)


def corpus_windows(cfg: QualityConfig) -> tuple[CharTokenizer, torch.Tensor, torch.Tensor]:
    """Character windows of length max_len, side by side: (tokenizer, train [N, n], eval [eval_windows, n]).
    The LM predicts n − 1 characters of a window, the MLM reads all n."""
    n = cfg.model.max_len
    tok, train_ids, eval_ids = char_corpus(cfg.train_chars, cfg.eval_windows * n, cfg.vocab_size)
    return tok, windows(train_ids, n), windows(eval_ids, n)


def mask_tokens(ids: torch.Tensor, tok: CharTokenizer, rate: float,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: select `rate` of positions; of those 80 % → [MASK], 10 % → random, 10 % kept.

    Returns (inputs, targets) with targets = −100 at unselected positions.
    """
    u = torch.rand(ids.shape, generator=generator, device=ids.device)
    selected = u < rate
    # within the selected: u/rate uniform on [0, 1): < 0.8 mask, < 0.9 random, else keep
    r = u / rate
    inputs = ids.clone()
    inputs[selected & (r < 0.8)] = tok.mask_id
    rand = selected & (r >= 0.8) & (r < 0.9)
    inputs[rand] = torch.randint(5, tok.vocab_size, ids.shape, generator=generator, device=ids.device)[rand]
    targets = torch.where(selected, ids, torch.full_like(ids, -100))
    return inputs, targets


def mlm_loss(model: TinyTransformer, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy at the selected positions only (the head runs on those alone, as BERT's does)."""
    selected = targets != -100
    logits = model.logits(model.hidden(inputs)[selected])
    return F.cross_entropy(logits, targets[selected])


def train_one(cfg: QualityConfig, attention: AttentionKind, causal: bool, tok: CharTokenizer,
              train: torch.Tensor, evals: torch.Tensor, out_dir: Path, progress: bool = False,
              resume: bool | str = False) -> dict:
    """Train one model and return its held-out loss (nats/char) and its training curve.

    resume is the Trainer's: "auto" continues the run in out_dir if it has a checkpoint (a finished
    run is then not trained again), else starts it."""
    mcfg = replace(cfg.model, vocab=tok.vocab_size, attention=attention, causal=causal)
    torch.manual_seed(cfg.seed)
    model = TinyTransformer(mcfg)
    steps = cfg.train.steps * (1 if causal else cfg.mlm_steps_mult)
    train_cfg = replace(cfg.train, seed=cfg.seed, steps=steps)
    if causal:
        loss, held_out, eval_loss = next_token_loss, (evals,), None
    else:  # a fresh mask every training batch; one fixed mask on the held-out windows, the same for both attentions
        loss = lambda m, ids: mlm_loss(m, *mask_tokens(ids, tok, cfg.mask_rate))
        held_out, eval_loss = mask_tokens(evals, tok, cfg.mask_rate, torch.Generator().manual_seed(cfg.seed + 1)), mlm_loss
    # one held-out batch: the MLM's loss is the mean over all its masked characters
    r = train_and_score(model, train_cfg, train, held_out, out_dir, loss=loss, eval_loss=eval_loss,
                        eval_batch=len(evals), run_config=replace(cfg, model=mcfg), progress=progress, resume=resume)
    return {"attention": attention, "task": "lm" if causal else "mlm", "eval_loss": r["eval_loss"],
            "eval_ppl": math.exp(r["eval_loss"]), "train_loss": r["train_loss"],
            "params": count_parameters(model), "seconds": r["seconds"], "curve": r["curve"]}


def compare(cfg: QualityConfig, out_dir: Path, progress: bool = False, resume: bool = False) -> list[dict]:
    """The runs {softmax, linear} × {LM, MLM} × seeds; each writes its checkpoint under out_dir.

    Seed s sets both models' init and data order (and the MLM's evaluation mask), so the two attentions
    of one seed are paired. resume=True continues each run from its checkpoint (the finished ones are not
    trained again). The runs are independent, and run side by side on the topic's cores
    (kexue.parallel.map_runs), in this order."""
    tok, train, evals = corpus_windows(cfg)
    runs = [(seed, causal, attention) for seed in cfg.seeds or (cfg.seed,) for causal in (True, False)
            for attention in ("softmax", cfg.linear_kind)]
    return map_runs(compare_run, [(cfg, seed, causal, attention, tok, train, evals, out_dir, progress, resume)
                                  for seed, causal, attention in runs])


def compare_run(cfg: QualityConfig, seed: int, causal: bool, attention: AttentionKind, tok: CharTokenizer,
                train: torch.Tensor, evals: torch.Tensor, out_dir: Path, progress: bool = False,
                resume: bool = False) -> dict:
    """One run of `compare`: `attention` on the LM (causal) or the MLM task with `seed`, in
    out_dir/<task>-<attention>-seed<seed>; train_one's row with its seed."""
    name = f"{'lm' if causal else 'mlm'}-{attention}-seed{seed}"
    row = train_one(replace(cfg, seed=seed), attention, causal, tok, train, evals, out_dir / name, progress,
                    resume="auto" if resume else False)
    return {**row, "seed": seed}


def unigram_loss(cfg: QualityConfig) -> float:
    """The floor a model must beat: −mean log p(x) of the held-out characters under the training
    characters' frequencies (add-one smoothed), in nats/char (`kexue/data/unigram.py`)."""
    tok, train, evals = corpus_windows(cfg)
    return unigram_floor(train.flatten(), evals.flatten(), tok.vocab_size)


def losses_by_side(rows: list[dict]) -> dict[str, dict[str, list[float]]]:
    """{task: {"softmax": per-seed losses, "linear": per-seed losses}}, seeds in the same order."""
    out: dict[str, dict[str, list[float]]] = {"lm": {"softmax": [], "linear": []}, "mlm": {"softmax": [], "linear": []}}
    for r in sorted(rows, key=lambda r: r.get("seed", 0)):
        out[r["task"]]["softmax" if r["attention"] == "softmax" else "linear"].append(r["eval_loss"])
    return out


def relative_gaps(rows: list[dict]) -> dict[str, float]:
    """Mean over seeds of (L_linear − L_softmax) / L_softmax for the LM and for the MLM."""
    by = losses_by_side(rows)
    return {task: sum((lin - soft) / soft for lin, soft in zip(by[task]["linear"], by[task]["softmax"]))
            / len(by[task]["softmax"]) for task in ("lm", "mlm")}
