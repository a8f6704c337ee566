"""`reproduce(preset, out_dir)` for post 8998: RoFormerV2's sizes, and "simplified is as good and faster".

kexue.fm/archives/8998 (init: 8620). Claims checked:
1. RoFormerV2 large has 3亿 (0.3B) parameters, and no parameter is a bias or a norm γ/β — counted on the
   models we build (all three sizes, pinned), against the closed form V·H + 2H + L·(4H² + 2·H·FFN);
2. at equal training the simplified model is about as good as the un-simplified one (the post: "slightly
   worse", made up by multi-task training) — a tiny RoFormerV2 and its `bert` variant pretrained with
   whole-word MLM on People's Daily for the same steps, then fine-tuned on review sentiment;
3. dropping biases and γ, β makes training faster (1.3× at n = 128, 1.2× at n = 512 on GPU) — train-step
   tokens/s of both variants on this machine (speed.py).
Verdicts: claim 2 holds if RoFormerV2's held-out MLM loss is within 5 % of the variant's and its
accuracy within 3 points; claim 3 holds if its throughput is ≥ 1.1× the variant's at both lengths.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kexue.result import Claim, TopicResult  # noqa: E402
from kexue.roformer.config import PARAMS, SIZES, RoFormerV2Config, bert_variant, count_params  # noqa: E402
from kexue.roformer.config import preset as size_preset  # noqa: E402
from kexue.roformer.finetune import FinetuneConfig, finetune  # noqa: E402
from kexue.roformer.model import RoFormerV2  # noqa: E402
from kexue.roformer.pretrain import PretrainConfig, pretrain  # noqa: E402
from kexue.roformer.speed import kexue_throughput  # noqa: E402
from kexue.train import TrainConfig  # noqa: E402

TITLE = "RoFormerV2：自然语言理解的极限探索"
DATE = "2022-03-21"
POST = 8998
RELATED = [8620, 8265]
POST_PARAMS = {"small": "—", "base": "—", "large": "3亿 (0.3B)"}  # the post states only large's


@dataclass
class RoFormerPreset:
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    speed_lengths: tuple[int, ...] = (128, 512)
    speed_batch: int = 8
    speed_model: RoFormerV2Config = field(default_factory=lambda: size_preset("base"))
    speed_device: str = "cpu"
    speed_steps: int = 3
    speed_amp: bool = False
    threads: int = 1


def preset(name: str) -> RoFormerPreset:
    """quick: CPU, about 3 minutes on 2 cores. full: the post's base recipe, for GPUs (weeks).
    smoke: every step at toy size in seconds (tests use it)."""
    if name in ("quick", "smoke"):
        smoke = name == "smoke"
        tiny = RoFormerV2Config(vocab_size=3000, hidden_size=32 if smoke else 128, num_layers=1 if smoke else 2,
                                num_heads=2 if smoke else 4, intermediate_size=64 if smoke else 512)
        # the speed claim on a model big enough that matmuls, not Python, dominate a step
        timed = tiny if smoke else RoFormerV2Config(vocab_size=12000, hidden_size=256, num_layers=4, num_heads=4,
                                                    intermediate_size=1024)
        return RoFormerPreset(
            pretrain=PretrainConfig(
                model=tiny, max_len=48, max_texts=600 if smoke else 20_000, eval_texts=50 if smoke else 300,
                alpha_ramp=0,
                train=TrainConfig(steps=4 if smoke else 120, batch_size=8 if smoke else 32, lr=2e-3,
                                  schedule="cosine", warmup=0 if smoke else 12, clip=1.0,
                                  log_every=2 if smoke else 10)),
            finetune=FinetuneConfig(max_examples=64 if smoke else 2000, max_dev=32 if smoke else 500, max_len=64,
                                    train=TrainConfig(steps=3 if smoke else 60, batch_size=8 if smoke else 32,
                                                      lr=1e-3, log_every=1 if smoke else 10)),
            speed_lengths=(16, 32) if smoke else (128, 512), speed_batch=2, speed_model=timed)
    if name == "full":
        device = "cuda" if torch.cuda.is_available() else "cpu"
        return RoFormerPreset(
            pretrain=PretrainConfig(),
            # 10 epochs of the 31,611 training reviews at batch 32, as the post's clue/ scripts run 10 epochs
            finetune=FinetuneConfig(train=TrainConfig(steps=10 * 31_611 // 32, batch_size=32, lr=2e-5,
                                                      log_every=100)),
            speed_batch=32, speed_model=size_preset("base"), speed_device=device,
            speed_amp=device == "cuda", threads=16)
    raise ValueError(f"unknown preset {name!r}; choose quick, full or smoke")


def param_table() -> list[dict]:
    """The released sizes: L, H, heads, FFN, our exact count (tied head) and the bert variant's."""
    rows = []
    for size, shape in SIZES.items():
        cfg = size_preset(size)
        rows.append({"size": size, "L": shape["num_layers"], "H": shape["hidden_size"], "heads": shape["num_heads"],
                     "FFN": shape["intermediate_size"], "params": count_params(cfg),
                     "bert_params": count_params(bert_variant(cfg)), "post": POST_PARAMS[size]})
    return rows


def reproduce(preset_name: str, out_dir: Path, cfg: RoFormerPreset | None = None,
              progress: bool = False) -> TopicResult:
    cfg = cfg or preset(preset_name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        claims, metrics, figures = [], {}, []
        claims.append(_claim_params(metrics))
        runs = {}
        for variant in ("roformer_v2", "bert"):
            model_cfg = cfg.pretrain.model if variant == "roformer_v2" else bert_variant(cfg.pretrain.model)
            pre = pretrain(replace(cfg.pretrain, model=model_cfg), out_dir / "runs" / f"pretrain-{variant}",
                           progress=progress)
            fine = finetune(replace(cfg.finetune, pretrained=str(out_dir / "runs" / f"pretrain-{variant}")),
                            out_dir / "runs" / f"finetune-{variant}", progress=progress)
            runs[variant] = {"params": pre["params"], "mlm_loss": pre["eval/mlm_loss"],
                             "mlm_acc": pre["eval/mlm_acc"], "pretrain_tokens_per_s": pre["tokens_per_s"],
                             "accuracy": fine["eval/acc"]}
        metrics["runs"] = runs
        figures.append(_plot_curves(out_dir))
        claims.append(_claim_quality(runs))
        speed = {}
        for n in cfg.speed_lengths:
            kw = dict(device=cfg.speed_device, amp=cfg.speed_amp, warmup=1, steps=cfg.speed_steps)
            v2 = kexue_throughput(cfg.speed_model, cfg.speed_batch, n, **kw)
            bert = kexue_throughput(bert_variant(cfg.speed_model), cfg.speed_batch, n, **kw)
            speed[n] = {"roformer_v2_tokens_per_s": v2, "bert_tokens_per_s": bert, "ratio": v2 / bert}
        metrics["speed"] = {"model": f"L={cfg.speed_model.num_layers} H={cfg.speed_model.hidden_size}",
                            "device": cfg.speed_device, "batch": cfg.speed_batch, "by_length": speed}
        claims.append(_claim_speed(speed, cfg))
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    finally:
        torch.set_num_threads(threads)
    return TopicResult(topic="roformer", post=POST, title=TITLE, date=DATE, preset=preset_name, claims=claims,
                       metrics=metrics, figures=figures, related_posts=RELATED)


def _claim_params(metrics: dict) -> Claim:
    rows = param_table()
    metrics["params"] = rows
    with torch.device("meta"):  # the built models, not only the formula
        built = {s: RoFormerV2(size_preset(s), init=False) for s in SIZES}
    counted = {s: m.num_params() for s, m in built.items()}
    named = [n for m in built.values() for n, _ in m.named_parameters() if "bias" in n or "norm" in n]
    ok = counted == PARAMS and not named and [round(PARAMS[s] / 1e6, 1) for s in SIZES] == [15.2, 94.2, 314.3]
    ok = ok and round(PARAMS["large"] / 1e8) == 3
    return Claim(claim="RoFormerV2 large has 3亿 (0.3B) parameters; the model has no bias and no norm γ/β",
                 measured="; ".join(f"{s}: {counted[s]:,}" for s in SIZES)
                 + f" (tied MLM head, vocab 12000); bias/norm parameters found: {len(named)}",
                 verdict="held" if ok else "not held")


def _claim_quality(runs: dict) -> Claim:
    v2, bert = runs["roformer_v2"], runs["bert"]
    ok = v2["mlm_loss"] <= 1.05 * bert["mlm_loss"] and v2["accuracy"] >= bert["accuracy"] - 0.03
    return Claim(claim="At equal training the simplified structure (no bias, RMSNorm without γ) is about as good "
                       "as the un-simplified one (the post: slightly worse before multi-task training)",
                 measured=f"held-out MLM loss {v2['mlm_loss']:.3f} vs {bert['mlm_loss']:.3f} (bert variant); "
                          f"sentiment accuracy {100 * v2['accuracy']:.1f} % vs {100 * bert['accuracy']:.1f} %; "
                          f"params {v2['params']:,} vs {bert['params']:,}",
                 verdict="held" if ok else "not held", figure="mlm_curves.png")


def _claim_speed(speed: dict, cfg: RoFormerPreset) -> Claim:
    ratios = {n: s["ratio"] for n, s in speed.items()}
    ok = all(r >= 1.1 for r in ratios.values())
    return Claim(claim="Removing biases and norm γ/β trains 1.3× faster at n = 128 and 1.2× at n = 512 (GPU)",
                 measured=", ".join(f"n = {n}: {r:.2f}× ({speed[n]['roformer_v2_tokens_per_s']:,.0f} vs "
                                    f"{speed[n]['bert_tokens_per_s']:,.0f} tokens/s)" for n, r in ratios.items())
                 + f" on {cfg.speed_device}, L={cfg.speed_model.num_layers} H={cfg.speed_model.hidden_size}",
                 verdict="held" if ok else "not held")


def _plot_curves(out_dir: Path) -> str:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for variant, label in (("roformer_v2", "RoFormerV2"), ("bert", "bert variant")):
        records = [json.loads(x) for x in (out_dir / "runs" / f"pretrain-{variant}" / "metrics.jsonl")
                   .read_text().splitlines() if x.strip()]
        ax.plot([r["step"] for r in records], [r["loss"] for r in records], label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("MLM loss (nats/token)")
    ax.set_title("whole-word MLM on People's Daily, same steps")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "mlm_curves.png", dpi=120)
    plt.close(fig)
    return "mlm_curves.png"
