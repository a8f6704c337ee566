"""The three architectures of post 9529 and the KV cache, measured on this machine (kexue.fm/archives/9529).

    .venv/bin/python benchmarks/decoder_only.py            # hidden 128, 4 layers, 256 generated tokens
    .venv/bin/python benchmarks/decoder_only.py --quick    # hidden 64, 2 layers

1. Training step (forward + backward + AdamW) of decoder-only, prefix-LM and the encoder-decoder with
   its width matched to decoder-only's parameters, on the same batch shape (32 sentences of 20 input
   tokens → 20 output tokens, the pinyin task's sizes); tokens/s counts input and output tokens.
   Each side does the same work per token up to the architecture (same depth, same output-only loss);
   the FLOP/s column divides kexue's closed-form training FLOPs by the time, beside this machine's
   1024² matmul rate.
2. Greedy generation of 256 tokens after a 32-token input, batch 1 and 8, decoder-only: with the KV
   cache (the prefix once, then one lean step a token on buffers allocated once: cache.py) vs
   without (the whole sequence every step, the uncached forward the cache must equal). EOS never
   stops it (eos_id = −1). Besides wall time, the process's CPU time of each (one thread), which
   waiting for a shared core does not inflate.
Times: `repeats` timed calls after one untimed (wall and CPU time of the same calls); min and median
reported (the cores may be shared: other load only adds time, so the min is the better estimate; the
median shows the spread). The training steps of the three run round-robin, one of each per round, so
that a burst of load on shared cores falls on all three alike.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from kexue.decoder_only.model import (ModelConfig, Seq2SeqModel, match_width, output_loss,
                                      training_flops)
from kexue.decoder_only.tasks import SEP, collate
from kexue.nn.params import count_parameters
from kexue.timing import matmul_flops

VOCAB, N_OUTPUT = 2000, 400


def times(fn, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and process CPU seconds of `repeats` calls, after one untimed."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def train_rows(base: ModelConfig, repeats: int, batch: int = 32, n_src: int = 20, n_tgt: int = 20) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    rows_data = [(torch.randint(N_OUTPUT, VOCAB, (n_src,), generator=g).tolist(),
                  torch.randint(4, N_OUTPUT, (n_tgt,), generator=g).tolist()) for _ in range(batch)]
    configs = {"decoder": replace(base, arch="decoder"), "prefix": replace(base, arch="prefix"),
               "encdec@params": match_width(base, "encdec", VOCAB, "params", n_src, n_tgt, N_OUTPUT)}
    steps, models = {}, {}
    for name, cfg in configs.items():
        torch.manual_seed(0)
        model = models[name] = Seq2SeqModel(cfg, VOCAB, N_OUTPUT)
        opt = torch.optim.AdamW(model.parameters(), 1e-3)
        data = collate(cfg.arch)(rows_data)

        def step(model=model, opt=opt, data=data):
            loss = output_loss(model, data)[0]
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        steps[name] = step
        step()  # untimed: allocations, AdamW's state
    # round-robin: one timed step of each architecture per round, so that load on shared cores falls on all
    ts: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(repeats):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            ts[name].append(time.perf_counter() - t0)
    rows = []
    for name, cfg in configs.items():
        tokens = batch * (n_src + n_tgt + 1)
        flops = batch * training_flops(cfg, N_OUTPUT, n_src, n_tgt)
        rows.append({"arch": name, "hidden": cfg.hidden, "params": count_parameters(models[name]),
                     "ms_min": 1e3 * min(ts[name]), "ms_median": 1e3 * statistics.median(ts[name]),
                     "tokens_per_s": tokens / min(ts[name]), "gflops_per_s": flops / min(ts[name]) / 1e9})
    for r in rows:
        r["speed_vs_decoder"] = r["tokens_per_s"] / rows[0]["tokens_per_s"]
    return rows


def generation_rows(base: ModelConfig, repeats: int, new: int = 256, n_src: int = 32) -> list[dict]:
    torch.manual_seed(0)
    model = Seq2SeqModel(replace(base, arch="decoder"), VOCAB, N_OUTPUT).eval()
    rows = []
    for batch in (1, 8):
        src = torch.randint(N_OUTPUT, VOCAB, (batch, n_src))
        same = torch.equal(model.generate(src, 8, SEP, -1, cache=True), model.generate(src, 8, SEP, -1, cache=False))
        row = {"batch": batch, "new_tokens": new, "input": n_src, "cache_equals_uncached_8_tokens": same}
        for cache in (True, False):
            ts, cpu = times(lambda: model.generate(src, new, SEP, -1, cache=cache), repeats)
            key = "cache" if cache else "no_cache"
            row[f"{key}_s_min"], row[f"{key}_s_median"] = min(ts), statistics.median(ts)
            row[f"{key}_tokens_per_s"] = batch * new / min(ts)
            # this process's CPU time (one thread): what waiting for a shared core does not inflate
            row[f"{key}_cpu_s_min"] = min(cpu)
        row["cache_speedup_min"] = row["no_cache_s_min"] / row["cache_s_min"]
        row["cache_speedup_median"] = row["no_cache_s_median"] / row["cache_s_median"]
        row["cache_speedup_cpu"] = row["no_cache_cpu_s_min"] / row["cache_cpu_s_min"]
        rows.append(row)
    return rows


def markdown(result: dict) -> str:
    matmul = result["machine"]["matmul_gflops"]
    lines = [f"training step, batch 32 × (20 → 20), {result['model']}; matmul {matmul:.0f} GFLOP/s", "",
             "| arch | hidden | params | ms min | ms median | tokens/s | × decoder | GFLOP/s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["train"]:
        lines.append(f"| {r['arch']} | {r['hidden']} | {r['params']:,} | {r['ms_min']:.1f} | {r['ms_median']:.1f} | "
                     f"{r['tokens_per_s']:,.0f} | {r['speed_vs_decoder']:.2f} | {r['gflops_per_s']:.1f} |")
    lines += ["", "greedy generation, decoder-only, 32-token input", "",
              "| batch | new tokens | cache s (min / median) | no cache s (min / median) | cache tokens/s | "
              "no cache tokens/s | × (min / median) | × (CPU time) |", "|---|---|---|---|---|---|---|---|"]
    for r in result["generation"]:
        lines.append(f"| {r['batch']} | {r['new_tokens']} | {r['cache_s_min']:.2f} / {r['cache_s_median']:.2f} | "
                     f"{r['no_cache_s_min']:.2f} / {r['no_cache_s_median']:.2f} | {r['cache_tokens_per_s']:,.0f} | "
                     f"{r['no_cache_tokens_per_s']:,.0f} | {r['cache_speedup_min']:.1f} / "
                     f"{r['cache_speedup_median']:.1f} | {r['cache_speedup_cpu']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="hidden 64, 2 layers")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "decoder_only.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = ModelConfig(hidden=64, layers=2, heads=4) if args.quick else ModelConfig(hidden=128, layers=4, heads=4)
    t0 = time.perf_counter()
    result = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                          "torch": torch.__version__, "matmul_gflops": matmul_flops() / 1e9},
              "model": f"{base.layers} layers × {base.hidden}, {base.heads} heads, vocab {VOCAB} ({N_OUTPUT} output)",
              "repeats": args.repeats,
              "train": train_rows(base, args.repeats), "generation": generation_rows(base, args.repeats)}
    result["seconds"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    print(f"\nwrote {args.out} ({result['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
