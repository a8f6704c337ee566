"""RoFormerV2 pretraining from scratch with whole-word MLM, on the kexue Trainer.

kexue.fm/archives/8998 and ZhuiyiTechnology/roformer-v2 `train_mlm.py` (the base recipe, our defaults):
1M steps, batch 512 (8 accumulation steps), LAMB (bert4keras's Adam + weight decay + layer
adaptation, `kexue.train.optim.Lamb`) at lr 1.76e-3 with ε = 1e-6, no bias correction and weight
decay 0.01 (not on norms and biases, bert4keras's `exclude_from_weight_decay=['Norm', 'bias']`; the
RoFormerV2 has neither, its `bert` variant has both), the piecewise-linear rate
{0: 0, 32k: 1, 320k: 0.5, 1.28M: 0.1, 2.56M: 0.01}, maxlen 512, whole-word masking (mlm.py). The post's
residual warm-up x_{t+1} = Norm(x_t + α F(x_t)) with α = min(1, t / alpha_ramp) is `alpha_ramp`; the
post gives no length and the released script does not use it, so it is off (0) by default.

Where we depart: the default corpus is People's Daily 1998 (1.8M characters, with its gold word
segmentation) instead of 280 GB of WuDao text; the char vocabulary is built from the corpus (the
released one has 12000 entries) unless `vocab` names a vocab.txt.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch

from kexue.data import CharTokenizer, WordPieceTokenizer, load_peoples_daily, train_wordpiece
from kexue.roformer.config import RoFormerV2Config, preset
from kexue.roformer.corpus import ENCODER_CORPUS, encoder_corpus
from kexue.roformer.init import residual_alpha
from kexue.roformer.mlm import MaskingConfig, MLMDataset, collate, encode_words, mlm_loss, segment
from kexue.roformer.model import RoFormerV2
from kexue.train import TrainConfig, Trainer, decay_groups
from kexue.train.length_batches import LengthBuckets
from kexue.train.timecap import TimeCap

POST_LR_SCHEDULE = {0: 0.0, 32_000: 1.0, 320_000: 0.5, 1_280_000: 0.1, 2_560_000: 0.01}


@dataclass
class PretrainConfig:
    model: RoFormerV2Config = field(default_factory=lambda: preset("base"))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=1_000_000, batch_size=512, grad_accum=8, lr=1.76e-3, optimizer="lamb", eps=1e-6,
        bias_correction=False, weight_decay=0.01, schedule="piecewise", piecewise=dict(POST_LR_SCHEDULE),
        log_every=100, ckpt_every=10_000))
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    corpus: str | None = None                       # .txt file (a text a line) or folder; None = People's Daily
    tokenizer: Literal["char", "wordpiece"] = "char"
    vocab: str | None = None                        # a vocab.txt to use instead of building one
    max_len: int = 512                              # tokens per sequence, [CLS] and [SEP] included
    max_texts: int | None = None                    # use only the first texts of the corpus
    eval_texts: int = 200                           # held out from the end of the corpus
    alpha_ramp: int = 0                             # steps of the α warm-up; 0 = α = 1 throughout
    max_minutes: float = 0.0                        # stop (after a checkpoint) once this much training time
                                                    # passed, resumed sessions counted; 0 = no clock cap
    sort_by_length: bool = False                    # batches of like lengths (train/length_batches.py)


def msra_encoder() -> PretrainConfig:
    """The `msra-encoder` preset: an encoder meant for GPLinker fine-tuning on MSRA NER, pretrained on 2 CPU
    cores in at most 30 minutes (the clock cap; --resume --set max_minutes=M goes on for longer). Whole-word
    MLM on People's Daily 1998 + MSRA train text, never MSRA test (corpus.py); sentences of ≤ 128 tokens
    (MSRA's are ≤ 100 characters); a char vocabulary of the corpus. Size, measured (one thread, batch 64 of
    60 tokens, shared machine): 4 layers of 128 (FFN 512, 4 heads; 1.4M parameters) take 0.5 CPU-s a step,
    4 × 256 (FFN 1024) 1.6 s: in 30 minutes the smaller one reads ~2.4 epochs of the corpus, the larger
    under one, and fine-tuning the larger for 3 MSRA epochs alone would take an hour. AdamW 1e-3 after 300
    warm-up steps, constant after them (so that a resumed, longer run continues the same schedule),
    batch 64, weight decay 0.01, clip 1; a checkpoint every 5 minutes. Batches of like lengths: a random
    batch of 64 of this corpus is 38 % real tokens (44 a text), one cut from a length-sorted pool 97 %, and a
    step of 4 × 128 takes a median 0.38 CPU-s instead of 1.08 (one thread; `benchmarks/gplinker_pretrained.py
    --padding`): 30 CPU minutes made 4,372 steps instead of 1,845. Where we depart from the post's recipe (LAMB 1.76e-3 at batch 512 for 1M steps,
    the piecewise decay, fixed-length sequences): a batch and a run that fit a laptop; at batch 64 AdamW
    is what kexue's other small runs use."""
    model = RoFormerV2Config(vocab_size=8000, hidden_size=128, num_layers=4, num_heads=4, intermediate_size=512)
    return PretrainConfig(
        model=model, corpus=ENCODER_CORPUS, max_len=128, eval_texts=500, max_minutes=30.0, sort_by_length=True,
        train=TrainConfig(steps=200_000, batch_size=64, lr=1e-3, optimizer="adamw", weight_decay=0.01,
                          schedule="constant", warmup=300, clip=1.0, log_every=50, eval_every=500,
                          ckpt_minutes=5.0))


def read_corpus(corpus: str | None, max_texts: int | None = None) -> list[list[str]]:
    """Texts as lists of words: People's Daily's own segmentation, or jieba's for a file or folder;
    corpus.ENCODER_CORPUS is People's Daily and MSRA train without MSRA test (corpus.py)."""
    if corpus is None:
        return [list(s.words) for s in load_peoples_daily()[:max_texts]]
    if corpus == ENCODER_CORPUS:
        return encoder_corpus(max_texts)[0]
    path = Path(corpus)
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(f"--corpus {corpus}: no such file, or a folder without .txt files")
    texts: list[str] = []
    for f in files:
        texts += [line.strip() for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
        if max_texts is not None and len(texts) >= max_texts:
            break
    if not texts:
        raise ValueError(f"--corpus {corpus}: no non-empty lines")
    return [segment(t) for t in texts[:max_texts]]


def build_tokenizer(cfg: PretrainConfig, words: list[list[str]], out_dir: Path):
    if cfg.vocab is not None:
        return CharTokenizer.load(cfg.vocab) if cfg.tokenizer == "char" else WordPieceTokenizer(cfg.vocab)
    texts = ["".join(w) for w in words]
    if cfg.tokenizer == "char":
        return CharTokenizer.build(texts, max_size=cfg.model.vocab_size)
    return WordPieceTokenizer(train_wordpiece(texts, cfg.model.vocab_size, out_dir))


def pretrain(cfg: PretrainConfig, out_dir: str | Path, *, progress: bool = True, resume: bool = False,
             device: str | None = None) -> dict[str, Any]:
    """Pretrain a RoFormerV2 (or its bert variant) with whole-word MLM; returns the Trainer's summary
    plus params. out_dir gets model.safetensors, config.json, vocab.txt and metrics.jsonl."""
    cfg.train.check()
    if cfg.train.batch_size % cfg.train.grad_accum:  # before the corpus is read, not after
        raise ValueError(f"TrainConfig.batch_size={cfg.train.batch_size} is not divisible by grad_accum="
                         f"{cfg.train.grad_accum}; pick a multiple")
    cfg.model.check()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    words = read_corpus(cfg.corpus, cfg.max_texts)
    tokenizer = build_tokenizer(cfg, words, out_dir)
    tokenizer.save(out_dir / "vocab.txt")
    cfg = replace(cfg, model=replace(cfg.model, vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id))
    if len(words) <= cfg.eval_texts:
        raise ValueError(f"corpus has {len(words)} texts, not more than eval_texts={cfg.eval_texts}; "
                         "lower eval_texts or give a bigger corpus")
    word_ids = [encode_words(ws, tokenizer) for ws in words]
    train = MLMDataset(word_ids[:-cfg.eval_texts], tokenizer, cfg.max_len, cfg.masking)
    held_out = MLMDataset(word_ids[-cfg.eval_texts:], tokenizer, cfg.max_len, cfg.masking,
                          generator=torch.Generator().manual_seed(12345))
    eval_batches = [collate([held_out[j] for j in range(i, min(i + 32, len(held_out)))], tokenizer.pad_id)
                    for i in range(0, len(held_out), 32)]  # masked once: the same positions at every eval

    torch.manual_seed(cfg.train.seed)
    model = RoFormerV2(cfg.model)
    ramp = cfg.alpha_ramp
    model.set_alpha(residual_alpha(_resumed_step(out_dir) if resume else 0, ramp))

    clock = TimeCap(cfg.max_minutes, _resumed_seconds(out_dir) if resume else 0.0)

    def on_step(trainer: Trainer, step: int) -> None:
        # α_t = min(1, t / ramp) for the update that makes step t + 1
        trainer.model.set_alpha(residual_alpha(step, ramp))
        if clock.due() and step < trainer.cfg.steps:  # the clock cap: a checkpoint of this step, then stop
            trainer.save()
            raise ClockStop(step)

    eval_fn = _mlm_eval(eval_batches)
    # a batch pads to its longest text: sorted pools cut the padding (38 % → 97 % real tokens on msra-encoder's)
    data = LengthBuckets(train, cfg.train.batch_size, train.lengths(), cfg.train.seed) if cfg.sort_by_length else train
    trainer = Trainer(model, cfg.train, data, mlm_loss, out_dir,
                      collate_fn=lambda b: collate(b, tokenizer.pad_id), eval_fn=eval_fn,
                      param_groups=lambda m: decay_groups(m, cfg.train.weight_decay),
                      run_config=cfg, progress=progress, on_step=on_step, device=device,
                      count_tokens=lambda b: int(b["mask"].sum()), may_change=("max_minutes",),
                      time_left=clock.seconds_left)
    try:
        summary = {**trainer.fit(resume=resume), "stopped": ""}
    except ClockStop as stop:
        summary = {"steps": stop.step, "stopped": f"{cfg.max_minutes:g} minutes of training passed at step "
                   f"{stop.step}; continue with --resume --set max_minutes=M (M > {cfg.max_minutes:g})",
                   **{f"eval/{k}": v for k, v in eval_fn(trainer.model).items()}}
    summary["params"] = model.num_params()
    return summary


class ClockStop(Exception):
    """Raised by the clock cap after the checkpoint of `step`."""

    def __init__(self, step: int):
        super().__init__(f"clock cap at step {step}")
        self.step = step


def _mlm_eval(batches):
    @torch.no_grad()
    def eval_fn(model: RoFormerV2) -> dict[str, float]:
        model.eval()
        device = next(model.parameters()).device
        total, acc, n = 0.0, 0.0, 0
        for b in batches:
            b = {k: v.to(device) for k, v in b.items()}
            loss, m = mlm_loss(model, b)
            k = int((b["labels"] != -100).sum())
            total, acc, n = total + float(loss) * k, acc + m["mlm_acc"] * k, n + k
        return {"mlm_loss": total / n, "mlm_acc": acc / n}
    return eval_fn


def _resumed_seconds(out_dir: Path) -> float:
    state = out_dir / "trainer_state.pt"
    return float(torch.load(state, map_location="cpu", weights_only=True).get("elapsed", 0.0)) if state.exists() else 0.0


def _resumed_step(out_dir: Path) -> int:
    state = out_dir / "trainer_state.pt"
    return int(torch.load(state, map_location="cpu", weights_only=True)["step"]) if state.exists() else 0
