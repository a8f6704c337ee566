"""GPLinker NER on a kexue-pretrained RoFormerV2 against the same budget from scratch (issue 22 §2).

kexue.fm/archives/8373 (GlobalPointer NER) on kexue.fm/archives/8998 (RoFormerV2, whole-word MLM). One
command runs the whole comparison and writes benchmarks/results/gplinker-pretrained.json:

1. pretrain: `kexue roformer pretrain --preset msra-encoder` (People's Daily + MSRA train text, never MSRA
   test), stopped by its clock cap;
2. three arms, each fine-tuned with the same GPLinker NER recipe and stopping rule, once per seed:
   - `pretrained`: recipe msra-pretrained on the pretrained encoder;
   - `random`: the same recipe on a RoFormerV2 of the same shape and vocabulary, randomly initialised (the
     control that isolates what pretraining brought);
   - `scratch`: the from-scratch recipe msra (TinyEncoder), given the whole budget: pretraining + fine-tuning;
3. MSRA test entity P/R/F1 of each run's best dev weights (dev = the last 1000 train sentences), the dev
   curve against wall-clock and CPU seconds, and the verdicts over seeds, paired by fine-tuning seed
   (kexue/verdicts.py: `better` on the `paired_interval` of the per-seed differences).

Budgets are CPU seconds of the run's own process (torch on one thread), so that a shared machine's load
does not shrink one arm's budget more than another's: the stopping clocks of pretraining and of
fine-tuning read `time.process_time` here (the library's read the wall clock). Arms run `--jobs` at a
time, each in its own process.

    python benchmarks/gplinker_pretrained.py                   # the issue's scale: 30 + 25 min, 3 seeds
    python benchmarks/gplinker_pretrained.py --scale reduced --jobs 3   # CPU minutes, a subset of MSRA, one seed
    python benchmarks/gplinker_pretrained.py --sizes           # the step time that chose the encoder's size
    python benchmarks/gplinker_pretrained.py --padding         # what the preset's batches of like lengths bring
    python benchmarks/gplinker_pretrained.py --heldout         # events, relations on held-out templates on that encoder
    python benchmarks/gplinker_pretrained.py --longer 60,120   # that encoder pretrained on to 60, 120 CPU min, each fine-tuned
    python benchmarks/gplinker_pretrained.py --lexicon jieba+peoples-daily --encoder runs/msra-encoder --jobs 2
                                                               # the three arms with lexicon features, on a finished pretraining
    python benchmarks/gplinker_pretrained.py --lexicon jieba+peoples-daily --bigrams 32 --encoder runs/msra-encoder \
        --jobs 2                                               # and bigram embeddings (recipe msra-bigrams)

`--lexicon SOURCE` gives every arm the lexicon features of kexue/gplinker/lexicon.py (the pretrained and
random arms recipe msra-lexicon, the scratch arm msra with them) → results/gplinker-pretrained-lexicon.json;
`--bigrams D` adds bigram embeddings of size D (kexue/gplinker/bigrams.py; with the lexicon, recipe msra-bigrams)
→ results/gplinker-pretrained-lexicon-bigrams.json, each arm against itself without them (`bigrams_vs_none`);
`--encoder RUN` fine-tunes a finished msra-encoder pretraining instead of pretraining again. A finished
fine-tuning leaves result.json in its folder and is read, not redone, when the benchmark runs again.

`--longer` answers "do longer runs pay?" (issue 22 §2): it resumes the pretraining the full run left in --work
(`kexue roformer pretrain --resume` with a later clock cap, as a user with a night would) stage by stage, keeps
a copy of the encoder at the end of each stage (encoder-M, M = CPU minutes of pretraining in all), and
fine-tunes each copy with the same msra-pretrained recipe, seed and 25-minute budget as the full run's
pretrained arm, beside the next stage (→ results/gplinker-pretrained-longer.json, with the full run's
30-minute point from results/gplinker-pretrained.json).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from gplinker_pretrained_verdicts import against_plain, verdicts

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Scale:
    name: str
    pretrain_minutes: float  # CPU minutes of pretraining
    finetune_minutes: float  # CPU minutes of fine-tuning a pretrained / random encoder
    seeds: int
    n_train: int = 0  # MSRA train sentences (0: all but the dev ones)
    n_dev: int = 1000
    n_test: int = 0  # MSRA test sentences (0: all 5000)
    eval_every: int = 500
    max_texts: int | None = None  # pretraining corpus texts (None: all)


SCALES = {
    "full": Scale("full", 30.0, 25.0, 3),
    "reduced": Scale("reduced", 2.0, 1.5, 1, n_train=3000, n_dev=300, n_test=500, eval_every=50),
    "smoke": Scale("smoke", 0.05, 0.05, 1, n_train=64, n_dev=16, n_test=16, eval_every=2, max_texts=400),
}


def _cpu_clocks() -> None:
    """The stopping clocks of pretraining and of fine-tuning on this process's CPU time."""
    import functools

    import kexue.gplinker.train as gtrain
    import kexue.roformer.pretrain as rpre

    rpre.TimeCap = functools.partial(rpre.TimeCap, clock=time.process_time)
    gtrain.EarlyStopping = functools.partial(gtrain.EarlyStopping, clock=time.process_time)


def encoder_cfg(scale: Scale):
    """The msra-encoder preset at `scale` (smoke: a tiny model on a few texts)."""
    from kexue.roformer.pretrain import msra_encoder
    cfg = replace(msra_encoder(), max_texts=scale.max_texts)
    if scale.name == "smoke":
        cfg = replace(cfg, model=replace(cfg.model, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32),
                      eval_texts=20, train=replace(cfg.train, batch_size=8, eval_every=5, log_every=5))
    return cfg


def pretrain(scale: Scale, out: Path) -> dict:
    import torch

    from kexue.roformer.pretrain import pretrain as run
    torch.set_num_threads(1)
    _cpu_clocks()
    cfg = replace(encoder_cfg(scale), max_minutes=scale.pretrain_minutes)
    w0, c0 = time.perf_counter(), time.process_time()
    summary = run(cfg, out, progress=False)
    return {"steps": summary["steps"], "stopped": summary.get("stopped", ""), "wall_s": time.perf_counter() - w0,
            "cpu_s": time.process_time() - c0, "params": summary["params"],
            "mlm_loss": summary.get("eval/mlm_loss"), "mlm_acc": summary.get("eval/mlm_acc"),
            "model": {k: getattr(cfg.model, k) for k in ("hidden_size", "num_layers", "num_heads", "intermediate_size")}}


def random_like(encoder: Path, out: Path, seed: int) -> Path:
    """A kexue RoFormerV2 folder of the encoder's shape and vocabulary with fresh weights (the control)."""
    import shutil

    import torch

    from kexue.roformer.checkpoint import read_config
    from kexue.roformer.model import RoFormerV2
    from kexue.train.checkpoint import MODEL_FILE, save_model
    out.mkdir(parents=True, exist_ok=True)
    cfg, _ = read_config(encoder)
    for name in ("config.json", "vocab.txt"):
        shutil.copy(encoder / name, out / name)
    torch.manual_seed(1000 + seed)
    save_model(RoFormerV2(cfg), out / MODEL_FILE, {"step": "0"})
    return out


def finetune(arm: str, seed: int, scale: Scale, encoder: Path | None, minutes: float, out: Path,
             lexicon: str = "", bigrams: int = 0) -> dict:
    """One arm × seed: train with its recipe and CPU budget, keep the best dev weights, score MSRA test.
    `lexicon`: with the lexicon features of that source (recipe msra-lexicon; the scratch arm: msra with them);
    `bigrams`: with bigram embeddings of that size (with the lexicon: recipe msra-bigrams)."""
    import torch

    from kexue.gplinker.linker import GPLinkerConfig
    from kexue.gplinker.recipes import apply_recipe
    from kexue.gplinker.tasks import get_task
    from kexue.gplinker.train import build_linker
    torch.set_num_threads(1)
    _cpu_clocks()
    ner = get_task("ner")
    name = ("msra" if arm == "scratch" else "msra-bigrams" if lexicon and bigrams else "msra-lexicon" if lexicon
            else "msra-pretrained")
    recipe = replace(ner.recipe(name), n_train=scale.n_train, n_dev=scale.n_dev, max_minutes=minutes,
                     eval_every=scale.eval_every, lexicon=lexicon, bigrams=bigrams)
    if arm == "scratch":  # the whole budget: its schedule stretched by budget / fine-tuning budget (the reduced
        # run of 2026-12-07 ended all arms at 3 epochs, the scratch arm after 0.7 of its 3.5 CPU minutes)
        recipe = replace(recipe, epochs=recipe.epochs * minutes / scale.finetune_minutes)
    train, dev, labels, data = ner.recipe_data(recipe)
    cfg = apply_recipe(GPLinkerConfig(task="ner"), recipe, len(train))
    cfg = replace(cfg, train=replace(cfg.train, seed=seed, log_every=50))
    if scale.name == "smoke":
        cfg = replace(cfg, encoder=replace(cfg.encoder, hidden=16, heads=2, layers=1), train=replace(cfg.train, batch_size=8))
    g, _ = build_linker(cfg, labels, ner.vocab_texts(recipe, train, dev), out, encoder=encoder,
                        train_texts=[r.text for r in train])
    g.data = data
    curve: list[dict] = []
    w0, c0 = time.perf_counter(), time.process_time()
    evaluate = g.evaluate

    def timed(samples, **kw):  # every dev evaluation, with the clocks at which it happened
        m = evaluate(samples, **kw)
        if samples is dev:
            curve.append({"wall_s": round(time.perf_counter() - w0, 1), "cpu_s": round(time.process_time() - c0, 1),
                          "dev_f1": m["entity/f1"]})
        return m

    g.evaluate = timed
    summary = g.fit(train, dev, out)
    seconds = {"wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0}
    test = ner.recipe_test(recipe)[:scale.n_test or None]
    m = evaluate(test)
    keep = ("precision", "recall", "f1", "predicted", "gold", "correct")
    return {"arm": arm, "seed": seed, "folder": out.name, "steps": summary["steps"], "stopped": summary["stopped"], **seconds,
            "budget_cpu_min": minutes, "weights": g.weights, "curve": curve, "test_sentences": len(test),
            "test": {k: m[f"entity/{k}"] for k in keep},
            "test_by_type": {t: {k: m[f"entity/{t}/{k}"] for k in ("precision", "recall", "f1")}
                             for t in ("LOC", "ORG", "PER") if f"entity/{t}/f1" in m},
            "decode_capped": m["decode/capped"], "encoder_lr_scale": cfg.encoder_lr_scale, "recipe": recipe.name,
            "epochs": recipe.epochs, "lexicon": lexicon, "bigrams": bigrams, "test_parts": test_parts(evaluate, test)}


def name_lists(test: list) -> tuple[list, list]:
    """MSRA test cut in two: the sentences with ≥ 8 person names (29 of 5000; most are lists of names run
    together with no separator, e.g. 江泽民委员：李鹏乔石李瑞环彭真…, 677 of its 2075 PER) and the rest."""
    lists = [row for row in test if sum(1 for span in row.entities if span[2] == "PER") >= 8]
    chosen = {id(row) for row in lists}
    return lists, [row for row in test if id(row) not in chosen]


def test_parts(evaluate, test: list) -> dict:
    """Entity P/R/F1 (and PER recall) on each part of `name_lists(test)`: where the errors are."""
    out = {}
    for name, part in zip(("name_lists", "other"), name_lists(test)):
        if part:
            m = evaluate(part)
            out[name] = {"sentences": len(part), **{k: m[f"entity/{k}"] for k in ("precision", "recall", "f1", "gold")},
                         "per_recall": m.get("entity/PER/recall")}
    return out


def heldout_runs(encoder: Path, work: Path, preset_name: str = "standard") -> list[dict]:
    """Events and relations on held-out templates and names (GPLinker's reproduce claims 1 and 2, at
    `preset_name`) on the pretrained encoder, at two fine-tuning rates: the posts' Adam 2e-5 (what reproduce
    uses with `encoder_path`) and msra-pretrained's split (2e-3 on the heads, a quarter on the encoder)."""
    import torch

    from kexue.gplinker.claims import extracts_heldout
    from kexue.gplinker.experiments import FINE_TUNE_LR, heldout
    from kexue.gplinker.reproduce import preset
    torch.set_num_threads(1)
    cfg, out = preset(preset_name), []
    for rate, lr, scale in (("posts", FINE_TUNE_LR, 1.0), ("split", 2e-3, 0.25)):
        for task in ("events", "relations"):
            w0, c0 = time.perf_counter(), time.process_time()
            m = heldout(task, cfg, work / f"heldout-{rate}", encoder, lr=lr, encoder_lr_scale=scale)
            d = extracts_heldout(m["f1"], m["f1_se"], m["seen_templates_f1"], pretrained=True)
            out.append({"task": task, "rate": rate, "lr": lr, "encoder_lr_scale": scale, "preset": preset_name,
                        "heldout_f1": m["f1"], "heldout_f1_se": m["f1_se"], "seen_templates_f1": m["seen_templates_f1"],
                        "verdict": d.verdict, "why": d.why, "sizes": m["sizes"], "curve": m["curve"],
                        "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0})
            print(f"{task:9s} {rate:6s}: held-out F1 {m['f1']:.3f} ± {m['f1_se']:.3f}, training templates "
                  f"{m['seen_templates_f1']:.3f} → {d.verdict}", flush=True)
    return out


def parts_of_runs(work: Path, result: Path) -> None:
    """`test_parts` added to every run of `result` (and of its -longer file) that lacks them, from the best
    dev weights its folder in `work` kept (a run's folder is named as finetune's and longer's name it)."""
    import torch

    from kexue.gplinker.tasks import get_task
    from kexue.gplinker.train import load_run
    torch.set_num_threads(1)
    ner = get_task("ner")
    test = ner.recipe_test(ner.recipe("msra"))
    for file in (result, result.with_name(result.stem + "-longer.json")):
        if not file.exists():
            continue
        data = json.loads(file.read_text(encoding="utf-8"))
        runs = data.get("runs") or [row["run"] for row in data.get("rows", [])]
        for r in runs:
            if "test_parts" in r:
                continue
            name = r.get("folder", f"{r['arm']}-{r['seed']}")
            r["test_parts"] = test_parts(load_run(work / name).evaluate, test)
            print(name, json.dumps(r["test_parts"]), flush=True)
        file.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def reused_pretraining(folder: Path) -> dict:
    """What `pretrain` reports, read from a finished pretraining's folder (its own clock: wall seconds)."""
    from kexue.train import read_metrics
    records = read_metrics(folder)
    evals = [r for r in records if "eval/mlm_acc" in r]
    return {"folder": str(folder), "reused": True, "steps": records[-1]["step"], "clock_s": records[-1]["seconds"],
            "mlm_loss": evals[-1]["eval/mlm_loss"] if evals else None,
            "mlm_acc": evals[-1]["eval/mlm_acc"] if evals else None}


def _job(args: tuple) -> dict:
    """finetune(*args), or the result a finished run left in its folder (a cut benchmark goes on where it was)."""
    done = Path(args[5]) / "result.json"
    if done.is_file():
        kept = json.loads(done.read_text(encoding="utf-8"))
        features = (args[6] if len(args) > 6 else "", args[7] if len(args) > 7 else 0)  # lexicon, bigrams
        if (kept["arm"], kept["seed"], kept.get("lexicon", ""), kept.get("bigrams", 0)) != (args[0], args[1], *features):
            raise SystemExit(f"{done}: a finished run of arm {kept['arm']}, seed {kept['seed']}, lexicon "
                             f"{kept.get('lexicon', '')!r}, bigrams {kept.get('bigrams', 0)}, not this one; give "
                             "another --work")
        return kept
    result = finetune(*args)
    done.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="full")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "gplinker-pretrained")
    ap.add_argument("--jobs", type=int, default=1, help="fine-tuning runs at a time (each its own process)")
    ap.add_argument("--seeds", type=int, help="fine-tuning seeds of the pretrained and random arms (default: the scale's)")
    ap.add_argument("--scratch-seeds", type=int, help="seeds of the from-scratch arm, which costs pretraining + "
                    "fine-tuning per seed (default: --seeds)")
    ap.add_argument("--result", type=Path, help="default: results/gplinker-pretrained.json, "
                    "gplinker-pretrained-lexicon.json with --lexicon")
    ap.add_argument("--lexicon", default="", help="every arm with the lexicon features of this source "
                    "(jieba+peoples-daily): recipe msra-lexicon, the scratch arm msra with them")
    ap.add_argument("--bigrams", type=int, default=0, help="every arm with bigram embeddings of this size "
                    "(bigrams.py; with --lexicon the pretrained and random arms' recipe is msra-bigrams)")
    ap.add_argument("--encoder", type=Path, help="a finished msra-encoder pretraining to use instead of pretraining "
                    "again (its steps, clock and MLM accuracy are read from its metrics.jsonl)")
    ap.add_argument("--sizes", action="store_true", help="only the step time of three encoder sizes "
                    "(→ results/gplinker-pretrained-sizes.json)")
    ap.add_argument("--heldout", action="store_true", help="only events and relations on held-out templates on "
                    "the encoder the pretraining left in --work (→ results/gplinker-pretrained-heldout.json)")
    ap.add_argument("--longer", help="CPU minutes of pretraining in all, comma-separated (e.g. 60,120): the full "
                    "run's encoder pretrained on to each, each fine-tuned (→ results/gplinker-pretrained-longer.json)")
    ap.add_argument("--parts", action="store_true", help="only the test F1 on name lists and on the rest, added to "
                    "the runs of --result (and its -longer file) from their folders in --work")
    ap.add_argument("--padding", action="store_true", help="only the real-token share and the MLM step time of "
                    "random and length-sorted batches (→ results/gplinker-pretrained-padding.json)")
    args = ap.parse_args()
    name = "gplinker-pretrained" + ("-lexicon" if args.lexicon else "") + ("-bigrams" if args.bigrams else "")
    args.result = args.result or ROOT / "benchmarks" / "results" / f"{name}.json"
    if not side_mode(args):
        full_run(args)


def side_mode(args: argparse.Namespace) -> bool:
    """Run the one-piece mode that args name (--padding, --parts, --longer, --heldout, --sizes); False if none."""
    from gplinker_pretrained_steps import padding, step_seconds
    if args.padding:
        out = padding()
        file = ROOT / "benchmarks" / "results" / "gplinker-pretrained-padding.json"
        file.write_text(json.dumps({"load_average": os.getloadavg()[0], **out}, indent=1) + "\n", encoding="utf-8")
        print(json.dumps(out, indent=1))
    elif args.parts:
        parts_of_runs(args.work / args.scale, args.result)
    elif args.longer:
        from gplinker_pretrained_longer import longer
        longer(SCALES[args.scale], args.work / args.scale, [float(m) for m in args.longer.split(",")], args.result)
    elif args.heldout:
        work = args.work / args.scale
        preset_name = "smoke" if args.scale == "smoke" else "standard"
        rows = heldout_runs(work / "encoder", work, preset_name)
        file = args.result.with_name(args.result.stem + "-heldout.json")
        file.write_text(json.dumps({"encoder": str(work / "encoder"), "load_average": os.getloadavg()[0],
                                    "rows": rows}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {file}")
    elif args.sizes:
        rows = step_seconds()
        file = ROOT / "benchmarks" / "results" / "gplinker-pretrained-sizes.json"
        file.write_text(json.dumps({"load_average": os.getloadavg()[0], "rows": rows}, indent=1) + "\n", encoding="utf-8")
        print(json.dumps(rows, indent=1))
    else:
        return False
    return True


def full_run(args: argparse.Namespace) -> None:
    """The comparison at --scale: pretraining, then the three arms over the seeds (see the module docstring)."""
    scale = SCALES[args.scale]
    if args.seeds:
        scale = replace(scale, seeds=args.seeds)
    scratch_seeds = scale.seeds if args.scratch_seeds is None else args.scratch_seeds
    work = args.work / scale.name
    t0 = time.time()
    encoder = work / "encoder"
    scratch_minutes = scale.pretrain_minutes + scale.finetune_minutes
    features = (args.lexicon, args.bigrams)
    jobs = [("scratch", s, scale, None, scratch_minutes, work / f"scratch-{s}", *features) for s in range(scratch_seeds)]
    import multiprocessing
    from concurrent.futures import as_completed
    result = {"scale": asdict(scale), "scratch_seeds": scratch_seeds, "reduced": scale.name != "full",
              "note": ("REDUCED SCALE: a few CPU minutes, a subset of MSRA, one seed; shows the path and the direction "
                       "of the difference, not the issue's targets" if scale.name != "full" else "the issue's scale"),
              "complete": False, "pretrain": None, "runs": [], "verdicts": {}}

    def write() -> None:  # after every finished piece: a cut run still leaves what it measured
        result.update(machine={"load_average": os.getloadavg()[0], "cpu_count": os.cpu_count()},
                      wall_s=time.time() - t0, verdicts=verdicts(result["runs"]))
        if args.bigrams:  # each arm against itself without bigrams, from the result file without them
            without = "gplinker-pretrained" + ("-lexicon" if args.lexicon else "") + ".json"
            result["bigrams_vs_none"] = against_plain(result["runs"], args.result.with_name(without), ("bigrams", "none"))
        elif args.lexicon:  # each arm against itself without the lexicon, from the plain result file
            result["lexicon_vs_none"] = against_plain(result["runs"], args.result.with_name("gplinker-pretrained.json"))
        args.result.parent.mkdir(parents=True, exist_ok=True)
        args.result.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    def done(r: dict) -> None:
        result["runs"].append(r)
        write()
        print(f"{r['arm']:10s} seed {r['seed']}: test F1 {r['test']['f1']:.4f} (P {r['test']['precision']:.4f}, "
              f"R {r['test']['recall']:.4f}) after {r['steps']} steps, {r['cpu_s'] / 60:.1f} CPU min", flush=True)

    with ProcessPoolExecutor(max(args.jobs, 1), mp_context=multiprocessing.get_context("spawn")) as pool:
        # the from-scratch arms need no encoder: they start beside the pretraining (after the others, when the
        # pretraining is reused)
        scratch = [] if args.encoder else [pool.submit(_job, j) for j in jobs]
        if args.encoder:
            encoder = args.encoder
            pre = result["pretrain"] = reused_pretraining(encoder)
        else:
            pre = result["pretrain"] = pool.submit(pretrain, scale, encoder).result()
        write()
        print(f"pretrained {pre['steps']} steps in {pre.get('cpu_s', pre.get('clock_s', 0)) / 60:.1f} min: MLM acc "
              f"{pre['mlm_acc']}", flush=True)
        tuned = []
        for s in range(scale.seeds):  # seed by seed, both arms: a run cut short still has paired seeds
            tuned.append(pool.submit(_job, ("pretrained", s, scale, encoder, scale.finetune_minutes,
                                            work / f"pretrained-{s}", *features)))
            tuned.append(pool.submit(_job, ("random", s, scale, random_like(encoder, work / f"random-encoder-{s}", s),
                                            scale.finetune_minutes, work / f"random-{s}", *features)))
        if args.encoder:
            scratch = [pool.submit(_job, j) for j in jobs]
        for f in as_completed(scratch + tuned):
            done(f.result())
    result["complete"] = True
    write()
    for k, v in result["verdicts"].items():
        print(f"{k}: {v['verdict']} ({v['why']})")
    print(f"wrote {args.result}")


if __name__ == "__main__":
    main()
