"""The step time behind the msra-encoder preset (issue 22): what chose its size (`step_seconds`, `--sizes`) and
what its batches of like lengths bring (`padding`, `--padding`). Run through benchmarks/gplinker_pretrained.py."""
from __future__ import annotations

import time


def step_seconds(sizes=((128, 4, 512), (256, 4, 1024), (256, 6, 1024)), repeats: int = 4) -> list[dict]:
    """CPU seconds of one MLM step (forward, backward, AdamW) at batch 64 × 60 tokens, one thread, vocab
    5000, per encoder size (hidden, layers, FFN; 4 heads): what chose the msra-encoder preset's size."""
    import torch

    from kexue.roformer import RoFormerV2, RoFormerV2Config
    from kexue.roformer.mlm import mlm_loss
    torch.set_num_threads(1)
    out = []
    for h, layers, ffn in sizes:
        m = RoFormerV2(RoFormerV2Config(vocab_size=5000, hidden_size=h, num_layers=layers, num_heads=4,
                                        intermediate_size=ffn))
        opt = torch.optim.AdamW(m.parameters(), 1e-3)
        ids = torch.randint(5, 5000, (64, 60))
        labels = torch.full_like(ids, -100)
        labels[:, ::7] = ids[:, ::7]
        batch = {"ids": ids, "labels": labels, "mask": torch.ones_like(ids, dtype=torch.bool)}
        times = []
        for _ in range(repeats):
            t = time.process_time()
            loss, _ = mlm_loss(m, batch)
            loss.backward()
            opt.step()
            opt.zero_grad()
            times.append(time.process_time() - t)
        out.append({"hidden": h, "layers": layers, "ffn": ffn, "params": sum(p.numel() for p in m.parameters()),
                    "cpu_s_per_step_min": min(times[1:])})
    return out


def padding(batch: int = 64, repeats: int = 24) -> dict:
    """What the msra-encoder preset's batches of like lengths bring: the share of real tokens among the padded
    positions of random and of length-sorted batches of 64 over one epoch of its corpus (lengths in characters
    + [CLS]/[SEP], at most 128, as its char tokenizer reads them), and the CPU seconds of one MLM step of the
    4 × 128 encoder (forward, backward, AdamW; one thread) on batches drawn from each, interleaved."""
    import statistics

    import torch

    from kexue.roformer import RoFormerV2, RoFormerV2Config
    from kexue.roformer.corpus import corpus_sources
    from kexue.roformer.mlm import mlm_loss
    from kexue.train.length_batches import LengthBuckets
    torch.set_num_threads(1)
    pd, msra, _ = corpus_sources()
    lengths = [min(len("".join(t)), 126) + 2 for t in pd + msra]
    n = len(lengths) // batch * batch
    random_batches = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(0))[:n].view(-1, batch).tolist()
    orders = {"random": random_batches, "by_length": LengthBuckets(lengths, batch, lengths).batches(0)}
    real = {k: sum(lengths[i] for b in bs for i in b) / sum(batch * max(lengths[i] for i in b) for b in bs)
            for k, bs in orders.items()}
    model = RoFormerV2(RoFormerV2Config(vocab_size=5136, hidden_size=128, num_layers=4, num_heads=4, intermediate_size=512))
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    g = torch.Generator().manual_seed(0)
    times: dict[str, list[float]] = {k: [] for k in orders}
    for r in range(repeats + 1):
        for k, bs in orders.items():
            lens = torch.tensor([lengths[i] for i in bs[r]])
            width = int(lens.max())
            mask = torch.arange(width)[None, :] < lens[:, None]
            ids = torch.randint(5, 5136, (batch, width), generator=g)
            labels = torch.where(mask & (torch.rand(batch, width, generator=g) < 0.15), ids, torch.full_like(ids, -100))
            t = time.process_time()
            loss, _ = mlm_loss(model, {"ids": ids, "labels": labels, "mask": mask})
            loss.backward()
            opt.step()
            opt.zero_grad()
            if r:  # the first of each warms the allocator
                times[k].append(time.process_time() - t)
    return {"batch": batch, "texts": len(lengths), "mean_length": sum(lengths) / len(lengths),
            "real_token_share": real,
            "cpu_s_per_step": {k: {"min": min(v), "median": statistics.median(v)} for k, v in times.items()},
            "speedup_median": statistics.median(times["random"]) / statistics.median(times["by_length"])}
