"""`reproduce(preset, out_dir)` for post 9529: the rank argument, and decoder-only vs prefix-LM vs enc-dec.

kexue.fm/archives/9529 (with 8338). Checks (identities, each with a negative control): the closed-form
parameter counts; causal attention (softmax, the prefix-LM mask's causal part, linear) triangular
with a positive diagonal, so full rank; bidirectional linear attention of rank ≤ d; the mixed-direction
fix full rank in every head while the layer mixes everything. Claims, each quoting the post:
1. softmax raises the rank: bidirectional linear attention's rank is below softmax attention's;
2. bidirectional attention has a lower effective rank than causal, over a sweep of the score scale τ
   (random Q, K) — a scale-dependent finding — and
3. on the Q, K a trained bidirectional MLM computes, at n ≥ 8d (BERT-base's 512/64), seeds × heads;
4. GPT vs UniLM: the prefix-LM is no better than decoder-only at equal parameters (pinyin; and
5. on the reverse-words task, where the first output token depends on the end of the input);
6. the encoder-decoder's edge is its doubled parameters: the premise (enc-dec at equal FLOPs beats
   decoder-only) first, then at equal Transformer weights (the embedding left out) the edge is gone;
7-8. an MLM with mixed-direction attention (half heads causal / half anti-causal; alternate layers)
   trains at least as well as one with bidirectional attention (post: "slightly better", base size).
Rules: claims.py. Measurements: rank.py, train.py, mlm.py. Figures: plots.py. The trainings (archs or
directions × seeds) run side by side on the topic's cores (kexue.parallel); no claim here is a timing.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from kexue.decoder_only import claims as rules
from kexue.decoder_only.mlm import MLMRunConfig, MLMTaskConfig, build_mlm_task, compare_mlm, trained_ranks
from kexue.decoder_only.model import ModelConfig, match_width, parameter_count
from kexue.decoder_only.plots import plot_compare, plot_mlm, plot_ranks
from kexue.decoder_only.rank import RankConfig, mixed_direction, rank_table
from kexue.decoder_only.tasks import TaskConfig, build_task, unigram_loss
from kexue.decoder_only.train import LABELS, RunConfig, compare
from kexue.result import Check, Claim, TopicResult, save_then_draw
from kexue.train import TrainConfig
from kexue.verdicts import spread

TITLE = "为什么现在的LLM都是Decoder-only的架构？"
DATE = "2023-03-17"
POST = 9529
RELATED = [8338, 7546]
ARCHS = ("decoder", "prefix", "encdec@params", "encdec@flops")
Q = rules.QUOTES


@dataclass
class DecoderOnlyPreset:
    threads: int = 1  # torch threads (1: robust on shared cores)
    rank: RankConfig = field(default_factory=RankConfig)
    temperatures: tuple[float, ...] = (0.25, 0.5, 0.7, 1.0, 1.4, 2.0, 4.0)  # the τ sweep of the effective rank
    temperature_n: int = 256  # ... at this n and the smallest d
    mixed: tuple[int, int, int] = (256, 16, 8)  # n, d, heads of the mixed-direction check
    compare: RunConfig = field(default_factory=RunConfig)
    archs: tuple[str, ...] = ARCHS  # + "encdec@params_total": matched with the embedding counted
    reverse: RunConfig | None = None  # the reverse-words task (None: skipped)
    reverse_archs: tuple[str, ...] = ("decoder", "prefix")
    seeds: int = 3
    mlm: MLMRunConfig = field(default_factory=MLMRunConfig)
    mlm_directions: tuple[str, ...] = ("bidirectional", "mixed", "alternate")  # () skips the MLM study
    mlm_seeds: int = 3
    trained_sequences: int = 16  # held-out MLM sentences whose trained Q, K enter the rank claim ...
    trained_n_over_d: int = 8  # ... each of n ≥ this · d characters (BERT-base: 512 / 64)


def _train(steps: int, batch: int = 32, lr: float = 3e-3) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=batch, lr=lr, weight_decay=0.01, schedule="cosine",
                       warmup=max(1, steps // 10), min_lr_ratio=0.05, clip=1.0, log_every=max(1, steps // 20))


def _pinyin(n_train: int, n_test: int, max_chars: int, model: ModelConfig, train: TrainConfig, gen: int) -> RunConfig:
    return RunConfig(TaskConfig(min_len=6, max_len=20, n_train=n_train, n_test=n_test, max_chars=max_chars),
                     model, train, n_generate=gen)


def _reverse(n_train: int, n_test: int, max_chars: int, model: ModelConfig, train: TrainConfig, gen: int
             ) -> RunConfig:
    return RunConfig(TaskConfig(task="reverse", min_len=6, max_len=12, n_train=n_train, n_test=n_test,
                                max_chars=max_chars), model, train, n_generate=gen)


def preset(name: str) -> DecoderOnlyPreset:
    """quick: ≤ 3 min alone on 2 cores. standard: ≤ 10 min, trained long enough to decide either way.
    full: a GPU-sized run. smoke: toy sizes for the tests (verdicts meaningless). One torch thread but
    for full: on 2 shared cores a second thread gains little at these sizes, and one thread's CPU time
    is the time the preset takes alone, measurable under load. The MLM has 8 heads of d = 8 over
    sentences of up to 96 characters, so that its trained Q, K are read at n ≥ 8d."""
    small = ModelConfig(hidden=64, layers=2, heads=4)
    mlm_model = ModelConfig(hidden=64, layers=2, heads=8)
    if name == "quick":
        return DecoderOnlyPreset(
            rank=RankConfig(ns=(32, 64, 128, 256), ds=(16, 64), seeds=3), temperature_n=128, mixed=(128, 16, 8),
            compare=_pinyin(6000, 200, 1500, small, _train(150), 50),
            reverse=_reverse(3000, 200, 800, small, _train(120), 50),
            mlm=MLMRunConfig(MLMTaskConfig(max_len=96, n_train=4000, n_test=200, max_chars=1500), mlm_model,
                             train=_train(110, 16)),
            mlm_directions=("bidirectional", "mixed"), trained_sequences=8)
    if name == "standard":
        model = ModelConfig(hidden=64, layers=3, heads=4)
        return DecoderOnlyPreset(
            rank=RankConfig(ns=(64, 128, 256, 512), ds=(16, 32, 64), seeds=3), temperature_n=256,
            compare=_pinyin(12000, 400, 2000, model, _train(250), 200),
            archs=ARCHS + ("encdec@params_total",),
            reverse=_reverse(12000, 400, 1500, model, _train(250), 200),
            mlm=MLMRunConfig(MLMTaskConfig(max_len=96, n_train=8000, n_test=400), mlm_model, train=_train(300, 16)),
            mlm_seeds=4)
    if name == "full":
        return DecoderOnlyPreset(
            threads=0, rank=RankConfig(ns=(64, 128, 256, 512, 1024, 2048), ds=(16, 32, 64, 128), seeds=5),
            temperature_n=1024, mixed=(1024, 64, 16), seeds=5, mlm_seeds=5, trained_sequences=64, trained_n_over_d=2,
            compare=_pinyin(30000, 2000, 4000, ModelConfig(hidden=512, layers=8, heads=8), _train(20000, 64, 1e-3), 0),
            archs=ARCHS + ("encdec@params_total",),
            reverse=_reverse(30000, 2000, 4000, ModelConfig(hidden=512, layers=8, heads=8), _train(20000, 64, 1e-3), 0),
            mlm=MLMRunConfig(MLMTaskConfig(max_len=256, n_train=40000, n_test=2000, max_chars=5000),
                             ModelConfig(hidden=768, layers=12, heads=12), train=_train(30000, 64, 5e-4)))
    if name == "smoke":
        tiny = ModelConfig(hidden=16, layers=2, heads=2)
        return DecoderOnlyPreset(
            rank=RankConfig(ns=(16, 32), ds=(4,), seeds=2), temperatures=(0.5, 2.0), temperature_n=32,
            mixed=(32, 4, 4), seeds=2, mlm_seeds=2, trained_sequences=2, trained_n_over_d=2,
            compare=_pinyin(64, 16, 200, tiny, _train(3, 8), 8), archs=ARCHS + ("encdec@params_total",),
            reverse=_reverse(64, 16, 200, tiny, _train(3, 8), 8),
            mlm=MLMRunConfig(MLMTaskConfig(max_len=24, n_train=32, n_test=16, max_chars=100),
                             ModelConfig(hidden=16, layers=2, heads=4), train=_train(2, 8)))
    raise ValueError(f"unknown preset {name!r}; choose quick, standard, full or smoke")


def reproduce(preset_name: str, out_dir: Path, cfg: DecoderOnlyPreset | None = None,
              progress: bool = False) -> TopicResult:
    cfg = cfg or preset(preset_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    metrics: dict = {}
    table = metrics["rank_table"] = rank_table(cfg.rank)
    taus = metrics["temperature_sweep"] = rank_table(replace(
        cfg.rank, ns=(cfg.temperature_n,), ds=(min(cfg.rank.ds),), temperatures=cfg.temperatures,
        kinds=("bidirectional", "causal")))
    mixed = metrics["mixed"] = [mixed_direction(*cfg.mixed, seed=s) for s in range(cfg.rank.seeds)]
    checks = [_check_full_rank(cfg, table), _check_linear_rank(table), _check_mixed(cfg, mixed)]
    claims = [_claim_softmax_rank(table), _claim_scale_sweep(taus)]
    figures = ["rank.png", "compare.png"]  # the page's order; draws: each figure's drawing, after result.json

    data = build_task(cfg.compare.task)
    unigram = metrics["unigram_loss"] = unigram_loss(*data[:2], data[2].n_output)
    runs = compare(cfg.compare, cfg.archs, cfg.seeds, out_dir / "runs", data=data, progress=progress, resume=False)
    metrics["compare"] = {name: [_row(s) for s in rows] for name, rows in runs.items()}
    draws = {"compare.png": lambda path: plot_compare(runs, unigram, path)}
    checks.append(_check_parameters(cfg, runs, len(data[2])))
    claims.append(_claim_prefix(cfg.compare, runs, unigram, "sentence → pinyin", "compare.png"))
    claims.append(_claim_encdec(cfg, runs, unigram, len(data[2])))

    if cfg.reverse is not None:
        rev = build_task(cfg.reverse.task)
        rev_unigram = unigram_loss(*rev[:2], rev[2].n_output)
        rev_runs = compare(cfg.reverse, cfg.reverse_archs, cfg.seeds, out_dir / "runs_reverse", data=rev,
                           progress=progress, resume=False)
        metrics["reverse"] = {"unigram_loss": rev_unigram,
                              "runs": {name: [_row(s) for s in rows] for name, rows in rev_runs.items()}}
        draws["compare_reverse.png"] = lambda path: plot_compare(rev_runs, rev_unigram, path)
        figures.append("compare_reverse.png")
        claims.append(_claim_prefix(cfg.reverse, rev_runs, rev_unigram, "sentence → its words in reverse order",
                                    "compare_reverse.png"))

    trained = None
    if cfg.mlm_directions:
        mlm_data = build_mlm_task(cfg.mlm.task)
        mlm_runs = compare_mlm(cfg.mlm, cfg.mlm_directions, cfg.mlm_seeds, out_dir / "mlm", data=mlm_data,
                               progress=progress, resume=False)
        metrics["mlm"] = {"unigram_loss": mlm_data[3], "runs": mlm_runs}
        draws["mlm.png"] = lambda path: plot_mlm(mlm_runs, mlm_data[3], path)
        figures.append("mlm.png")
        if "bidirectional" in mlm_runs:
            trained = metrics["trained_rank"] = _trained_ranks(cfg, mlm_runs, mlm_data)
            claims.append(_claim_trained_rank(trained, cfg.trained_n_over_d))
        claims += [_claim_mlm(cfg, mlm_runs, mlm_data[3], d) for d in cfg.mlm_directions if d != "bidirectional"
                   and "bidirectional" in mlm_runs]
    shown = trained if trained and trained["causal"] else None
    draws["rank.png"] = lambda path: plot_ranks(table, taus, path, shown)
    result = TopicResult(topic="decoder_only", post=POST, title=TITLE, date=DATE, preset=preset_name, claims=claims,
                         checks=checks, metrics=metrics, figures=figures, related_posts=RELATED)
    return save_then_draw(result, out_dir, draws)


# --- the checks ---

def _check_full_rank(cfg: DecoderOnlyPreset, table: list[dict]) -> Check:
    certified = [r for r in table if "certified_full_rank" in r]
    n_mats = sum(len(r["effective_rank"]) for r in certified)
    last = [r for r in table if r["kind"] == "causal"][-1]
    control = rules.certified_full_rank([r["triangular_certificate"] for r in table if r["kind"] == "bidirectional"],
                                        "bidirectional matrix")
    return rules.certified_full_rank([r["certified_full_rank"] for r in certified],
                                     "causal, prefix-causal-part and causal linear matrix").to_check(
        "A causal attention matrix is lower triangular with a positive diagonal, so det = Π A_ii > 0: always full "
        "rank (softmax, the prefix-LM mask's causal part, causal linear attention)",
        f"{n_mats} matrices (n ∈ {list(cfg.rank.ns)}, d ∈ {list(cfg.rank.ds)}, {cfg.rank.seeds} seeds) certified; "
        f"their numerical rank at σ > {cfg.rank.rtol:g}·σ_max is below n all the same (triangular matrices are badly "
        f"conditioned): causal softmax at n = {last['n']}, d = {last['d']}: {spread(last['numerical_rank']).fmt(4)}",
        control, "the same certificate on the bidirectional softmax matrices", figure="rank.png")


def _check_linear_rank(table: list[dict]) -> Check:
    linear = [r for r in table if r["kind"] == "linear"]
    soft = [r for r in table if r["kind"] == "bidirectional"]
    control = rules.rank_at_most_d([x for r in soft for x in r["float64_rank"]],
                                   [r["d"] for r in soft for _ in r["float64_rank"]],
                                   "float64 rank of softmax attention")
    return rules.rank_at_most_d([x for r in linear for x in r["float64_rank"]],
                                [r["d"] for r in linear for _ in r["float64_rank"]],
                                "float64 rank of bidirectional linear attention").to_check(
        "Bidirectional linear attention φ(Q)φ(K)ᵀ (φ = elu + 1, rows normalised) has rank ≤ d (9529, 8338)",
        "float64 rank per (n, d): " + ", ".join(f"n={r['n']} d={r['d']}: {max(r['float64_rank'])}" for r in linear[:6]),
        control, "the same bound on bidirectional softmax attention", figure="rank.png")


def _check_mixed(cfg: DecoderOnlyPreset, mixed: list[dict]) -> Check:
    heads = [c for m in mixed for c in m["head_certified_full_rank"] + m["alternate_layers_certified"]]
    mixes = [x for m in mixed for x in (m["half_heads_mix_all"], m["alternate_layers_mix_all"])]
    control = rules.mixed_directions(heads, [m["causal_heads_mix_all"] for m in mixed])
    n, d, h = cfg.mixed
    return rules.mixed_directions(heads, mixes).to_check(
        "The fix for bidirectional models: half the heads causal, half anti-causal (or alternate layers); every "
        "matrix stays full rank while the layer still mixes the whole sequence",
        f"n = {n}, d = {d}, {h} heads, {len(mixed)} seeds: {sum(heads)}/{len(heads)} matrices certified; half-heads "
        f"and alternate layers reach every pair: {sum(mixes)}/{len(mixes)}; head effective rank "
        f"{spread([x for m in mixed for x in m['head_effective_rank']]).fmt()} vs bidirectional "
        f"{spread([x for m in mixed for x in m['bidirectional_effective_rank']]).fmt()}",
        control, "the same rule on a layer whose heads are all causal (GPT's: no mixing backwards)", figure="rank.png")


def _check_parameters(cfg: DecoderOnlyPreset, runs: dict, vocab: int) -> Check:
    models = {a: rows[0]["config_model"] for a, rows in runs.items()}
    counted = {a: rows[0]["params"] for a, rows in runs.items()}
    closed = {a: parameter_count(m, vocab) for a, m in models.items()}
    # the wrong closed form: an encoder-decoder without its decoder's cross-attention (4·h·inner + h per layer)
    wrong = {a: closed[a] - (m.layers * (4 * m.hidden * m.heads * (m.head_size or m.hidden // m.heads) + m.hidden)
                             if m.arch == "encdec" else 0) for a, m in models.items()}
    embed = vocab * cfg.compare.model.hidden
    return rules.counts_equal(closed, counted).to_check(
        "parameter_count(cfg, V) in closed form equals the built model's Σ numel, per architecture",
        "; ".join(f"{LABELS.get(a, a)} (hidden {models[a].hidden}): {counted[a]:,}, "
                  f"{parameter_count(models[a], vocab, embedding=False):,} without the embedding" for a in counted)
        + f"; decoder-only's tied embedding V·h = {embed:,} is {embed / counted['decoder']:.0%} of its count",
        rules.counts_equal(wrong, counted), "the closed form without the cross-attention")


# --- the claims ---

def _claim_softmax_rank(table: list[dict]) -> Claim:
    # the post's setting n ≫ d: where n ≤ d both matrices are n × n of full rank and nothing is raised
    soft = {(r["n"], r["d"]): r for r in table if r["kind"] == "bidirectional" and r["n"] > r["d"]}
    linear = [r for r in table if r["kind"] == "linear" and r["n"] > r["d"]]
    lin = [x for r in linear for x in r["float64_rank"]]
    sm = [x for r in linear for x in soft[(r["n"], r["d"])]["float64_rank"]]
    ds = [r["d"] for r in linear for _ in r["float64_rank"]]
    worst = max(soft.values(), key=lambda r: (r["n"] - r["d"], r["n"]))
    return rules.softmax_raises_rank(lin, sm, ds).to_claim(
        "Softmax raises the rank (会有一定的升秩作用): bidirectional linear attention (rank ≤ d) has a lower rank "
        "than softmax attention on the same Q, K (n > d)",
        f"{len(lin)} pairs (n, d, seed) with n > d; e.g. n = {worst['n']}, d = {worst['d']}: softmax float64 rank "
        f"{spread(worst['float64_rank']).fmt(4)}, linear ≤ {worst['d']}", figure="rank.png",
        evidence={"float64 rank, linear": lin, "float64 rank, softmax": sm}, quote=Q["softmax_rank"],
        needs="rank tables with n > d")


def _claim_scale_sweep(taus: list[dict]) -> Claim:
    per = {r["temperature"]: {} for r in taus}
    for r in taus:
        per[r["temperature"]][r["kind"]] = r["effective_rank"]
    sweep = {t: (v["bidirectional"], v["causal"]) for t, v in per.items()}
    n, d = taus[0]["n"], taus[0]["d"]
    decision = rules.lower_effective_rank_over_scales(sweep)
    return decision.to_claim(
        "Bidirectional attention has a lower effective rank (exp of the singular-value entropy) than causal "
        "attention: random Q, K ~ N(0, I) over a sweep of the score scale τ in softmax(QKᵀ/(τ√d))",
        f"n = {n}, d = {d}: " + "; ".join(f"τ = {t:g}: bidirectional {spread(b).fmt()}, causal {spread(c).fmt()}"
                                          for t, (b, c) in sorted(sweep.items())),
        figure="rank.png", quote=Q["low_rank"],
        needs="more seeds at the τ where the interval straddles 0" if decision.verdict == "inconclusive" else "")


def _trained_ranks(cfg: DecoderOnlyPreset, runs: dict, data: tuple) -> dict:
    d = cfg.mlm.model.head_size or cfg.mlm.model.hidden // cfg.mlm.model.heads
    return trained_ranks(cfg.mlm, runs, data, cfg.trained_sequences, cfg.trained_n_over_d * d)


def _claim_trained_rank(trained: dict, n_over_d: int) -> Claim:
    claim = (f"On the Q, K a trained bidirectional MLM computes (held-out sentences of n ≥ {n_over_d}d): its "
             "bidirectional attention has a lower effective rank than the causal matrix of the same Q, K")
    if not trained["causal"]:
        return rules.lower_effective_rank([], []).to_claim(
            claim, "no held-out sentence long enough", quote=Q["low_rank"],
            needs=f"held-out sentences of n ≥ {n_over_d}d")
    units = len(trained["causal"])
    context = (f"; for context, the heads of the trained mixed-direction MLM (the causal and anti-causal matrices "
               f"it uses): {spread(trained['mixed']).fmt()}" if trained["mixed"] else "")
    decision = rules.trained_lower_effective_rank(trained["bidirectional"], trained["causal"])
    return decision.to_claim(
        claim, f"d = {trained['d']}, {len(trained['n'])} sentences of n = {min(trained['n'])}–{max(trained['n'])}, "
               f"{units} units (seeds × layers × heads), each the mean over the sentences: bidirectional "
               f"{spread(trained['bidirectional']).fmt()}, causal {spread(trained['causal']).fmt()}; interval of "
               f"the paired mean difference over units{context}",
        figure="rank.png", evidence={"bidirectional": trained["bidirectional"], "causal": trained["causal"]},
        quote=Q["low_rank"], needs="more seeds (the units' interval straddles 0)")


def _claim_prefix(run_cfg: RunConfig, runs: dict, unigram: float, task: str, figure: str) -> Claim:
    loss = _loss(runs)
    size = f"{run_cfg.model.layers} layers × {run_cfg.model.hidden}, {run_cfg.train.steps} steps"
    return rules.prefix_no_better(loss["prefix"], loss["decoder"], unigram).to_claim(
        f"GPT vs UniLM ({task}): with the loss on the output only, bidirectional attention over the input "
        "(prefix-LM) brings no advantage over decoder-only at equal parameters",
        f"{task}, {size}, held-out output loss: " + _losses(loss, ("decoder", "prefix"))
        + f"; unigram floor {unigram:.3f}; exact match % " + ", ".join(
            f"{LABELS[a]} {spread([100 * s['exact_match'] for s in runs[a]]).fmt(3)}" for a in ("decoder", "prefix")),
        figure=figure, evidence={LABELS[a]: loss[a] for a in ("decoder", "prefix")}, quote=Q["prefix"],
        needs="more seeds or steps (the interval straddles the margin)")


def _claim_encdec(cfg: DecoderOnlyPreset, runs: dict, unigram: float, vocab: int) -> Claim:
    loss = _loss(runs)
    names = [a for a in ("decoder", "encdec@flops", "encdec@params", "encdec@params_total") if a in loss]
    sizes = "; ".join(f"{LABELS[a]}: hidden {runs[a][0]['hidden']}, {runs[a][0]['params']:,} params, "
                      f"{parameter_count(runs[a][0]['config_model'], vocab, embedding=False):,} without the embedding"
                      for a in names)
    if "encdec@params_total" not in loss:
        total = match_width(cfg.compare.model, "encdec", vocab, "params_total")
        sizes += f"; (matched with the embedding counted it would be hidden {total.hidden}, not trained here)"
    decision = rules.encdec_edge_is_parameters(loss["decoder"], loss["encdec@flops"], loss["encdec@params"], unigram)
    return decision.to_claim(
        "The encoder-decoder's edge over decoder-only (T5, UL2) comes only from its doubled parameters: given that "
        "it beats decoder-only at equal FLOPs, at equal Transformer weights (the tied embedding left out) it does not",
        "held-out output loss: " + _losses(loss, tuple(names)) + f"; unigram floor {unigram:.3f}; " + sizes,
        figure="compare.png", evidence={LABELS[a]: loss[a] for a in names}, quote=Q["encdec"],
        needs=("a size at which the encoder-decoder at equal FLOPs beats decoder-only (T5, UL2: 10⁸–10¹⁰ "
               "parameters, a GPU)" if decision.verdict == "not checkable" else "more seeds or steps"))


def _claim_mlm(cfg: DecoderOnlyPreset, runs: dict, unigram: float, name: str) -> Claim:
    loss = {d: [r["test_loss"] for r in rows] for d, rows in runs.items()}
    label = "half heads causal / half anti-causal" if name == "mixed" else "alternate layers causal / anti-causal"
    m = cfg.mlm.model
    return rules.mixed_no_worse(loss[name], loss["bidirectional"], unigram, name).to_claim(
        f"An MLM with mixed-direction attention ({label}), every attention matrix full rank, trains at least as "
        "well as one with bidirectional attention (the post: slightly better, base size)",
        f"whole-word MLM on People's Daily, {m.layers} layers × {m.hidden}, {m.heads} heads, {cfg.mlm.train.steps} "
        f"steps, held-out loss on the masked characters: bidirectional {spread(loss['bidirectional']).fmt(4)}, "
        f"{name} {spread(loss[name]).fmt(4)}; unigram floor {unigram:.3f}",
        figure="mlm.png", evidence={"bidirectional": loss["bidirectional"], name: loss[name]}, quote=Q["mixed_mlm"],
        needs="more seeds (the interval straddles the non-inferiority margin)")


def _loss(runs: dict) -> dict[str, list[float]]:
    return {name: [s["test_loss"] for s in rows] for name, rows in runs.items()}


def _losses(loss: dict[str, list[float]], names: tuple[str, ...]) -> str:
    return ", ".join(f"{LABELS[a]} {spread(loss[a]).fmt(4)}" for a in names)


def _row(s: dict) -> dict:
    keys = ("arch", "hidden", "params", "flops_per_example", "train_loss", "test_loss", "exact_match", "token_acc",
            "tokens_per_s", "seconds")
    return {k: s.get(k) for k in keys}

