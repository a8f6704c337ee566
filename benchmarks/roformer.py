"""RoFormerV2 train-step throughput against its `bert` variant and transformers' BERT (kexue.fm/archives/8998).

    .venv/bin/python benchmarks/roformer.py                         # CPU: small, batch 4, n = 128, 512
    .venv/bin/python benchmarks/roformer.py --device cuda --size base --batch 32 --amp

One train step = forward + backward + AdamW update of a masked-LM cross-entropy on every token, random
ids, the same batch each step; tokens/s = batch·n / (best seconds per step after warm-up;
the best, not the median, because other load only ever adds time; on the CPU, process CPU time, with one
thread by default, so that waiting for a shared core is not counted). Columns:
- roformer_v2   kexue.roformer.RoFormerV2 (no bias, RMSNorm without γ, RoPE, ReLU, tied head)
- bert_variant  the same code with biases, LayerNorm γ/β, learned positions, GELU, head bias
- hf_bert       transformers' BertForMaskedLM of the same size (SDPA attention, its MLM transform head),
                the baseline a user would pick; the column is skipped when transformers is not installed
"× hf" is RoFormerV2 over hf_bert (the post: 1.3× at n = 128, 1.2× at n = 512 against RoBERTa on GPU).
"% peak" = model FLOPs per token (speed.train_flops_per_token: 6 per matmul weight + attention) ×
tokens/s over this machine's measured 4096² matmul FLOP/s (fp32, or bf16 with --amp).
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
from kexue.roformer.speed import (kexue_throughput, time_steps, train_flops_per_token,  # noqa: E402
                                  train_step_fn)
from kexue.timing import matmul_flops  # noqa: E402


def hf_bert_throughput(cfg, batch: int, n: int, device: str, amp: bool, warmup: int, steps: int) -> float | None:
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
    return batch * n / time_steps(step, dev, warmup, steps)


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
        v2 = kexue_throughput(cfg, args.batch, n, **kw)
        bert = kexue_throughput(bert_variant(cfg), args.batch, n, **kw)
        hf = hf_bert_throughput(cfg, args.batch, n, **kw)
        flops = train_flops_per_token(cfg, n)
        rows.append({"n": n, "roformer_v2": v2, "bert_variant": bert, "hf_bert": hf,
                     "v2_over_bert_variant": v2 / bert, "v2_over_hf": v2 / hf if hf else None,
                     "v2_peak_fraction": flops * v2 / peak, "hf_peak_fraction": flops * hf / peak if hf else None})
    print(f"{args.size}, batch {args.batch}, {args.device}{' bf16' if args.amp else ' fp32'}, "
          f"matmul peak {peak / 1e9:.1f} GFLOP/s")
    print(f"{'n':>5} {'roformer_v2':>12} {'bert_variant':>12} {'hf_bert':>10} {'× variant':>9} {'× hf':>6} "
          f"{'% peak v2':>9} {'% peak hf':>9}")
    for r in rows:
        hf = f"{r['hf_bert']:10.0f}" if r["hf_bert"] else f"{'—':>10}"
        xhf = f"{r['v2_over_hf']:6.2f}" if r["v2_over_hf"] else f"{'—':>6}"
        php = f"{100 * r['hf_peak_fraction']:8.1f}%" if r["hf_peak_fraction"] else f"{'—':>9}"
        print(f"{r['n']:>5} {r['roformer_v2']:12.0f} {r['bert_variant']:12.0f} {hf} {r['v2_over_bert_variant']:9.2f} "
              f"{xhf} {100 * r['v2_peak_fraction']:8.1f}% {php}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"size": args.size, "batch": args.batch, "device": args.device, "amp": args.amp,
                                    "threads": torch.get_num_threads(), "peak_flops": peak, "rows": rows,
                                    "machine": platform.platform(), "torch": torch.__version__}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
