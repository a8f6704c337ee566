"""GPLinker heads and losses measured on this machine (kexue.fm/archives/8888, 8877, 8926).

    .venv/bin/python benchmarks/gplinker.py            # b = 16, n = 128, D = 768, 50 heads
    .venv/bin/python benchmarks/gplinker.py --quick    # b = 4, n = 64, D = 256, 20 heads

One training step of the heads and loss on a fixed encoder output h [b, n, D] (forward + backward,
gradients into h too, so the encoder's share of the backward is included), float32, one thread by
default (shared cores add barrier waits that bury small ops). Rows:
- kexue EGP + sparse       kexue.nn.EfficientGlobalPointer + the sparse multilabel CE (the posts' code)
- kexue GP + sparse        kexue.nn.GlobalPointer + the sparse CE
- kexue GP + dense         the same with the dense CE (post 8888: sparse trains 1.5× faster)
- bert4torch GP + dense    bert4torch's GlobalPointer + its MultilabelCategoricalCrossentropy, as its
                           NER example wires them (the peer a PyTorch user picks)
- bert4torch EGP + sparse  bert4torch's EfficientGlobalPointer + its SparseMultilabelCategoricalCrossentropy
ms is the best of `repeats` timed steps after one untimed step. "× vs bert4torch GP" divides the
bert4torch GP + dense time by the row's. Decoding: events/s of kexue.gplinker.events.decode_events
on oracle logits of generated sentences (n = the sentence length, argument heads of the fixture schema).
Writes benchmarks/results/gplinker.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from kexue.nn.global_pointer import EfficientGlobalPointer, GlobalPointer
from kexue.nn.losses import global_pointer_crossentropy
from kexue.timing import best_seconds


def heads_table(b: int, n: int, hidden: int, heads: int, repeats: int) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    h = torch.randn(b, n, hidden, generator=g, requires_grad=True)
    mask = torch.ones(b, n, dtype=torch.long)
    pairs = torch.randint(1, n, (b, heads, 4, 2), generator=g).sort(-1).values
    dense = torch.zeros(b, heads, n * n)
    dense.scatter_(-1, pairs[..., 0] * n + pairs[..., 1], 1.0)
    dense = dense.view(b, heads, n, n)
    rows = []

    def run(name, layer, loss):
        def step():
            h.grad = None
            layer.zero_grad(set_to_none=True)
            loss(layer(h, mask)).backward()
        rows.append({"form": name, "ms": 1e3 * best_seconds(step, repeats), "head_params": sum(p.numel() for p in layer.parameters())})

    run("kexue EGP + sparse", EfficientGlobalPointer(hidden, heads, 64), lambda s: global_pointer_crossentropy(s, pairs))
    run("kexue GP + sparse", GlobalPointer(hidden, heads, 64), lambda s: global_pointer_crossentropy(s, pairs))
    run("kexue GP + dense", GlobalPointer(hidden, heads, 64),
        lambda s: global_pointer_crossentropy(s, dense, sparse=False))
    try:
        from bert4torch import layers, losses
    except ImportError:
        return rows
    mcc, smcc = losses.MultilabelCategoricalCrossentropy(), losses.SparseMultilabelCategoricalCrossentropy(mask_zero=True)
    run("bert4torch GP + dense", layers.GlobalPointer(hidden, heads, 64),
        lambda s: mcc(s.reshape(b * heads, -1), dense.reshape(b * heads, -1)))
    flat = (pairs[..., 0] * n + pairs[..., 1])
    run("bert4torch EGP + sparse", layers.EfficientGlobalPointer(hidden, heads, 64),
        lambda s: smcc(s.reshape(b, heads, -1), flat).sum(1).mean())
    ref = next(r["ms"] for r in rows if r["form"] == "bert4torch GP + dense")
    for r in rows:
        r["speedup_vs_bert4torch_gp"] = ref / r["ms"]
    return rows


def decoding_rate(sentences: int) -> dict:
    from kexue.gplinker import fixture
    from kexue.gplinker.data import EventSchema
    from kexue.gplinker.events import decode_events, encode_events, oracle_logits
    from kexue.gplinker.generate import generate_events
    schema = EventSchema.read(fixture("duee_event_schema.json"))
    labels = schema.labels()
    samples = generate_events(sentences, seed=3)
    prepared = []
    for s in samples:
        offsets = [(0, 0)] + [(i, i + 1) for i in range(len(s.text))] + [(0, 0)]
        prepared.append((oracle_logits(encode_events(s, labels, offsets), len(offsets)), s.text, offsets))
    t = time.perf_counter()
    for logits, text, offsets in prepared:
        decode_events(*logits, text, offsets, labels)
    return {"sentences": sentences, "sentences_per_s": sentences / (time.perf_counter() - t)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "gplinker.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shape = (4, 64, 256, 20) if args.quick else (16, 128, 768, 50)
    rows = heads_table(*shape, repeats=args.repeats)
    dec = decoding_rate(50 if args.quick else 500)
    print(f"train step of heads + loss, b, n, D, heads = {shape}, {args.threads} thread(s)")
    print(f"{'form':26} {'ms':>9} {'head params':>12} {'× vs bert4torch GP':>20}")
    for r in rows:
        print(f"{r['form']:26} {r['ms']:9.1f} {r['head_params']:12,} {r.get('speedup_vs_bert4torch_gp', float('nan')):20.2f}")
    by = {r["form"]: r["ms"] for r in rows}
    print(f"sparse vs dense loss (kexue GP): {by['kexue GP + dense'] / by['kexue GP + sparse']:.2f}× (post 8888: 1.5×)")
    print(f"decoding: {dec['sentences_per_s']:.0f} sentences/s ({dec['sentences']} generated sentences)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"shape": shape, "threads": args.threads, "rows": rows, "decoding": dec}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
