"""What the GPLinker claims measure besides training (posts 8926/8888): the sparse vs dense loss alone and
in a whole training step, the clique search against the post's recursion, and the oracle round trip of a
long many-event document. Pure measurements; the verdicts are in claims.py.
"""
from __future__ import annotations

import random
import statistics
import time

import torch

from kexue.data import CharTokenizer
from kexue.gplinker.cliques import clique_search
from kexue.gplinker.data import TRIGGER, EventSample, RelationSample
from kexue.gplinker.events import decode_events, encode_events, oracle_logits
from kexue.gplinker.metrics import event_prf
from kexue.gplinker.model import EncoderConfig
from kexue.gplinker.train import GPLinker, GPLinkerConfig
from kexue.nn.losses import global_pointer_crossentropy


def time_losses(batch: int, heads: int, n: int, positives: int = 3, repeats: int = 5) -> dict[str, float]:
    """Seconds per forward+backward of the sparse and the dense GP loss on the same logits and labels."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(batch, heads, n, n, generator=g, requires_grad=True)
    i = torch.randint(1, n, (batch, heads, positives, 2), generator=g).sort(-1).values
    dense = torch.zeros(batch, heads, n * n)
    dense.scatter_(-1, i[..., 0] * n + i[..., 1], 1.0)
    dense = dense.view(batch, heads, n, n)
    out = {}
    for name, fn in (("sparse", lambda: global_pointer_crossentropy(logits, i)),
                     ("dense", lambda: global_pointer_crossentropy(logits, dense, sparse=False))):
        fn().backward()  # warm-up
        t = time.perf_counter()
        for _ in range(repeats):
            logits.grad = None
            fn().backward()
        out[f"{name}_s"] = (time.perf_counter() - t) / repeats
    out["dense_over_sparse"] = out["dense_s"] / out["sparse_s"]
    return out


def cliques_agree(graphs: int, search, seed: int = 0, max_nodes: int = 8) -> int:
    """On how many of `graphs` random graphs `search(nodes, adjacent)` equals the post's recursion."""
    rng = random.Random(seed)
    same = 0
    for _ in range(graphs):
        n = rng.randint(1, max_nodes)
        edges = {(u, v) for u in range(n) for v in range(u + 1, n) if rng.random() < 0.5}
        adj = lambda u, v, e=edges: (min(u, v), max(u, v)) in e  # noqa: E731
        same += set(search(range(n), adj)) == set(clique_search(list(range(n)), adj))
    return same


def long_document_f1(n_events: int = 10, n_roles: int = 6) -> float:
    """Event F1 of the oracle round trip of one document with n_events same-type events of n_roles
    arguments each (plus a trigger), all on distinct two-character spans."""
    roles = [f"角色{k}" for k in range(n_roles)]
    labels = [("比赛", TRIGGER)] + [("比赛", r) for r in roles]
    text, events = "", []
    for _ in range(n_events):
        event = []
        for role in [TRIGGER] + roles:
            word = chr(0x4E00 + len(text)) + chr(0x4E01 + len(text))
            event.append(("比赛", role, word, len(text)))
            text += word
        events.append(tuple(sorted(event)))
    offsets = [(0, 0)] + [(i, i + 1) for i in range(len(text))] + [(0, 0)]
    sample = EventSample(text, events)
    got = decode_events(*oracle_logits(encode_events(sample, labels, offsets), len(offsets)), text, offsets, labels)
    return event_prf([got], [events])["event_level/f1"]


def time_steps(encoder: EncoderConfig, batch: int, predicates: int, chars: int, repeats: int = 5,
               seed: int = 0) -> dict[str, list[float] | float]:
    """Seconds of one whole training step (forward, loss, backward, AdamW update) of the same relations
    model on the same batch, with the sparse and with the dense loss, alternated so load drift hits both."""
    rng = random.Random(seed)
    names = [f"谓词{k}" for k in range(predicates)]
    samples = []
    for _ in range(batch):
        text = "".join(chr(0x4E00 + rng.randrange(500)) for _ in range(chars))
        a, b = sorted(rng.sample(range(chars - 3), 2))
        samples.append(RelationSample(text, [(text[a:a + 2], a, rng.choice(names), text[b:b + 3], b)]))
    torch.manual_seed(seed)
    tok = CharTokenizer.build([s.text for s in samples])
    linkers = {}
    for dense in (False, True):
        torch.manual_seed(seed)
        linkers[dense] = GPLinker(GPLinkerConfig(task="relations", encoder=encoder, dense_loss=dense,
                                                 max_len=chars + 2), names, tok)
    times: dict[bool, list[float]] = {False: [], True: []}
    for k in range(repeats + 1):
        for dense in ((False, True) if k % 2 else (True, False)):
            g = linkers[dense]
            opt = torch.optim.AdamW(g.model.parameters(), lr=1e-3)
            batch_t = g.collate(samples)
            t = time.perf_counter()
            loss = g.loss(g.model, batch_t)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if k:  # the first round warms up
                times[dense].append(time.perf_counter() - t)
    sparse, dense = times[False], times[True]
    return {"sparse_s": sparse, "dense_s": dense,
            "dense_over_sparse": float(statistics.median(dense) / statistics.median(sparse))}
