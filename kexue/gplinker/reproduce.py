"""`reproduce(preset, out_dir)` for GPLinker: posts 8926 (events), 8888 (relations), 8373/8877 (GP, EGP).

One function per claim or check below, each quoting its post and decided by a rule of claims.py; the
measurements are measure.py's (timing, losses, counts, round trips), experiments.py's (training) and
published.py's (the posts' recipes on the user's data). Claims:
1. EGP as good as GP on NER with fewer parameters (8888, 8877) — MSRA subset, entity F1 over `seeds` seeds;
2. GPLinker extracts events (8926) and 3. triples (8888) on generated sentences whose test templates and
   names training never showed — decided on a pretrained encoder only (`encoder_path`), else not checkable
   with the measured F1 shown;
4. the sparse loss makes the training step faster (8888) — interleaved repeats on the work's own clock;
5. 1.5× on a 3090 (8888) — a GPU claim: decided on CUDA, not checkable on a CPU;
6. 7. the published F1s (DuEE 81.47, DuIE 0.8268) — the posts' recipes when the full preset is given the
   data and a checkpoint (`duee_dir`, `duie_dir`, `encoder_path`, or KEXUE_DUEE / KEXUE_DUIE / KEXUE_ENCODER).
Checks (identities with a negative control): the codec and clique search round trip (8926), the per-type
parameters of GP and EGP (8877), the sparse loss equal to the dense one (8888).

Presets: `quick` (≤ 3 minutes alone on 2 cores), `standard` (≤ 10 minutes on 2 cores, sized to decide the
NER comparison and the speed claim), `full` (bigger, for a GPU, with the posts' recipes), `smoke` (toy
sizes for tests; its verdicts mean nothing). Every training run evaluates on its dev set (`eval_every`, 0 =
once per epoch) and reports the weights of the best dev F1, as the scripts' Evaluator does.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kexue.config import override
from kexue.gplinker import claims as rules
from kexue.gplinker.claims import QUOTES
from kexue.gplinker.cliques import events_of
from kexue.gplinker.experiments import heldout, ner_f1s
from kexue.gplinker.measure import (cliques_agree, connected_components, fixture_round_trip, long_document_f1,
                                    loss_values, per_type_parameters, time_losses, time_steps)
from kexue.gplinker.model import EncoderConfig, HeadConfig
from kexue.gplinker.published import missing_paths, resolve_paths, run_recipe
from kexue.gplinker.tasks import get_task
from kexue.result import Check, Claim, TopicResult, save_then_draw
from kexue.train import TrainConfig
from kexue.verdicts import not_checkable

__all__ = ["GPLinkerPreset", "preset", "published_claims", "reproduce", "resolve_paths"]

TITLE = "GPLinker:基于GlobalPointer的事件联合抽取"
DATE = "2022-02-21"
POST = 8926
RELATED = [8888, 8373, 8877]
NEEDS_ENCODER = ("a pretrained Chinese encoder: --set gplinker.encoder_path=PATH (a kexue RoFormerV2 or a "
                 "transformers BERT folder; or $KEXUE_ENCODER), or the full preset with DuEE/DuIE (duee_dir / "
                 "duie_dir) and that encoder")

SCORE_NAMES = {"event_level/f1": "event-level F1", "argument_level/f1": "argument-level F1",
               "soft_argument/f1": "soft argument F1", "spo/f1": "(s, p, o) F1"}
# claims 2 and 3: what each post says its task extracts (keyed like QUOTES, by the task's name)
HELDOUT = {"events": "GPLinker extracts whole events (type, trigger, arguments) jointly with three EGP heads and the "
                     "clique search (8926)",
           "relations": "GPLinker extracts (s, p, o) triples with three GlobalPointers, overlaps included (8888)"}
# claims 6 and 7: (the post's number, its data setting, the metric, the target, the band, the target as the post
# writes it: DuEE's a percentage with two decimals, DuIE's a fraction with four)
PUBLISHED = {
    "events": ("GPLinker (EGP, RoBERTa-wwm-ext) on DuEE 1.0: leaderboard test F1 81.47 (P 82.65, R 80.31; official "
               "soft argument metric) (8926)", "duee", "soft_argument/f1", rules.DUEE_F1, rules.DUEE_BAND,
               lambda target: f"{100 * target:.2f}"),
    "relations": ("GPLinker (EGP, BERT-base) on DuIE / LIC2019: (s, p, o) F1 0.8268 (8888)", "duie", "spo/f1",
                  rules.DUIE_F1, rules.DUIE_BAND, lambda target: f"{target:.4f}")}


@dataclass
class GPLinkerPreset:
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(hidden=64, heads=4, layers=2))
    ner_train: int = 3000  # MSRA training sentences
    ner_test: int = 500
    ner_dev: int = 500  # MSRA train sentences after the training ones, on which the best weights are picked
    ner_max_chars: int = 60  # MSRA sentences up to this length (shorter steps on CPU)
    ner: TrainConfig = field(default_factory=lambda: TrainConfig(steps=300, batch_size=32, lr=2e-3, log_every=50))
    seeds: tuple[int, ...] = (0, 1, 2)  # NER runs per head (claim 1)
    sort_by_length: bool = False  # NER batches of similar lengths (train/length_batches.py)
    gen_train: int = 1200  # generated sentences (train templates and names), events and relations each
    gen_dev: int = 200  # dev (new sentences of the training templates) and test (held-out templates and names) each
    extract: TrainConfig = field(default_factory=lambda: TrainConfig(steps=400, batch_size=32, lr=2e-3, log_every=50))
    random_graphs: int = 300
    loss_timing: tuple[int, int, int] = (16, 50, 128)  # batch, heads, n for the loss alone (context of claim 4)
    step_timing: tuple[int, int, int] = (16, 49, 96)  # batch, predicates (DuIE's 49), characters per sentence
    step_repeats: int = 9  # interleaved timed steps per side (claims 4, 5)
    timing_device: str = "cpu"  # where the step is timed; "auto": CUDA when there is one (claim 5 needs it)
    threads: int = 1  # one thread: the work's own clock is then the thread's CPU time
    drop_subsets: bool = False  # Su's subset-event post-processing on the published recipe's predictions
    keep_best: bool = True  # evaluate on dev every eval_every steps and report the best weights (the scripts')
    eval_every: int = 0  # 0 = once per epoch
    # the posts' recipes on the real data (claims 6, 7); run only when `published` and the paths are known
    published: bool = False  # the full preset's
    duee_dir: str = ""  # DuEE 1.0: duee_train.json, duee_dev.json, duee_event_schema.json; else $KEXUE_DUEE
    duie_dir: str = ""  # DuIE: train_data.json, dev_data.json, all_50_schemas (or duie_*.json); else $KEXUE_DUIE
    encoder_path: str = ""  # a pretrained Chinese encoder (RoBERTa-wwm-ext in the posts); else $KEXUE_ENCODER
    max_len: int = 128  # the posts' maxlen
    # the recipes' optimiser; their steps are duee_steps, or else duee_epochs passes over the training set
    duee: TrainConfig = field(default_factory=lambda: TrainConfig(batch_size=32, lr=2e-5, log_every=100))
    duee_epochs: int = 200  # duee_v1.py
    duee_steps: int = 0  # 0: from duee_epochs
    duie: TrainConfig = field(default_factory=lambda: TrainConfig(batch_size=64, lr=2e-5, log_every=100))
    duie_epochs: int = 20  # duie_v1.py
    duie_steps: int = 0  # 0: from duie_epochs


def preset(name: str) -> GPLinkerPreset:
    """quick: ≤ 3 minutes alone on 2 cores. standard: ≤ 10 minutes, sized to decide. full: bigger model and
    data, for a GPU, with the posts' recipes. smoke: seconds; its verdicts mean nothing."""
    if name == "quick":
        return GPLinkerPreset(ner_train=3000, ner_test=300, ner_dev=200, ner_max_chars=40,
                              ner=TrainConfig(steps=300, batch_size=32, lr=3e-3, log_every=50, schedule="cosine",
                                              warmup=30),
                              sort_by_length=True, gen_train=600, gen_dev=100,
                              extract=TrainConfig(steps=150, batch_size=32, lr=3e-3, log_every=50),
                              random_graphs=200, step_repeats=7, step_timing=(8, 49, 64), loss_timing=(8, 50, 64))
    if name == "standard":
        # NER: 800 steps over 8000 sentences reach test F1 ≈ 0.6 (GP 0.57, EGP 0.61 at seed 0; 400 steps over
        # 4000 gave 0.31–0.38, too close to the floor for a margin of a tenth of it); held-out extraction is not
        # checkable from scratch, so its runs stay short
        return GPLinkerPreset(ner_train=8000, ner_test=800, ner_dev=300,
                              ner=TrainConfig(steps=800, batch_size=32, lr=3e-3, log_every=50, schedule="cosine",
                                              warmup=80),
                              seeds=(0, 1, 2, 3, 4), sort_by_length=True, gen_train=1500, gen_dev=200,
                              extract=TrainConfig(steps=400, batch_size=32, lr=3e-3, log_every=50), eval_every=100)
    if name == "full":
        return GPLinkerPreset(encoder=EncoderConfig(hidden=256, heads=4, layers=4), ner_train=50_000, ner_test=5000,
                              ner_max_chars=126, seeds=(0, 1, 2, 3, 4),
                              ner=TrainConfig(steps=5000, batch_size=64, lr=1e-3, log_every=100),
                              gen_train=20_000, gen_dev=1000,
                              extract=TrainConfig(steps=5000, batch_size=64, lr=1e-3, log_every=100), threads=8,
                              step_timing=(16, 49, 128), step_repeats=15, timing_device="auto", published=True)
    if name == "smoke":  # every step at toy size; its verdicts mean nothing
        tiny = TrainConfig(steps=2, batch_size=8, lr=1e-3, log_every=1)
        return GPLinkerPreset(encoder=EncoderConfig(hidden=16, heads=2, layers=1), ner_train=16, ner_test=8, ner_dev=8,
                              ner=tiny, seeds=(0, 1), gen_train=16, gen_dev=8, extract=tiny, random_graphs=10,
                              loss_timing=(2, 3, 16), step_timing=(2, 3, 16), step_repeats=3, threads=1)
    raise ValueError(f"unknown preset {name!r}; choose quick, standard, full or smoke")


def reproduce(preset_name: str, out_dir: Path, cfg: GPLinkerPreset | None = None,
              progress: bool = False, sets: list[str] | None = None) -> TopicResult:
    """The claims and checks at `preset_name` (or `cfg`), with `sets` (`key=value`, e.g. duee_dir=...) applied."""
    cfg = override(cfg or preset(preset_name), sets)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = resolve_paths(cfg)  # a bad path stops here, before any training
    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    runs = out_dir / "gplinker" / "runs"
    metrics: dict[str, Any] = {}
    checks = [check_round_trip(cfg, metrics), check_parameters(cfg, metrics), check_losses(metrics)]
    metrics["ner"] = ner_f1s(cfg, runs, progress)
    claims = [claim_egp(cfg, metrics["ner"])]
    for name in HELDOUT:
        metrics[name] = heldout(name, cfg, runs, paths["encoder_path"], progress)
        claims.append(claim_heldout(name, metrics[name]))
    metrics["loss_speed"] = timing(cfg)
    claims += [claim_sparse_faster(cfg, metrics["loss_speed"]), claim_sparse_on_3090(cfg, metrics["loss_speed"])]
    claims += published_claims(cfg, paths, runs, metrics, progress)
    result = TopicResult(topic="gplinker", post=POST, title=TITLE, date=DATE, preset=preset_name, claims=claims,
                         checks=checks, metrics=metrics, figures=["gplinker_f1.png"],
                         seconds=time.perf_counter() - t0, related_posts=RELATED)
    return save_then_draw(result, out_dir, {"gplinker_f1.png": lambda path: _plot(metrics, path, preset_name)})


# --- claims ---

def claim_egp(cfg: GPLinkerPreset, ner: dict[str, Any]) -> Claim:
    """1. EGP as good as GP on NER, non-inferiority over seeds (the parameter counts are a check)."""
    gp, egp = ner["gp_f1"], ner["egp_f1"]
    d = rules.egp_as_good_as_gp(gp, egp)
    n = ner["sizes"]
    return d.to_claim(
        "Efficient GlobalPointer is as good as GlobalPointer on NER with far fewer parameters (8888; 8877: "
        "People's Daily test F1 95.51 GP vs 95.36 EGP)",
        f"MSRA subset ({n['train']} train / {n['dev']} dev / {n['test']} test sentences ≤ {cfg.ner_max_chars} "
        f"chars), from-scratch encoder, {cfg.ner.steps} steps, {len(cfg.seeds)} seeds, the "
        f"{'best dev' if cfg.keep_best else 'last'} weights: test entity F1 GP {_fmt(gp)} "
        f"({ner['gp_head_params']:,} head params), EGP {_fmt(egp)} ({ner['egp_head_params']:,}) (mean ± SD over seeds)",
        figure="gplinker_f1.png", evidence={"GP entity F1": gp, "EGP entity F1": egp}, quote=QUOTES["egp"],
        needs=f"more seeds or steps (standard: {len(preset('standard').seeds)} seeds), or a pretrained encoder")


def claim_heldout(name: str, m: dict[str, Any]) -> Claim:
    """2. events (8926) and 3. triples (8888) on held-out templates and names."""
    task = get_task(name)
    what = SCORE_NAMES[task.select]
    d = rules.extracts_heldout(m["f1"], m["f1_se"], m["seen_templates_f1"], pretrained=m["encoder"] != "from scratch",
                               name=f"held-out {what}")
    extra = (f", argument-level F1 {m['argument_level/f1']:.3f}, soft argument F1 {m['soft_argument/f1']:.3f}"
             if "argument_level/f1" in m else "")
    n = m["sizes"]
    return d.to_claim(
        HELDOUT[name],
        f"generated {task.builtin.format}-format data ({n['train']} train / {n['dev']} dev / "
        f"{n['test']} test; test on templates and names never seen in training, dev on new sentences of the "
        f"training ones), encoder: {m['encoder']}: "
        f"test {what} {m['f1']:.3f} ± {m['f1_se']:.3f} (bootstrap SE){extra} ({m['weights']}); on new sentences "
        f"of the training templates and names: {m['seen_templates_f1']:.3f}",
        figure="gplinker_f1.png", quote=QUOTES[name], needs=NEEDS_ENCODER)


def timing(cfg: GPLinkerPreset) -> dict[str, Any]:
    """The whole training step (claims 4, 5) and the loss alone (context), interleaved on the work's clock."""
    device = cfg.timing_device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    steps = time_steps(cfg.encoder, *cfg.step_timing, repeats=cfg.step_repeats, device=device)
    return {**steps, "device": device, "loss_only": time_losses(*cfg.loss_timing, repeats=cfg.step_repeats)}


def claim_sparse_faster(cfg: GPLinkerPreset, t: dict[str, Any]) -> Claim:
    """4. The sparse loss makes the training step faster (the reason 8888 gives for it)."""
    d = rules.sparse_faster(t["dense_s"], t["sparse_s"])
    return d.to_claim(
        "The sparse multilabel CE (only the positives' indices as labels) makes training faster than the dense, "
        "multi-hot one (8888)",
        _timing_text(cfg, t), evidence={"sparse step s": t["sparse_s"], "dense step s": t["dense_s"]},
        quote=QUOTES["sparse_faster"], needs="more repeats (step_repeats) or a larger step (step_timing)")


def claim_sparse_on_3090(cfg: GPLinkerPreset, t: dict[str, Any]) -> Claim:
    """5. 1.5× on a 3090: a GPU claim."""
    d = rules.sparse_faster_on_3090(t["dense_s"], t["sparse_s"], t["device"])
    return d.to_claim(
        f"On a 3090 the sparse loss trains {rules.SPARSE_SPEEDUP:g}× as fast as the dense one (8888; that it loses "
        "no precision is the check that both losses are equal)",
        _timing_text(cfg, t), evidence={"sparse step s": t["sparse_s"], "dense step s": t["dense_s"]},
        quote=QUOTES["sparse_3090"], needs="a GPU: the full preset on CUDA (timing_device=auto)")


def _timing_text(cfg: GPLinkerPreset, t: dict[str, Any]) -> str:
    b, p, n = cfg.step_timing
    lb, lh, ln = cfg.loss_timing
    return (f"whole training step (labels built, forward, backward, AdamW) of a relations model with {p} predicates, "
            f"batch {b}, {n} characters, {cfg.step_repeats} interleaved repeats per side on {t['device']} (the "
            f"work's own clock): dense / sparse = {_ratio(t['dense_s'], t['sparse_s'])} (geometric mean; post: "
            f"1.5× on a 3090); the loss alone on [{lb}, {lh}, {ln}, {ln}] scores: "
            f"{_ratio(t['loss_only']['dense_s'], t['loss_only']['sparse_s'])}")


def published_claims(cfg: GPLinkerPreset, paths: dict[str, Path | None], runs: Path, metrics: dict,
                     progress: bool = False) -> list[Claim]:
    """6. DuEE (8926) and 7. DuIE (8888): the posts' recipes on the user's data and encoder (the full preset),
    or "not checkable" naming what is missing."""
    out = []
    for name, (text, key, metric, target, band, as_post) in PUBLISHED.items():
        missing = missing_paths(name, paths)
        if not cfg.published or missing:
            why = (f"give {' and '.join(missing)} to run the post's recipe" if cfg.published else
                   "runs in the full preset only (the posts' recipes take hours on a GPU)")
            needs = f"DuEE/DuIE and a pretrained Chinese encoder: the full preset with {key}_dir and encoder_path"
            out.append(not_checkable(why).to_claim(text, f"not run: {why}", quote=QUOTES[key], needs=needs))
            continue
        m = metrics[key] = run_recipe(name, cfg, paths, runs, progress)
        d = rules.published_f1(m[metric], target, band, name=f"dev {metric}")
        scores = ", ".join(f"{label} {m[k]:.4f}" for k, label in SCORE_NAMES.items() if k in m)
        out.append(d.to_claim(text, f"{m['setup']}; dev: {scores} (post: {as_post(target)} on test)",
                              quote=QUOTES[key]))
    return out


# --- checks ---

def check_round_trip(cfg: GPLinkerPreset, metrics: dict) -> Check:
    """The codec and the clique search give gold events back exactly (8926); control: connected components."""
    samples, bad = fixture_round_trip()
    same, long_f1 = cliques_agree(cfg.random_graphs, events_of), long_document_f1()
    wrong = cliques_agree(cfg.random_graphs, connected_components)
    metrics["roundtrip"] = {"fixture_samples": samples, "unrecoverable": bad, "random_graphs": cfg.random_graphs,
                            "cliques_equal": same, "components_equal": wrong, "long_document_event_f1": long_f1}
    expected = ["unrecoverable-subset"]
    d = rules.exact_round_trip(bad, expected, same, cfg.random_graphs, long_f1)
    control = rules.exact_round_trip(bad, expected, wrong, cfg.random_graphs, long_f1)
    return d.to_check(
        "Events come back exactly through the codec and the complete-subgraph search, which finds every maximal "
        "clique as the post's recursion does (8926), except events absorbed by a larger same-type clique",
        f"oracle round trip exact on {samples - len(bad)}/{samples} fixture samples (not: {', '.join(bad)}, the "
        f"documented subset case); bitset Bron–Kerbosch = post's recursion on {same}/{cfg.random_graphs} random "
        f"graphs; 10 same-type events × 6 arguments decode at event F1 {long_f1:.2f}",
        control, "connected components in place of the clique search")


def check_parameters(cfg: GPLinkerPreset, metrics: dict) -> Check:
    """Each added type costs GP 2Dd and EGP 4d parameters (+ biases) (8877); control: the counts swapped."""
    D, d = cfg.encoder.hidden, HeadConfig().head_size
    got = metrics["per_type_parameters"] = per_type_parameters(D, d)
    ok = rules.per_type_parameters(got["gp"], got["egp"], D, d)
    control = rules.per_type_parameters(got["egp"], got["gp"], D, d)
    return ok.to_check("One more entity type adds 2Dd parameters to GlobalPointer and 4d to Efficient "
                       "GlobalPointer, each with its biases (8877)",
                       f"counted on the modules (D = {D}, d = {d}): GP +{got['gp']:,}, EGP +{got['egp']:,} per type",
                       control, "GP's and EGP's counts swapped")


def check_losses(metrics: dict) -> Check:
    """The sparse loss equals the dense one (8888: 'without losing precision'); control: no log(1 − e^{b−a})."""
    v = metrics["losses"] = loss_values()
    ok = rules.losses_equal(v["sparse"], v["dense"])
    control = rules.losses_equal(v["without_correction"], v["dense"])
    return ok.to_check("The sparse multilabel CE, a + log(1 − e^{b−a}) from P and A = P ∪ N only, equals the dense "
                       "one on the same scores (8888)",
                       f"sparse {v['sparse']:.6f}, dense {v['dense']:.6f}",
                       control, f"the negatives summed over A instead of N ({v['without_correction']:.6f})")


def _fmt(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f}" if values else "–"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def _ratio(slow: list[float], fast: list[float]) -> str:
    # exp(mean log t_slow − mean log t_fast)
    return f"{statistics.geometric_mean(slow) / statistics.geometric_mean(fast):.2f}×"


def _plot(metrics: dict, path: Path, preset_name: str) -> None:
    """Left: the test F1s (NER per seed); right: the dev learning curves of every run."""
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.6))
    names, values, colors = [], [], []
    for pointer, color in (("gp", "#888"), ("egp", "#c44")):
        for k, v in enumerate(metrics["ner"][f"{pointer}_f1"]):
            names.append(f"NER {pointer.upper()} s{k}")
            values.append(v)
            colors.append(color)
    for label, task, c in (("events (event)", "events", "#48c"), ("relations (spo)", "relations", "#4a4")):
        names.append(label)
        values.append(metrics[task]["f1"])
        colors.append(c)
    ax.bar(names, values, color=colors)
    ax.set_ylim(0, 1)
    ax.set_ylabel("test F1")
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    ax.set_title(f"GPLinker, {preset_name} preset", fontsize=9)
    for k, v in enumerate(values):
        ax.text(k, v + 0.02, f"{v:.2f}", ha="center", fontsize=6)
    curves = {**metrics["ner"]["curves"], "events": metrics["events"]["curve"],
              "relations": metrics["relations"]["curve"]}
    for label, curve in curves.items():
        if curve:
            bx.plot(*zip(*curve), marker=".", label=label, lw=1)
    bx.set_xlabel("step")
    bx.set_ylabel("dev F1")
    bx.set_ylim(0, 1)
    bx.set_title("dev learning curves (best weights kept)", fontsize=9)
    bx.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
