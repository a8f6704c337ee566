"""decode_events keeps every positive argument of an ordinary graph and bounds its work on an untrained one
(issue 15 §5: a cap of 48 candidates per event type dropped whole events of a long document)."""
import torch

from kexue.gplinker.data import TRIGGER, EventSample
from kexue.gplinker.caps import MAX_NODES, MAX_STEPS
from kexue.gplinker.events import decode_events, encode_events, oracle_logits
from kexue.gplinker.metrics import event_prf

ROLES = [f"角色{k}" for k in range(6)]
LABELS = [("比赛", TRIGGER)] + [("比赛", r) for r in ROLES]


def _long_document(n_events: int = 10) -> tuple[EventSample, list[tuple[int, int]]]:
    """n_events events of one type, each a trigger and 6 arguments of two characters, all on distinct spans."""
    text, events = "", []
    for e in range(n_events):
        event = []
        for role in [TRIGGER] + ROLES:
            word = chr(0x4E00 + len(text)) + chr(0x4E00 + len(text) + 1)
            event.append(("比赛", role, word, len(text)))
            text += word
        events.append(tuple(sorted(event)))
    offsets = [(0, 0)] + [(i, i + 1) for i in range(len(text))] + [(0, 0)]
    return EventSample(text, events), offsets


def test_ten_events_of_six_arguments_decode_exactly():
    sample, offsets = _long_document(10)
    lab = encode_events(sample, LABELS, offsets)
    assert sum(map(len, lab.argu)) == 70  # more than the old cap of 48 candidates per event type
    got = decode_events(*oracle_logits(lab, len(offsets)), sample.text, offsets, LABELS)
    assert sorted(got) == sorted(sample.events)
    m = event_prf([got], [sample.events])
    assert abs(m["event_level/f1"] - 1.0) < 1e-9
    assert abs(m["argument_level/f1"] - 1.0) < 1e-9


def test_an_all_positive_untrained_model_is_bounded():
    # every cell positive: the candidates of the one event type are cut to the strongest MAX_NODES,
    # and the complete link graph is one clique of them
    n = 128
    offsets = [(0, 0)] + [(i, i + 1) for i in range(n - 2)] + [(0, 0)]
    argu = torch.rand(len(LABELS), n, n, generator=torch.Generator().manual_seed(0)) + 0.1
    argu = argu.masked_fill(~torch.ones(n, n, dtype=torch.bool).triu(), -torch.inf)  # the model's i ≤ j mask
    head = tail = torch.ones(n, n)
    (event,) = decode_events(argu, head, tail, "x" * (n - 2), offsets, LABELS)
    assert len(event) == MAX_NODES > 48
    # the ones kept are the strongest candidates (positions shift by one for [CLS])
    kept = min(float(argu[LABELS.index(a[:2]), a[3] + 1, a[3] + len(a[2])]) for a in event)
    assert kept >= float(argu[:, 1:-1, 1:-1].flatten().topk(MAX_NODES).values.min())


def test_a_dense_random_graph_stops_after_max_steps():
    n = 12
    offsets = [(0, 0)] + [(i, i + 1) for i in range(n - 2)] + [(0, 0)]
    g = torch.Generator().manual_seed(1)
    argu = torch.randn(len(LABELS), n, n, generator=g) - 1.0
    head, tail = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    full = decode_events(argu, head, tail, "x" * (n - 2), offsets, LABELS, trigger=False, max_steps=10**7,
                          max_items=10**9)
    capped = decode_events(argu, head, tail, "x" * (n - 2), offsets, LABELS, trigger=False, max_steps=200,
                            max_items=10**9)
    assert len(full) > 1000 and 0 < len(capped) < 200
    assert set(capped) <= set(full)


def test_the_default_bound_is_far_above_an_ordinary_graph():
    # the 10-event document needs a small fraction of MAX_STEPS
    sample, offsets = _long_document(10)
    lab = encode_events(sample, LABELS, offsets)
    got = decode_events(*oracle_logits(lab, len(offsets)), sample.text, offsets, LABELS, max_steps=MAX_STEPS // 8)
    assert sorted(got) == sorted(sample.events)
