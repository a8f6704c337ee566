"""What the GPLinker claims and checks measure besides training (posts 8926/8888/8877): the sparse vs dense
loss in a whole training step and alone, both on interleaved repeats of the work's own clock
(`kexue.timing.interleaved_seconds`, so a busy machine does not decide), the sparse loss against the dense
one and a wrong variant, the per-type parameter counts of GP and EGP, the clique search against the post's
recursion, and the oracle round trips. Pure measurements; the verdicts are in claims.py.
"""
from __future__ import annotations

import random
from collections.abc import Callable

import torch

from kexue.data import CharTokenizer
from kexue.gplinker import fixture
from kexue.gplinker.cliques import clique_search
from kexue.gplinker.data import TRIGGER, EventSample, EventSchema, RelationSample, read_duee
from kexue.gplinker.events import decode_events, encode_events, oracle_logits, recoverable
from kexue.gplinker.linker import GPLinkerConfig, Linker
from kexue.gplinker.metrics import event_prf
from kexue.gplinker.model import EncoderConfig
from kexue.nn.global_pointer import EfficientGlobalPointer, GlobalPointer
from kexue.nn.losses import global_pointer_crossentropy
from kexue.nn.params import count_parameters
from kexue.timing import interleaved_seconds


def step_sides(encoder: EncoderConfig, batch: int, predicates: int, chars: int, seed: int = 0,
               device: str = "cpu") -> dict[str, Callable[[], None]]:
    """{"sparse", "dense"}: one whole training step each (collate the labels, move the batch to `device`,
    forward, loss, backward, AdamW update) of the same relations model on the same random sentences."""
    rng = random.Random(seed)
    names = [f"谓词{k}" for k in range(predicates)]
    samples = []
    for _ in range(batch):
        text = "".join(chr(0x4E00 + rng.randrange(500)) for _ in range(chars))
        a, b = sorted(rng.sample(range(chars - 3), 2))
        samples.append(RelationSample(text, [(text[a:a + 2], a, rng.choice(names), text[b:b + 3], b)]))
    tok = CharTokenizer.build([s.text for s in samples])
    sides = {}
    for side in ("sparse", "dense"):
        torch.manual_seed(seed)
        g = Linker(GPLinkerConfig(task="relations", encoder=encoder, dense_loss=side == "dense", max_len=chars + 2),
                   names, tok)
        g.model.to(device)
        opt = torch.optim.AdamW(g.model.parameters(), lr=1e-3)

        def step(g=g, opt=opt) -> None:
            # the labels are built for every step, as a data generator does: (i, j) pairs, or n×n for dense
            batch_t = {k: v.to(device) for k, v in g.collate(samples).items()}
            loss = g.loss(g.model, batch_t)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sides[side] = step
    return sides


def time_steps(encoder: EncoderConfig, batch: int, predicates: int, chars: int, repeats: int = 5,
               seed: int = 0, device: str = "cpu") -> dict[str, list[float]]:
    """Seconds of each repeat of the whole training step with the sparse and with the dense loss,
    interleaved on the work's own clock."""
    t = interleaved_seconds(step_sides(encoder, batch, predicates, chars, seed, device), repeats=repeats,
                            warmup=1, device=device)
    return {"sparse_s": t["sparse"], "dense_s": t["dense"]}


def gp_batch(batch: int, heads: int, n: int, positives: int = 3, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Scores [b, heads, n, n] with the [CLS]–[CLS] cell (0, 0) at −inf (the cell the sparse form's padding
    masks), their positive (i, j) pairs [b, heads, P, 2] (i ≤ j, never (0, 0)) and the same labels as 0/1."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, heads, n, n, generator=g)
    logits[:, :, 0, 0] = -torch.inf
    pairs = torch.randint(1, n, (batch, heads, positives, 2), generator=g).sort(-1).values
    dense = torch.zeros(batch, heads, n * n)
    dense.scatter_(-1, pairs[..., 0] * n + pairs[..., 1], 1.0)
    return logits, pairs, dense.view(batch, heads, n, n)


def time_losses(batch: int, heads: int, n: int, repeats: int = 5) -> dict[str, list[float]]:
    """Seconds of forward + backward of the sparse and the dense GP loss alone on the same scores and labels,
    interleaved on the work's own clock."""
    logits, pairs, dense = gp_batch(batch, heads, n)
    logits.requires_grad_(True)

    def run(loss: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def once() -> None:
            logits.grad = None
            loss().backward()
        return once
    t = interleaved_seconds({"sparse": run(lambda: global_pointer_crossentropy(logits, pairs)),
                             "dense": run(lambda: global_pointer_crossentropy(logits, dense, sparse=False))},
                            repeats=repeats, warmup=1)
    return {"sparse_s": t["sparse"], "dense_s": t["dense"]}


def loss_values(batch: int = 4, heads: int = 5, n: int = 24) -> dict[str, float]:
    """The GP loss on one batch three ways: sparse (8888), dense (7359) and the wrong sparse variant that
    drops the correction log(1 − e^{b−a}), i.e. sums the negatives over A = P ∪ N instead of N."""
    logits, pairs, dense = gp_batch(batch, heads, n)
    s = logits.reshape(batch, heads, n * n).double()
    idx = pairs[..., 0] * n + pairs[..., 1]
    zero = s.new_zeros(batch, heads, 1)
    s_p = s.gather(-1, idx)
    # log(1 + Σ_{i∈P} e^{−S_i}) + log(1 + Σ_{i∈A} e^{S_i}): the negatives' sum over A, not N
    wrong = torch.logsumexp(torch.cat([-s_p, zero], -1), -1) + torch.logsumexp(torch.cat([s, zero], -1), -1)
    return {"sparse": float(global_pointer_crossentropy(logits, pairs)),
            "dense": float(global_pointer_crossentropy(logits, dense, sparse=False)),
            "without_correction": float(wrong.sum(1).mean())}


def per_type_parameters(hidden: int, head_size: int) -> dict[str, int]:
    """Parameters that one more type adds to GP and to EGP (a head of 2 types minus one of 1)."""
    def added(cls: type) -> int:
        return count_parameters(cls(hidden, 2, head_size)) - count_parameters(cls(hidden, 1, head_size))
    return {"gp": added(GlobalPointer), "egp": added(EfficientGlobalPointer)}


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


def connected_components(nodes, adjacent) -> list[frozenset]:
    """A wrong event grouping (the negative control of the clique search): connected components, which
    merge two events that share an argument instead of keeping both maximal cliques."""
    groups: list[frozenset] = []
    for u in nodes:
        hit = [g for g in groups if any(adjacent(u, v) for v in g)]
        merged = frozenset([u]).union(*hit)
        groups = [g for g in groups if g not in hit] + [merged]
    return groups


def fixture_round_trip() -> tuple[int, list[str]]:
    """(fixture samples, ids of those whose gold events do not come back through the codec and the search)."""
    schema = EventSchema.read(fixture("duee_event_schema.json"))
    samples = read_duee(fixture("duee_sample.json"), schema)
    tok = CharTokenizer.build(s.text for s in samples)
    return len(samples), sorted(s.id for s in samples if not recoverable(s, schema, tok.encode_with_offsets(s.text)[1]))


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
