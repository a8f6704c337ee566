"""RoFormerV2 train-step throughput against its `bert` variant and transformers' BERT (kexue.fm/archives/8998).

    .venv/bin/python benchmarks/roformer.py                         # CPU: small, batch 4, n = 128, 512
    .venv/bin/python benchmarks/roformer.py --device cuda --size base --batch 32 --amp

One train step = forward + backward + AdamW update of a masked-LM cross-entropy on every token, random
ids, the same batch each step, `--steps` timed steps after `--warmup` (on the CPU, process CPU time, with
one thread by default, so that waiting for a shared core is not counted). tokens/s = batch·n / seconds
per step, reported from the best step and from the median step. Columns:
- roformer_v2   kexue.roformer.RoFormerV2 (no bias, RMSNorm without γ, RoPE, ReLU, tied head)
- bert_variant  the same code with biases, LayerNorm γ/β, learned positions, GELU, head bias: the
                post's comparison (only the simplification differs), "× variant"
- hf_bert       transformers' BertForMaskedLM of the same size (SDPA attention, its MLM transform head),
                the baseline a user would pick instead, "× hf"; skipped when transformers is not installed
The post's targets are 1.3× at n = 128 and 1.2× at n = 512 (against RoBERTa, GPU). Against each target
a ratio is "met" when the best-step and the median-step ratios both reach it, "not met" when both fall
short, and "within noise" when they straddle it.
"% peak" = model FLOPs per token (speed.train_flops_per_token: 6 per matmul weight + attention) ×
tokens/s (best) over this machine's measured 4096² matmul FLOP/s (fp32, or bf16 with --amp).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kexue.roformer.config import bert_variant, preset  # noqa: E402
from kexue.roformer.speed import each_step_seconds, step_times, train_flops_per_token, train_step_fn  # noqa: E402
from kexue.timing import against, matmul_flops  # noqa: E402


TARGETS = {128: 1.3, 512: 1.2}  # the post's speed-ups (GPU)


def hf_bert_times(cfg, batch: int, n: int, device: str, amp: bool, warmup: int, steps: int) -> list[float] | None:
    """Seconds per train step of transformers' BertForMaskedLM of the same size; None without transformers."""
    try:
        from transformers import BertConfig, BertForMaskedLM
    except ImportError:
        return None
    dev = torch.device(device)
    torch.manual_seed(0)
    hf_cfg = BertConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
                        num_attention_heads=cfg.num_heads, intermediate_size=cfg.intermediate_size,
                        max_position_embeddings=max(512, n), attn_implementation="sdpa")
    model = BertForMaskedLM(hf_cfg).to(dev).train()
    ids = torch.randint(5, cfg.vocab_size, (batch, n), device=dev)
    step = train_step_fn(model, ids, lambda m, x: m(input_ids=x).logits, amp)
    return each_step_seconds(step, dev, warmup, steps)


def summary(times: list[float] | None, tokens: int) -> dict | None:
    if not times:
        return None
    med = sorted(times)[len(times) // 2]
    return {"best_tokens_per_s": tokens / min(times), "median_tokens_per_s": tokens / med,
            "best_s": min(times), "median_s": med, "seconds": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="small", help="small, base or large")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lengths", default="128,512")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast")
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 0 = torch's default")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "roformer.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = preset(args.size)
    dtype = torch.bfloat16 if args.amp else torch.float32
    peak = matmul_flops(args.device, 4096 if args.device != "cpu" else 1024, dtype, repeats=5, clock="process")
    rows = []
    for n in (int(x) for x in args.lengths.split(",")):
        kw = dict(device=args.device, amp=args.amp, warmup=args.warmup, steps=args.steps)
        tokens = args.batch * n
        v2 = summary(step_times(cfg, args.batch, n, **kw), tokens)
        bert = summary(step_times(bert_variant(cfg), args.batch, n, **kw), tokens)
        hf = summary(hf_bert_times(cfg, args.batch, n, **kw), tokens)
        flops = train_flops_per_token(cfg, n)
        row = {"n": n, "roformer_v2": v2, "bert_variant": bert, "hf_bert": hf, "target": TARGETS.get(n),
               "v2_peak_fraction": flops * v2["best_tokens_per_s"] / peak,
               "hf_peak_fraction": flops * hf["best_tokens_per_s"] / peak if hf else None}
        for name, base in (("variant", bert), ("hf", hf)):
            if base is None:
                row[f"x_{name}"] = None
                continue
            ratio = {"best": base["best_s"] / v2["best_s"], "median": base["median_s"] / v2["median_s"]}
            row[f"x_{name}"] = {**ratio, "vs_target": against(TARGETS[n], ratio["best"], ratio["median"])
                                if n in TARGETS else None}
        rows.append(row)
    print(f"{args.size}, batch {args.batch}, {args.device}{' bf16' if args.amp else ' fp32'}, "
          f"matmul peak {peak / 1e9:.1f} GFLOP/s, {args.steps} timed steps (tokens/s best / median)")
    print(f"{'n':>5} {'roformer_v2':>16} {'bert_variant':>16} {'hf_bert':>16} {'× variant':>12} {'vs post':>12} "
          f"{'× hf':>12} {'vs post':>12} {'% peak v2':>9}")
    fmt = lambda d: f"{d['best_tokens_per_s']:7.0f}/{d['median_tokens_per_s']:<7.0f}" if d else "—"
    rat = lambda d: f"{d['best']:.2f}/{d['median']:.2f}" if d else "—"
    for r in rows:
        print(f"{r['n']:>5} {fmt(r['roformer_v2']):>16} {fmt(r['bert_variant']):>16} {fmt(r['hf_bert']):>16} "
              f"{rat(r['x_variant']):>12} {str((r['x_variant'] or {}).get('vs_target')):>12} {rat(r['x_hf']):>12} "
              f"{str((r['x_hf'] or {}).get('vs_target')):>12} {100 * r['v2_peak_fraction']:8.1f}%")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"size": args.size, "batch": args.batch, "device": args.device, "amp": args.amp,
                                    "threads": torch.get_num_threads(), "peak_flops": peak, "rows": rows,
                                    "machine": platform.platform(), "torch": torch.__version__}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
