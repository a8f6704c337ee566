"""`reproduce(preset, out_dir)` for post 9529: the rank argument, and decoder-only vs prefix-LM vs enc-dec.

kexue.fm/archives/9529 (with 8338). Claims checked:
1. causal softmax attention (and the causal rows of the prefix-LM mask), and causal linear attention,
   are triangular with a positive diagonal: det > 0, full rank — exactly, on every matrix measured;
2. bidirectional linear (elu+1) attention has rank ≤ d — exactly;
3. the post's literal "softmax(QKᵀ/√d) inherits rank ≤ d": false in exact arithmetic (exp raises rank);
4. its intended reading, a lower *effective* rank for bidirectional than causal attention, on random
   and on trained Q, K;
5. the mixed-direction fix: every forward/backward head full rank, and the layer still mixes everything;
6. GPT vs UniLM: the prefix-LM is no better than decoder-only at equal parameters;
7. the encoder-decoder's edge over decoder-only shrinks at equal parameters (it is its 2× parameters);
   6 again on the second task, sentence → its words reversed, where the first output token depends on
   the end of the input (standard and quick presets);
8. an MLM with mixed-direction attention (half heads causal / half anti-causal; alternate layers) trains
   at least as well as one with bidirectional attention (post: "slightly better" at base size).
The trained claims need every model to beat its unigram floor (the outputs', the masked characters');
3 seeds each.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kexue.decoder_only import claims as rules  # noqa: E402
from kexue.decoder_only.mlm import MLMRunConfig, MLMTaskConfig, build_mlm_task, compare_mlm  # noqa: E402
from kexue.decoder_only.model import ModelConfig, Seq2SeqModel, attention_qk  # noqa: E402
from kexue.decoder_only.rank import (RankConfig, attention_matrix, effective_rank, mixed_direction,  # noqa: E402
                                     rank_table)
from kexue.decoder_only.tasks import SEP, TaskConfig, build_task, unigram_loss  # noqa: E402
from kexue.decoder_only.train import RunConfig, compare  # noqa: E402
from kexue.result import TopicResult  # noqa: E402
from kexue.train import TrainConfig, load_model  # noqa: E402
from kexue.verdicts import spread  # noqa: E402

TITLE = "为什么现在的LLM都是Decoder-only的架构？"
DATE = "2023-03-17"
POST = 9529
RELATED = [8338, 7546]
ARCHS = ("decoder", "prefix", "encdec@params", "encdec@flops")
LABELS = {"decoder": "decoder-only", "prefix": "prefix-LM", "encdec@params": "enc-dec, equal params",
          "encdec@flops": "enc-dec, equal FLOPs", "encdec": "enc-dec"}


@dataclass
class DecoderOnlyPreset:
    threads: int = 1  # torch threads (1: robust on shared cores)
    rank: RankConfig = field(default_factory=RankConfig)
    temperatures: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)  # the τ sweep of the effective rank
    temperature_n: int = 256  # ... at this n and the smallest d
    mixed: tuple[int, int, int] = (256, 16, 8)  # n, d, heads of the mixed-direction check
    trained_sequences: int = 16  # held-out sequences whose trained Q, K enter the rank study
    compare: RunConfig = field(default_factory=RunConfig)
    archs: tuple[str, ...] = ARCHS
    reverse: RunConfig | None = None  # the reverse-words task (None: skipped)
    reverse_archs: tuple[str, ...] = ("decoder", "prefix", "encdec@params")
    seeds: int = 3
    tolerance: float = rules.TOLERANCE  # nats: the prefix-LM's (and bidirectional MLM's) allowed edge
    mlm: MLMRunConfig = field(default_factory=MLMRunConfig)
    mlm_directions: tuple[str, ...] = ("bidirectional", "mixed", "alternate")  # () skips the MLM study


def _train(steps: int, batch: int = 32, lr: float = 3e-3) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=batch, lr=lr, weight_decay=0.01, schedule="cosine",
                       warmup=max(1, steps // 10), min_lr_ratio=0.05, clip=1.0, log_every=max(1, steps // 20))


def preset(name: str) -> DecoderOnlyPreset:
    """quick: ≤ 3 min alone on 2 cores. standard: ≤ 10 min, trained long enough to decide either way.
    full: a GPU-sized run. smoke: toy sizes for the tests (verdicts meaningless). One torch thread but
    for full: on 2 shared cores a second thread gains little at these sizes, and one thread's CPU time
    is the time the preset takes alone, measurable under load."""
    if name == "quick":
        return DecoderOnlyPreset(
            rank=RankConfig(ns=(32, 64, 128, 256), ds=(16, 64), seeds=3), temperature_n=128, mixed=(128, 16, 8),
            trained_sequences=16,
            compare=RunConfig(TaskConfig(min_len=6, max_len=20, n_train=6000, n_test=200, max_chars=1500),
                              ModelConfig(hidden=64, layers=2, heads=4), _train(150), n_generate=100),
            reverse=RunConfig(TaskConfig(task="reverse", min_len=6, max_len=12, n_train=4000, n_test=200,
                                         max_chars=800), ModelConfig(hidden=64, layers=2, heads=4), _train(150),
                              n_generate=100),
            reverse_archs=("decoder", "prefix"),
            mlm=MLMRunConfig(MLMTaskConfig(max_len=32, n_train=4000, n_test=200, max_chars=1500),
                             ModelConfig(hidden=64, layers=2, heads=4), train=_train(120)),
            mlm_directions=("bidirectional", "mixed"))
    if name == "standard":
        return DecoderOnlyPreset(
            rank=RankConfig(ns=(64, 128, 256, 512), ds=(16, 32, 64), seeds=3), temperature_n=256,
            compare=RunConfig(TaskConfig(min_len=6, max_len=20, n_train=12000, n_test=400, max_chars=2000),
                              ModelConfig(hidden=64, layers=3, heads=4), _train(400), n_generate=200),
            reverse=RunConfig(TaskConfig(task="reverse", min_len=6, max_len=12, n_train=12000, n_test=400,
                                         max_chars=1500), ModelConfig(hidden=64, layers=3, heads=4), _train(400),
                              n_generate=200),
            reverse_archs=("decoder", "prefix"),
            mlm=MLMRunConfig(MLMTaskConfig(max_len=40, n_train=8000, n_test=400), ModelConfig(hidden=64, layers=2,
                                                                                              heads=4),
                             train=_train(300)))
    if name == "full":
        return DecoderOnlyPreset(
            threads=0, rank=RankConfig(ns=(64, 128, 256, 512, 1024, 2048), ds=(16, 32, 64, 128), seeds=5),
            temperature_n=1024, mixed=(1024, 64, 16), trained_sequences=64, seeds=5,
            compare=RunConfig(TaskConfig(min_len=6, max_len=40, n_train=30000, n_test=2000, max_chars=4000),
                              ModelConfig(hidden=512, layers=8, heads=8), _train(20000, 64, 1e-3), eval_batch=256),
            reverse=RunConfig(TaskConfig(task="reverse", min_len=6, max_len=40, n_train=30000, n_test=2000,
                                         max_chars=4000), ModelConfig(hidden=512, layers=8, heads=8),
                              _train(20000, 64, 1e-3), eval_batch=256),
            mlm=MLMRunConfig(MLMTaskConfig(max_len=128, n_train=40000, n_test=2000, max_chars=5000),
                             ModelConfig(hidden=768, layers=12, heads=12), train=_train(30000, 128, 5e-4)))
    if name == "smoke":
        return DecoderOnlyPreset(
            rank=RankConfig(ns=(16, 32), ds=(4,), seeds=2), temperatures=(0.5, 2.0), temperature_n=32,
            mixed=(32, 4, 4), trained_sequences=2, seeds=2,
            compare=RunConfig(TaskConfig(min_len=6, max_len=10, n_train=64, n_test=16, max_chars=200),
                              ModelConfig(hidden=16, layers=2, heads=2), _train(3, 8), n_generate=8),
            reverse=RunConfig(TaskConfig(task="reverse", min_len=6, max_len=10, n_train=64, n_test=16,
                                         max_chars=200), ModelConfig(hidden=16, layers=2, heads=2), _train(3, 8),
                              n_generate=8),
            mlm=MLMRunConfig(MLMTaskConfig(max_len=16, n_train=32, n_test=8, max_chars=100),
                             ModelConfig(hidden=16, layers=2, heads=2), train=_train(2, 8)))
    raise ValueError(f"unknown preset {name!r}; choose quick, standard, full or smoke")


def reproduce(preset_name: str, out_dir: Path, cfg: DecoderOnlyPreset | None = None,
              progress: bool = False) -> TopicResult:
    cfg = cfg or preset(preset_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    claims, metrics = [], {}

    # --- the rank argument on random Q, K ---
    table = metrics["rank_table"] = rank_table(cfg.rank)
    taus = metrics["temperature_sweep"] = rank_table(replace(
        cfg.rank, ns=(cfg.temperature_n,), ds=(min(cfg.rank.ds),), temperatures=cfg.temperatures,
        kinds=("bidirectional", "causal")))
    mixed = metrics["mixed"] = [mixed_direction(*cfg.mixed, seed=s) for s in range(cfg.rank.seeds)]
    _plot_ranks(table, taus, out_dir / "rank.png")

    certs = [r["certified_full_rank"] for r in table if "certified_full_rank" in r]
    n_mats = sum(len(r["effective_rank"]) for r in table if "certified_full_rank" in r)
    causal_rows = [r for r in table if r["kind"] == "causal"]
    claims.append(rules.certified_full_rank(certs, "causal, prefix-causal-part and causal linear matrix").to_claim(
        "A causal attention matrix is lower triangular with a positive diagonal, so det = Π A_ii > 0: always "
        "full rank (also the prefix-LM mask's causal part, and causal linear attention)",
        f"{n_mats} matrices (n ∈ {list(cfg.rank.ns)}, d ∈ {list(cfg.rank.ds)}, {cfg.rank.seeds} seeds) all "
        f"certified; yet their numerical rank at σ > {cfg.rank.rtol:g}·σ_max is below n: causal softmax at "
        f"n = {causal_rows[-1]['n']}, d = {causal_rows[-1]['d']}: "
        f"{spread(causal_rows[-1]['numerical_rank']).fmt(4)} (triangular matrices are badly conditioned)",
        figure="rank.png"))

    linear = [r for r in table if r["kind"] == "linear"]
    ranks = [x for r in linear for x in r["float64_rank"]]
    ds = [r["d"] for r in linear for _ in r["float64_rank"]]
    claims.append(rules.rank_at_most_d(ranks, ds, "float64 rank of bidirectional linear attention").to_claim(
        "Bidirectional linear attention φ(Q)φ(K)ᵀ (φ = elu + 1, rows normalised) has rank ≤ d (post 8338)",
        "float64 rank per (n, d): " + ", ".join(f"n={r['n']} d={r['d']}: {max(r['float64_rank'])}" for r in linear[:6]),
        figure="rank.png"))

    bi = [r for r in table if r["kind"] == "bidirectional"]
    low_d = min(cfg.rank.ds)
    worst = max((r for r in bi if r["d"] == low_d), key=lambda r: r["n"])
    claims.append(rules.softmax_rank_at_most_d(min(worst["float64_rank"]), low_d).to_claim(
        "The post, literally: softmax(QKᵀ/√d) comes from the rank-≤d QKᵀ and so is low-rank (rank ≤ d). "
        "Not so in exact arithmetic: the elementwise exp raises the rank; the claim is about effective rank",
        f"n = {worst['n']}, d = {low_d}: float64 rank (σ > n·eps·σ_max) {spread(worst['float64_rank']).fmt(4)}",
        figure="rank.png", evidence={"float64 rank": worst["float64_rank"]}))

    causal = next(r for r in table if r["kind"] == "causal" and r["n"] == worst["n"] and r["d"] == low_d)
    claims.append(rules.lower_effective_rank(worst["effective_rank"], causal["effective_rank"]).to_claim(
        "Its intended reading: bidirectional softmax attention has a lower effective rank "
        "(exp of the singular-value entropy) than causal attention (random Q, K ~ N(0, I), τ = 1)",
        f"n = {worst['n']}, d = {low_d}: bidirectional {spread(worst['effective_rank']).fmt()}, causal "
        f"{spread(causal['effective_rank']).fmt()}; the τ sweep in the figure (flat attention, large τ, "
        "is where bidirectional falls below causal)",
        figure="rank.png", evidence={"bidirectional": worst["effective_rank"], "causal": causal["effective_rank"]}))

    heads = [c for m in mixed for c in m["head_certified_full_rank"] + m["alternate_layers_certified"]]
    mixes = [x for m in mixed for x in (m["half_heads_mix_all"], m["alternate_layers_mix_all"])]
    n_m, d_m, h_m = cfg.mixed
    claims.append(rules.mixed_directions(heads, mixes).to_claim(
        "The fix for bidirectional models: half the heads causal, half anti-causal (or alternate layers); "
        "every matrix stays full rank while the layer still mixes the whole sequence",
        f"n = {n_m}, d = {d_m}, {h_m} heads, {len(mixed)} seeds: {sum(heads)}/{len(heads)} matrices certified; "
        f"half-heads and alternate layers reach every pair: {sum(mixes)}/{len(mixes)}; head effective rank "
        f"{spread([x for m in mixed for x in m['head_effective_rank']]).fmt()} vs bidirectional "
        f"{spread([x for m in mixed for x in m['bidirectional_effective_rank']]).fmt()}",
        figure="rank.png"))

    # --- the architectures on sentence → pinyin ---
    data = build_task(cfg.compare.task)
    train_set, test_set, vocab = data
    unigram = metrics["unigram_loss"] = unigram_loss(train_set, test_set, vocab.n_output)
    runs = compare(cfg.compare, cfg.archs, cfg.seeds, out_dir / "runs", data=data, progress=progress)
    metrics["compare"] = {name: [_row(s) for s in rows] for name, rows in runs.items()}
    loss = {name: [s["test_loss"] for s in rows] for name, rows in runs.items()}
    _plot_compare(runs, unigram, out_dir / "compare.png")
    figures = ["rank.png", "compare.png"]

    trained = metrics["trained_rank"] = _trained_ranks(cfg, runs, data)
    if trained:
        claims.append(rules.lower_effective_rank(trained["bidirectional"], trained["causal"]).to_claim(
            "With trained Q, K (the decoder-only model of the comparison, every layer and head, held-out "
            "sentences): bidirectional attention has a lower effective rank than causal",
            f"d = {trained['d']}, n = {trained['n_mean']:.0f} on average, {len(trained['causal'])} matrices: "
            f"bidirectional {spread(trained['bidirectional']).fmt()}, causal {spread(trained['causal']).fmt()}",
            figure="rank.png", evidence={"bidirectional": trained["bidirectional"], "causal": trained["causal"]}))

    size = f"{cfg.compare.model.layers} layers × {cfg.compare.model.hidden}, {cfg.compare.train.steps} steps"
    if "prefix" in loss and "decoder" in loss:
        claims.append(rules.prefix_no_better(loss["prefix"], loss["decoder"], unigram, cfg.tolerance).to_claim(
            "GPT vs UniLM (the post's 1B experiment): with the loss on the output only, bidirectional attention "
            "over the input (prefix-LM) brings no advantage over decoder-only at equal parameters",
            f"sentence → pinyin, {size}, held-out output loss: " + _losses(loss, ("decoder", "prefix"))
            + f"; unigram floor {unigram:.3f}",
            figure="compare.png", evidence={LABELS[a]: loss[a] for a in ("decoder", "prefix")}))
    if {"encdec@params", "encdec@flops", "decoder"} <= set(loss):
        claims.append(rules.encdec_edge_shrinks(loss["encdec@flops"], loss["encdec@params"], loss["decoder"],
                                                unigram).to_claim(
            "The encoder-decoder's edge (T5, UL2) is its 2× parameters: at equal parameters it shrinks",
            "held-out output loss: " + _losses(loss, ("decoder", "encdec@params", "encdec@flops")) + "; params "
            + ", ".join(f"{LABELS[a]} {runs[a][0]['params']:,}" for a in ("decoder", "encdec@params", "encdec@flops")),
            figure="compare.png", evidence={LABELS[a]: loss[a] for a in ("decoder", "encdec@params", "encdec@flops")}))

    if cfg.reverse is not None and {"decoder", "prefix"} <= set(cfg.reverse_archs):
        rev = build_task(cfg.reverse.task)
        rev_unigram = unigram_loss(rev[0], rev[1], rev[2].n_output)
        rev_runs = compare(cfg.reverse, cfg.reverse_archs, cfg.seeds, out_dir / "runs_reverse", data=rev,
                           progress=progress)
        metrics["reverse"] = {"unigram_loss": rev_unigram,
                              "runs": {name: [_row(s) for s in rows] for name, rows in rev_runs.items()}}
        rev_loss = {name: [s["test_loss"] for s in rows] for name, rows in rev_runs.items()}
        _plot_compare(rev_runs, rev_unigram, out_dir / "compare_reverse.png")
        figures.append("compare_reverse.png")
        exact = {a: spread([100 * s["exact_match"] for s in rev_runs[a]]).fmt(3) for a in ("decoder", "prefix")}
        rev_size = f"{cfg.reverse.model.layers} layers × {cfg.reverse.model.hidden}, {cfg.reverse.train.steps} steps"
        claims.append(rules.prefix_no_better(rev_loss["prefix"], rev_loss["decoder"], rev_unigram,
                                             cfg.tolerance).to_claim(
            "GPT vs UniLM on a second task, sentence → its words in reverse order (the first output word is the "
            "input's last): bidirectional attention over the input brings no advantage at equal parameters",
            f"reverse words, {rev_size}, held-out output loss: " + _losses(rev_loss, tuple(rev_loss))
            + f"; unigram floor {rev_unigram:.3f}; exact match % decoder-only {exact['decoder']}, prefix-LM "
            f"{exact['prefix']}",
            figure="compare_reverse.png", evidence={LABELS[a]: rev_loss[a] for a in ("decoder", "prefix")}))

    if cfg.mlm_directions:
        mlm = metrics["mlm"] = _mlm_runs(cfg, out_dir / "mlm", progress)
        mlm_loss = {d: [r["test_loss"] for r in rows] for d, rows in mlm["runs"].items()}
        _plot_mlm(mlm, out_dir / "mlm.png")
        figures.append("mlm.png")
        for name in (d for d in cfg.mlm_directions if d != "bidirectional"):
            if "bidirectional" not in mlm_loss:
                break
            label = ("half heads causal / half anti-causal" if name == "mixed"
                     else "alternate layers causal / anti-causal")
            claims.append(rules.mixed_no_worse(mlm_loss[name], mlm_loss["bidirectional"], mlm["unigram_loss"], name,
                                               cfg.tolerance).to_claim(
                f"An MLM with mixed-direction attention ({label}), every attention matrix full rank, trains at "
                "least as well as one with bidirectional attention (the post: slightly better, base size)",
                f"whole-word MLM on People's Daily, {cfg.mlm.model.layers} layers × {cfg.mlm.model.hidden}, "
                f"{cfg.mlm.train.steps} steps, held-out loss on the masked characters: bidirectional "
                f"{spread(mlm_loss['bidirectional']).fmt(4)}, {name} {spread(mlm_loss[name]).fmt(4)}; unigram floor "
                f"{mlm['unigram_loss']:.3f}",
                figure="mlm.png", evidence={"bidirectional": mlm_loss["bidirectional"], name: mlm_loss[name]}))

    return TopicResult(topic="decoder_only", post=POST, title=TITLE, date=DATE, preset=preset_name, claims=claims,
                       metrics=metrics, figures=figures, related_posts=RELATED)


def _mlm_runs(cfg: DecoderOnlyPreset, out: Path, progress: bool) -> dict:
    """Each direction × seed on one masked data set; per-run held-out loss, accuracy and the curves' paths."""
    data = build_mlm_task(cfg.mlm.task)
    runs = compare_mlm(cfg.mlm, cfg.mlm_directions, cfg.seeds, out, data=data, progress=progress)
    return {"unigram_loss": data[3], "runs": runs}


def _plot_mlm(mlm: dict, path: Path) -> None:
    from kexue.train import read_metrics

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (direction, rows) in enumerate(mlm["runs"].items()):
        losses = [r["test_loss"] for r in rows]
        ax[0].errorbar([i], [np.mean(losses)], yerr=[np.std(losses, ddof=1) if len(losses) > 1 else 0], fmt="o",
                       color=f"C{i}", capsize=4)
        ax[0].scatter([i] * len(losses), losses, color=f"C{i}", s=8, alpha=0.5)
        for c, r in enumerate(rows):
            curve = [x for x in read_metrics(Path(r["out_dir"])) if "loss" in x]
            ax[1].plot([x["step"] for x in curve], [x["loss"] for x in curve], color=f"C{i}", alpha=0.7,
                       label=direction if c == 0 else None)
    ax[0].axhline(mlm["unigram_loss"], color="gray", ls="--", label="unigram floor")
    ax[0].set_xticks(range(len(mlm["runs"])), list(mlm["runs"]))
    ax[0].set(ylabel="held-out MLM loss (nats)", title="mean ± std over seeds")
    ax[0].legend(fontsize=7)
    ax[1].set(xlabel="step", ylabel="training MLM loss", title="learning curves")
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _row(s: dict) -> dict:
    keys = ("arch", "hidden", "params", "flops_per_example", "train_loss", "test_loss", "exact_match", "token_acc",
            "tokens_per_s", "seconds")
    return {k: s.get(k) for k in keys}


def _losses(loss: dict[str, list[float]], names: tuple[str, ...]) -> str:
    return ", ".join(f"{LABELS[a]} {spread(loss[a]).fmt(4)}" for a in names)


def _trained_ranks(cfg: DecoderOnlyPreset, runs: dict, data: tuple) -> dict | None:
    """Effective ranks of the trained decoder-only model's attention (seed 0), bidirectional vs causal."""
    if "decoder" not in runs or cfg.trained_sequences < 1:
        return None
    train_set, test_set, vocab = data
    model = Seq2SeqModel(runs["decoder"][0]["config_model"], len(vocab), vocab.n_output)
    load_model(model, runs["decoder"][0]["out_dir"])
    model.eval()
    out = {"bidirectional": [], "causal": [], "d": model.blocks[0].attn.head_size, "n": []}
    for s, t in test_set.pairs[:cfg.trained_sequences]:
        ids = torch.tensor(s + [SEP] + t)
        for q, k in attention_qk(model, ids):
            for h in range(q.shape[0]):
                for kind in ("bidirectional", "causal"):
                    out[kind].append(float(effective_rank(attention_matrix(q[h].double(), k[h].double(), kind))))
        out["n"].append(len(ids))
    out["n_mean"] = float(np.mean(out.pop("n")))
    return out


def _plot_ranks(table: list[dict], taus: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    ds = sorted({r["d"] for r in table})
    styles = ["-", "--", ":", "-."]
    for i, kind in enumerate(sorted({r["kind"] for r in table})):
        for j, d in enumerate(ds):
            rows = [r for r in table if r["kind"] == kind and r["d"] == d]
            ns = [r["n"] for r in rows]
            mean = [np.mean(r["effective_rank"]) for r in rows]
            std = [np.std(r["effective_rank"]) for r in rows]
            ax[0].errorbar(ns, mean, yerr=std, color=f"C{i}", ls=styles[j % 4], marker="o", ms=3,
                           label=f"{kind}, d={d}" if len(ds) > 1 else kind)
    ax[0].set(xscale="log", yscale="log", xlabel="n", ylabel="effective rank", title="random Q, K, τ = 1")
    ns_all = sorted({r["n"] for r in table})
    ax[0].set_xticks(ns_all, [str(n) for n in ns_all])
    ax[0].minorticks_off()
    ax[0].legend(fontsize=6, ncol=2)
    for i, kind in enumerate(("bidirectional", "causal")):
        rows = [r for r in taus if r["kind"] == kind]
        ax[1].errorbar([r["temperature"] for r in rows], [np.mean(r["effective_rank"]) for r in rows],
                       yerr=[np.std(r["effective_rank"]) for r in rows], color=f"C{i}", marker="o", label=kind)
    if taus:
        ax[1].set(xscale="log", xlabel="temperature τ in softmax(QKᵀ/(τ√d))", ylabel="effective rank",
                  title=f"n = {taus[0]['n']}, d = {taus[0]['d']}")
        ts = sorted({r["temperature"] for r in taus})
        ax[1].set_xticks(ts, [f"{t:g}" for t in ts])
        ax[1].minorticks_off()
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_compare(runs: dict[str, list[dict]], unigram: float, path: Path) -> None:
    from kexue.train import read_metrics

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    names = list(runs)
    for i, name in enumerate(names):
        losses = [s["test_loss"] for s in runs[name]]
        ax[0].errorbar([i], [np.mean(losses)], yerr=[np.std(losses, ddof=1) if len(losses) > 1 else 0],
                       fmt="o", color=f"C{i}", capsize=4)
        ax[0].scatter([i] * len(losses), losses, color=f"C{i}", s=8, alpha=0.5)
        curves = [read_metrics(Path(s["out_dir"])) for s in runs[name]]
        for c, curve in enumerate(curves):
            steps = [r["step"] for r in curve if "loss" in r]
            ax[1].plot(steps, [r["loss"] for r in curve if "loss" in r], color=f"C{i}", alpha=0.7,
                       label=LABELS.get(name, name) if c == 0 else None)
    ax[0].axhline(unigram, color="gray", ls="--", label="unigram floor")
    ax[0].set_xticks(range(len(names)), [LABELS.get(n, n) for n in names], rotation=15, fontsize=7)
    ax[0].set(ylabel="held-out output loss (nats)", title="mean ± std over seeds")
    ax[0].legend(fontsize=7)
    ax[1].axhline(unigram, color="gray", ls="--")
    ax[1].set(xlabel="step", ylabel="training output loss", title="learning curves")
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
