"""The LRU's scans against the plain loop, measured on this machine (kexue.fm/archives/9554).

    .venv/bin/python benchmarks/lru.py            # L = 1k, 4k, 16k; batch 1 and 8
    .venv/bin/python benchmarks/lru.py --quick    # L = 1k, 4k; batch 1

The scan x_t = λ ⊙ x_{t−1} + b_t alone, complex64, width N = 256 (constant λ, |λ| ≤ 0.999), forward
(inference mode) and forward + backward (x's upstream gradient is one fixed random tensor, handed to
autograd.grad: what the scan does, not what building a loss's gradient costs), for each method:
- sequential    the reference loop over b.unbind(time), autograd through every step (the baseline)
- parallel      odd/even log-depth scan, no graph, hand-written backward (a reversed scan)
- chunked       √L chunks stepped together, a scan over the chunk ends, one fix-up; same backward
- odd_even      the odd/even scan with autograd through its ops
- upper_lower   Su's Upper/Lower scheme of bojone/rnn, autograd through its ops
The two autograd forms run only where batch · L ≤ 8192 (and upper_lower L ≤ 4096): their graphs keep
about log L copies of the sequence.
Columns: ms is the best and the median of `repeats` timed calls after one untimed call (the cores may be
shared: other load only adds time, so the best is the cleaner number and the median shows the spread);
× is the loop's time over the method's, from the best and from the medians; "vs 2×" says whether the
speed-up is "met" (both ratios above the post's "much faster", read as 2×), "not met" (both below) or
"within noise" (the two ratios straddle it); GB/s counts the bytes
a scan must move at least (read b, write x; and read g, x, write ∂b backwards) over the time, beside
this machine's memcpy rate (a copy into an existing buffer). "saved MB" is what autograd keeps for
the backward (a saved_tensors_hooks count). Fresh buffers of more than 32 MiB come from mmap, so
every one costs its page faults: at batch 8 and L ≥ 4096 that, not arithmetic, sets the time.
--keep-heap tells glibc (mallopt) to serve and keep every buffer in the heap, so that freed memory is
reused as a caching allocator would; it shows what the scans cost once the page faults are gone.
Then, like for like: one LRU layer (H = N = 256, 4H² + O(H) parameters) against one causal softmax
attention layer of the same size (kexue.nn.attention.MultiHeadAttention's Q, K, V, O projections, 4
heads, with the attention core on SDPA's causal path, `is_causal=True`, which never builds a mask),
forward and forward + backward, best and median ms and tokens/s by L; and `LRU.step` streaming, tokens/s.
Threads: 1 by default (--threads).
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import platform
import time
from pathlib import Path

import torch

import torch.nn.functional as F

from kexue.nn.attention import MultiHeadAttention
from kexue.nn.lru import LRU
from kexue.nn.scan import linear_scan
from kexue.timing import against, best_seconds

WIDTH = 256
FAST = ("parallel", "chunked")
AUTOGRAD = ("odd_even", "upper_lower")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="L = 1k, 4k and batch 1 only")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", default="", help="comma-separated batch sizes (default 1, and 8 unless --quick)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep-heap", action="store_true", help="reuse freed memory (no mmap per buffer)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "lru.json")
    args = parser.parse_args()
    if args.keep_heap:
        keep_heap()
    torch.set_num_threads(args.threads)
    lengths = (1024, 4096) if args.quick else (1024, 4096, 16384)
    batches = tuple(int(b) for b in args.batches.split(",")) if args.batches else (1,) if args.quick else (1, 8)
    t0 = time.perf_counter()
    memcpy = memcpy_gbps()
    scans = [scan_row(b, n, m, args.repeats) for b in batches for n in lengths
             for m in ("sequential",) + FAST + AUTOGRAD if not (m == "upper_lower" and n > 4096)
             and not (m in AUTOGRAD and b * n > 8192)]
    for row in scans:
        base = next(r for r in scans if r["batch"] == row["batch"] and r["L"] == row["L"]
                    and r["method"] == "sequential")
        for mode in ("fwd", "fwd_bwd"):
            row[f"speedup_{mode}"] = base[f"{mode}_ms"] / row[f"{mode}_ms"]
            row[f"speedup_{mode}_median"] = base[f"{mode}_median_ms"] / row[f"{mode}_median_ms"]
            row[f"vs_2x_{mode}"] = (against(2.0, row[f"speedup_{mode}"], row[f"speedup_{mode}_median"])
                                    if row["method"] != "sequential" else "—")  # the baseline itself
    blocks = [block_row(n, args.repeats) for n in lengths if n <= 4096]  # attention's n² beyond that
    stream = [stream_row(b) for b in batches]
    result = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                          "memcpy_gbps": memcpy, "torch": torch.__version__, "keep_heap": args.keep_heap},
              "scans": scans, "blocks": blocks, "streaming": stream, "seconds": time.perf_counter() - t0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    print(f"\nwrote {args.out} ({result['seconds']:.0f} s)")


def keep_heap() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    # M_MMAP_THRESHOLD (−3) and M_TRIM_THRESHOLD (−1) to 1 GiB: big buffers come from, and stay in, the heap
    if not (libc.mallopt(-3, 1 << 30) and libc.mallopt(-1, 1 << 30)):
        raise SystemExit("--keep-heap: mallopt failed (not glibc?)")


def best_ms(fn, repeats: int) -> float:
    return 1e3 * best_seconds(fn, repeats)


def timed_ms(fn, repeats: int) -> tuple[float, float]:
    """(best, median) ms of `repeats` calls after one untimed call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t))
    times.sort()
    return times[0], times[len(times) // 2]


def memcpy_gbps() -> float:
    src = torch.randn(32 * 2**20 // 4)
    dst = torch.empty_like(src)
    ms = best_ms(lambda: dst.copy_(src), 5)
    return 2 * src.numel() * 4 / (ms * 1e-3) / 1e9


def scan_row(batch: int, length: int, method: str, repeats: int) -> dict:
    g = torch.Generator().manual_seed(0)
    lam = torch.polar(0.999 * torch.rand(WIDTH, generator=g) ** 0.5, 6.28 * torch.rand(WIDTH, generator=g))
    lam.requires_grad_()
    b = torch.randn(batch, length, WIDTH, dtype=torch.complex64, generator=g, requires_grad=True)

    def forward():
        with torch.inference_mode():
            linear_scan(lam, b, method=method)

    upstream = torch.randn(b.shape, dtype=b.dtype, generator=g)

    def forward_backward():
        x = linear_scan(lam, b, method=method)
        torch.autograd.grad(x, (lam, b), upstream)

    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        linear_scan(lam, b, method=method)
    (fwd, fwd_med), (fwd_bwd, fwd_bwd_med) = timed_ms(forward, repeats), timed_ms(forward_backward, repeats)
    size = b.numel() * b.element_size()
    return {"batch": batch, "L": length, "method": method, "fwd_ms": fwd, "fwd_bwd_ms": fwd_bwd,
            "fwd_median_ms": fwd_med, "fwd_bwd_median_ms": fwd_bwd_med,
            "fwd_gbps": 2 * size / (fwd * 1e-3) / 1e9, "fwd_bwd_gbps": 5 * size / (fwd_bwd * 1e-3) / 1e9,
            "saved_mb": saved[0] / 2**20}


class CausalAttention(torch.nn.Module):
    """MultiHeadAttention's projections with the core on SDPA's causal path (is_causal=True, no mask)."""

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.mha = MultiHeadAttention(hidden, heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, (b, n, _) = self.mha, x.shape
        q, k, v = (p(x).view(b, n, m.heads, m.head_size).transpose(1, 2) for p in (m.q, m.k, m.v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return m.o(out.transpose(1, 2).reshape(b, n, m.heads * m.head_size))


def block_row(length: int, repeats: int) -> dict:
    torch.manual_seed(0)
    layers = {"lru": LRU(WIDTH, WIDTH, r_min=0.9, r_max=0.999), "attention": CausalAttention(WIDTH, 4)}
    x = torch.randn(1, length, WIDTH)
    row = {"L": length}
    for name, layer in layers.items():
        row[f"{name}_params"] = sum(p.numel() for p in layer.parameters())

        def forward(layer=layer):
            with torch.inference_mode():
                layer(x)

        def forward_backward(layer=layer):
            xg = x.detach().requires_grad_()
            layer(xg).sum().backward()

        row[f"{name}_ms"], row[f"{name}_median_ms"] = timed_ms(forward, repeats)
        row[f"{name}_fwd_bwd_ms"], row[f"{name}_fwd_bwd_median_ms"] = timed_ms(forward_backward, repeats)
        row[f"{name}_tokens_per_s"] = length / row[f"{name}_ms"] * 1e3
    row["attention_over_lru"] = row["attention_ms"] / row["lru_ms"]
    row["attention_over_lru_median"] = row["attention_median_ms"] / row["lru_median_ms"]
    row["attention_over_lru_fwd_bwd"] = row["attention_fwd_bwd_ms"] / row["lru_fwd_bwd_ms"]
    row["attention_over_lru_fwd_bwd_median"] = row["attention_fwd_bwd_median_ms"] / row["lru_fwd_bwd_median_ms"]
    row["lru_faster_fwd"] = against(1.0, row["attention_over_lru"], row["attention_over_lru_median"])
    row["lru_faster_fwd_bwd"] = against(1.0, row["attention_over_lru_fwd_bwd"], row["attention_over_lru_fwd_bwd_median"])
    return row


def stream_row(batch: int, tokens: int = 2000) -> dict:
    torch.manual_seed(0)
    lru = LRU(WIDTH, WIDTH, r_min=0.9, r_max=0.999)
    u = torch.randn(tokens, batch, WIDTH)

    def run():
        state = None
        for u_t in u:
            _, state = lru.step(u_t, state)

    with torch.inference_mode():
        ms = best_ms(run, 1)
    return {"batch": batch, "tokens_per_s": tokens * batch / ms * 1e3, "us_per_step": 1e3 * ms / tokens}


def markdown(r: dict) -> str:
    m = r["machine"]
    heap = ", --keep-heap" if m.get("keep_heap") else ""
    lines = [f"Scans, complex64, N = {WIDTH}, {m['threads']} thread(s), memcpy {m['memcpy_gbps']:.1f} GB/s{heap}; "
             "ms best / median", "",
             "| batch | L | method | fwd ms | × loop (best / median) | vs 2× | fwd+bwd ms | × loop (best / median) "
             "| vs 2× | saved MB |", "|---:|---:|---|---:|---:|---|---:|---:|---|---:|"]
    for s in r["scans"]:
        lines.append(f"| {s['batch']} | {s['L']} | {s['method']} | {s['fwd_ms']:.1f} / {s['fwd_median_ms']:.1f} | "
                     f"{s['speedup_fwd']:.1f} / {s['speedup_fwd_median']:.1f} | {s['vs_2x_fwd']} | "
                     f"{s['fwd_bwd_ms']:.1f} / {s['fwd_bwd_median_ms']:.1f} | {s['speedup_fwd_bwd']:.1f} / "
                     f"{s['speedup_fwd_bwd_median']:.1f} | {s['vs_2x_fwd_bwd']} | {s['saved_mb']:.0f} |")
    lines += ["", f"LRU layer vs causal softmax attention layer (SDPA is_causal), H = {WIDTH}, batch 1; ms best / median",
              "", "| L | LRU fwd | attention fwd | attn / LRU | LRU faster? | LRU fwd+bwd | attention fwd+bwd | "
              "attn / LRU | LRU faster? |", "|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    for b in r["blocks"]:
        lines.append(f"| {b['L']} | {b['lru_ms']:.1f} / {b['lru_median_ms']:.1f} | {b['attention_ms']:.1f} / "
                     f"{b['attention_median_ms']:.1f} | {b['attention_over_lru']:.2f} / {b['attention_over_lru_median']:.2f} "
                     f"| {b['lru_faster_fwd']} | {b['lru_fwd_bwd_ms']:.1f} / {b['lru_fwd_bwd_median_ms']:.1f} | "
                     f"{b['attention_fwd_bwd_ms']:.1f} / {b['attention_fwd_bwd_median_ms']:.1f} | "
                     f"{b['attention_over_lru_fwd_bwd']:.2f} / {b['attention_over_lru_fwd_bwd_median']:.2f} | "
                     f"{b['lru_faster_fwd_bwd']} |")
    lines += ["", "| streaming `LRU.step` batch | tokens/s | µs/step |", "|---:|---:|---:|"]
    for s in r["streaming"]:
        lines.append(f"| {s['batch']} | {s['tokens_per_s']:,.0f} | {s['us_per_step']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
