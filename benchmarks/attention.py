"""Softmax attention against linear attention, measured on this machine (kexue.fm/archives/8610).

    .venv/bin/python benchmarks/attention.py            # n = 256, 1024, 4096, 16384
    .venv/bin/python benchmarks/attention.py --quick    # n = 256, 1024

The attention core alone, forward pass (inference mode), float32, batch 1, 12 heads of size d = 64
(BERT-base), causal and not, on one thread by default (--threads): on a machine whose cores are
shared, every multi-threaded op waits for a free core at its barrier, which adds a few ms per op
and buries the forms made of many small ops; one thread measures the algorithms. Forms:
- softmax-sdpa      torch's scaled_dot_product_attention (under kexue.nn.attention), is_causal when causal
- softmax-naive     softmax(QKᵀ/√d + M)V with the n×n matrix materialised (kexue.nn.attention.naive_attention)
- linear-<kind>     kexue.nn.linear_attention.linear_attention, chunked when causal (chunk 64); feature
                    size m = d (d + 1 for cos), m = 4d random features for performer (chunk 4d)
- linear-elu-4d     elu with q, k, v of size 4d, the key size 8610 says linear attention needs (chunk 4d:
                    a chunk near the key size keeps the [n/c, m, e] chunk states small)
- cumsum-elu        7546's plain causal form, materialising every prefix state S_i ([n, d, d] per head)

Columns: ms is the best and the median of the timed calls after one untimed call (≥ 3 of them up to
n = 4096; the cores may be shared, and other load only ever adds time, so the best is the cleaner
number and the median shows the spread). A target (SDPA ≥ 3× naive, chunked ≥ 5× cumsum) is "met" when
the ratio of the bests and the ratio of the medians both reach it, "not met" when both fall short, else
"within noise". Peak memory is measured on that
untimed call as the rise of the process's peak resident set (VmHWM, reset through
/proc/self/clear_refs) over its resident set just before the call; during it glibc is told to serve
every allocation of 64 KiB or more with a fresh mmap (mallopt M_MMAP_THRESHOLD), so memory freed
earlier cannot be reused unseen. It counts everything the call touches, kernel workspaces included,
and misses only allocations below 64 KiB. "largest" is the biggest tensor any aten op returned during
that call (a TorchDispatchMode), which shows whether an n×n matrix was ever built. FLOPs follow the
post's multiplication counts, 2 FLOPs each: softmax 2n²d per head, halved when causal (the post
counts only the full form; a causal kernel needs only the lower triangle), linear 2n·m·e (feature
size m, value size e; the same causal or not). "% peak" divides the reached FLOP/s by this machine's
best 4096² fp32 matmul (measured before and after the cells). A cell whose estimate exceeds 4 GiB
is skipped.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from kexue.nn.attention import causal_mask, naive_attention
from kexue.nn.linear_attention import causal_linear_attention_cumsum, linear_attention, performer_projection
from kexue.timing import against, matmul_flops

HEADS, D = 12, 64
SKIP_BYTES = 4 * 2**30
M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 256, 1024 only")
    parser.add_argument("--chunk", type=int, default=64, help="chunk size of the causal linear form")
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 0 = torch's default (all cores)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "attention.json")
    args = parser.parse_args()
    lengths = (256, 1024) if args.quick else (256, 1024, 4096, 16384)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    memory = PeakMemory()
    torch.manual_seed(0)
    peak_flops = matmul_flops(size=4096)
    with torch.inference_mode():
        # first calls pay one-time set-up (kernels, the dispatch mode's Python side); keep it out of the cells
        for causal in (False, True):
            for _, fn, _, _ in forms(64, causal, args.chunk):
                with LargestTensor():
                    fn()
    cells = []
    with torch.inference_mode():
        for n in lengths:
            for causal in (False, True):
                for name, fn, flops, estimate in forms(n, causal, args.chunk):
                    cell = {"n": n, "causal": causal, "form": name, "model_flops": flops}
                    if estimate > SKIP_BYTES:
                        cell["skipped"] = f"needs about {estimate / 2**30:.1f} GiB"
                    else:
                        cell.update(run_cell(fn, repeats(n), memory))
                    cells.append(cell)
                    print(f"  n={n:>5} {'causal' if causal else 'full  '} {name:<18} "
                          f"{cell.get('ms', float('nan')):9.1f} ms", flush=True)
    peak_flops = max(peak_flops, matmul_flops(size=4096))
    for cell in cells:
        if "ms" in cell:
            cell["percent_of_peak"] = 100 * cell["model_flops"] / (cell["ms"] / 1e3) / peak_flops
    add_ratios(cells)
    targets = check_targets(cells)
    print()
    print(markdown(cells, peak_flops))
    for line in targets:
        print(line)
    result = {"machine": {"platform": platform.platform(), "processor": platform.processor(),
                          "threads": torch.get_num_threads(), "torch": torch.__version__,
                          "matmul_flops": peak_flops, "load_average_1min": [load_before, os.getloadavg()[0]]},
              "config": {"batch": 1, "heads": HEADS, "head_size": D, "dtype": "float32", "chunk": args.chunk,
                         "chunk_4d": max(args.chunk, 4 * D),
                         "lengths": list(lengths), "memory_method": memory.method},
              "cells": cells, "targets": targets}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


def forms(n: int, causal: bool, chunk: int):
    """(name, call, model FLOPs, estimated peak bytes) for every form at length n."""
    q, k, v = (torch.randn(1, HEADS, n, D) for _ in range(3))
    q4, k4, v4 = (torch.randn(1, HEADS, n, 4 * D) for _ in range(3))
    omega = performer_projection(D, 4 * D)
    f32 = 4
    # the naive form's [n, n] mask, built only where that form runs
    mask = causal_mask(n) if causal and 3 * HEADS * n * n * f32 <= SKIP_BYTES else None
    softmax_flops = 2 * HEADS * 2 * n * n * D // (2 if causal else 1)

    def linear_flops(m: int, e: int) -> int:
        return 2 * HEADS * 2 * n * m * e

    yield ("softmax-sdpa", lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
           softmax_flops, 4 * HEADS * n * D * f32)
    yield ("softmax-naive", lambda: naive_attention(q, k, v, mask), softmax_flops, 3 * HEADS * n * n * f32)
    for kind, m in (("elu", D), ("efficient", D), ("cos", D + 1)):
        yield (f"linear-{kind}", lambda kind=kind: linear_attention(q, k, v, kind, causal, chunk),
               linear_flops(m, D), 8 * HEADS * n * m * f32)
    chunk_4d = max(chunk, 4 * D)
    yield ("linear-performer", lambda: linear_attention(q, k, v, "performer", causal, chunk_4d, projection=omega),
           linear_flops(4 * D, D), 8 * HEADS * n * 4 * D * f32)
    yield ("linear-elu-4d", lambda: linear_attention(q4, k4, v4, "elu", causal, chunk_4d),
           linear_flops(4 * D, 4 * D), 8 * HEADS * n * 4 * D * f32)
    if causal:
        yield ("cumsum-elu", lambda: causal_linear_attention_cumsum(q, k, v, "elu"),
               linear_flops(D, D), 2 * HEADS * n * D * D * f32)


def repeats(n: int) -> int:
    return 20 if n <= 256 else 10 if n <= 1024 else 3 if n <= 4096 else 1


def run_cell(fn, repeats: int, memory: PeakMemory) -> dict:
    with LargestTensor() as largest:
        rise = memory.measure(fn)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"ms": 1e3 * times[0], "median_ms": 1e3 * times[len(times) // 2], "repeats": repeats,
            "peak_mib": None if rise is None else rise / 2**20, "largest_mib": largest.bytes / 2**20}


class PeakMemory:
    """Rise of peak RSS during a call (Linux: VmHWM reset via /proc/self/clear_refs); None elsewhere."""

    def __init__(self):
        self.libc = None
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.libc = ctypes.CDLL(ctypes.util.find_library("c"))
            self.method = "VmHWM rise over VmRSS, glibc mmap threshold 64 KiB during the call"
        except OSError:
            self.method = "unavailable (needs Linux /proc/self/clear_refs)"

    def measure(self, fn) -> int | None:
        if self.libc is None:
            fn()
            return None
        gc.collect()
        self.libc.malloc_trim(0)
        self.libc.mallopt(M_MMAP_THRESHOLD, 64 * 1024)
        Path("/proc/self/clear_refs").write_text("5")
        before = _status_kib("VmRSS")
        fn()
        peak = _status_kib("VmHWM")
        # glibc's largest dynamic threshold, so the timed calls reuse memory as they normally would
        self.libc.mallopt(M_MMAP_THRESHOLD, 32 * 2**20)
        return 1024 * max(0, peak - before)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


class LargestTensor(TorchDispatchMode):
    """Records the largest storage any aten op returns while active."""

    def __init__(self):
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.bytes = max(self.bytes, t.untyped_storage().nbytes())
        return out


def add_ratios(cells: list[dict]) -> None:
    """Per (n, causal): each form's speed relative to SDPA (t_sdpa / t_form)."""
    for cell in cells:
        sdpa = _find(cells, cell["n"], cell["causal"], "softmax-sdpa")
        if "ms" in cell and sdpa and "ms" in sdpa:
            cell["speed_vs_sdpa"] = sdpa["ms"] / cell["ms"]


def check_targets(cells: list[dict]) -> list[str]:
    lines = []
    for n in sorted({c["n"] for c in cells}):
        chunked, cumsum = _find(cells, n, True, "linear-elu"), _find(cells, n, True, "cumsum-elu")
        if chunked and cumsum and "ms" in cumsum:
            best, med = cumsum["ms"] / chunked["ms"], cumsum["median_ms"] / chunked["median_ms"]
            lines.append(f"n={n}: causal chunked elu is {best:.1f}x (median {med:.1f}x) its cumsum form, target "
                         f">= 5x: {against(5.0, best, med)}; largest tensor {chunked['largest_mib']:.1f} MiB vs "
                         f"{HEADS * n * n * 4 / 2**20:.0f} MiB for one n x n score matrix over {HEADS} heads")
        for causal in (False, True):
            sdpa, naive = _find(cells, n, causal, "softmax-sdpa"), _find(cells, n, causal, "softmax-naive")
            if sdpa and naive and "ms" in naive:
                best, med = naive["ms"] / sdpa["ms"], naive["median_ms"] / sdpa["median_ms"]
                lines.append(f"n={n} {'causal' if causal else 'full'}: SDPA is {best:.1f}x (median {med:.1f}x) "
                             f"the naive form, target >= 3x: {against(3.0, best, med)}")
    return lines


def markdown(cells: list[dict], peak_flops: float) -> str:
    rows = ["| n | causal | form | ms best / median | peak MiB | largest MiB | GFLOP | % peak | speed vs SDPA |",
            "|---:|:---:|:---|---:|---:|---:|---:|---:|---:|"]
    for c in cells:
        head = f"| {c['n']} | {'yes' if c['causal'] else 'no'} | {c['form']} |"
        if "skipped" in c:
            rows.append(f"{head} skipped: {c['skipped']} | | | {c['model_flops'] / 1e9:.2f} | | |")
            continue
        peak = "n/a" if c["peak_mib"] is None else f"{c['peak_mib']:.1f}"
        rows.append(f"{head} {c['ms']:.1f} / {c['median_ms']:.1f} | {peak} | {c['largest_mib']:.1f} | {c['model_flops'] / 1e9:.2f} | "
                    f"{c['percent_of_peak']:.1f} | {c.get('speed_vs_sdpa', float('nan')):.2f} |")
    rows.append(f"\nmatmul peak {peak_flops / 1e9:.1f} GFLOP/s on {torch.get_num_threads()} thread(s); "
                f"batch 1, {HEADS} heads, head size {D}, float32")
    return "\n".join(rows)


def _find(cells: list[dict], n: int, causal: bool, form: str) -> dict | None:
    return next((c for c in cells if c["n"] == n and c["causal"] == causal and c["form"] == form), None)


if __name__ == "__main__":
    main()
