"""The event codec round trip on every fixture sample, the unrecoverable case, and the post's metrics."""
import pytest

from kexue.data import CharTokenizer
from kexue.gplinker import fixture
from kexue.gplinker.data import EventSample, EventSchema, read_duee
from kexue.gplinker.events import decode_events, encode_events, oracle_logits, recoverable
from kexue.gplinker.metrics import char_f1, event_prf, soft_argument_prf

SCHEMA = EventSchema.read(fixture("duee_event_schema.json"))
SAMPLES = read_duee(fixture("duee_sample.json"), SCHEMA)
TOK = CharTokenizer.build(s.text for s in SAMPLES)


def _roundtrip(sample, trigger=False):
    _, offsets = TOK.encode_with_offsets(sample.text)
    labels = SCHEMA.labels()
    lab = encode_events(sample, labels, offsets)
    return decode_events(*oracle_logits(lab, len(offsets)), sample.text, offsets, labels, trigger=trigger)


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.id for s in SAMPLES])
def test_roundtrip_recovers_gold(sample):
    got = sorted(_roundtrip(sample))
    if sample.id == "unrecoverable-subset":
        # the one case the codec cannot carry: an event inside another of the same type is absorbed
        assert got == [max(sample.events, key=len)]
        assert not recoverable(sample, SCHEMA, TOK.encode_with_offsets(sample.text)[1])
    else:
        assert got == sorted(set(sample.events))


def test_three_pairwise_events_merge_into_one():
    # {A, B}, {B, C}, {A, C}: every pair is linked, so the maximal clique {A, B, C} comes back
    text = "甲乙丙"
    events = [tuple(sorted([("组织关系-裁员", "裁员方", x, i), ("组织关系-裁员", "裁员方", y, j)]))
              for (x, i), (y, j) in [(("甲", 0), ("乙", 1)), (("乙", 1), ("丙", 2)), (("甲", 0), ("丙", 2))]]
    sample = EventSample(text, events)
    got = _roundtrip(sample)
    assert got == [tuple(sorted(("组织关系-裁员", "裁员方", c, k) for k, c in enumerate("甲乙丙")))]


def test_trigger_flag_drops_events_without_trigger():
    sample = EventSample("苹果公司", [(("组织关系-裁员", "裁员方", "苹果公司", 0),)])
    assert _roundtrip(sample, trigger=False) == sample.events
    assert _roundtrip(sample, trigger=True) == []


def test_event_metrics_as_the_post_computes_them():
    gold = [s.events for s in SAMPLES]
    perfect = event_prf(gold, gold)
    assert perfect["event_level/f1"] == pytest.approx(1) and perfect["argument_level/f1"] == pytest.approx(1)
    # drop one argument of the first event: that event is wrong, one argument is missed
    first = [e for e in gold[0]]
    first[0] = tuple(a for a in first[0] if a[1] != "赛事名称")
    m = event_prf([first] + gold[1:], gold)
    n_events = sum(len(set(g)) for g in gold)
    assert m["event_level/precision"] == pytest.approx((n_events - 1) / n_events)
    # an event without a trigger never counts at event level, its arguments do
    no_trig = [[tuple(a for a in e if a[1] != "触发词") for e in g] for g in gold]
    m = event_prf(no_trig, gold)
    assert m["event_level/recall"] < 1e-6 and m["argument_level/f1"] == pytest.approx(1)


def test_soft_argument_f1():
    assert char_f1("北京队", "北京") == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    gold = [[(("t", "r", "北京队", 0),)]]
    pred = [[(("t", "r", "北京", 0),)]]
    m = soft_argument_prf(pred, gold)
    assert m["soft_argument/f1"] == pytest.approx(0.8)
    assert soft_argument_prf(gold, gold)["soft_argument/f1"] == pytest.approx(1)
