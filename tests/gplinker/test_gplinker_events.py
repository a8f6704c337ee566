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


def test_soft_argument_f1_worked_example():
    """The DuEE leaderboard's soft metric (PaddleNLP examples/information_extraction/DuEE/README.md), by hand.

    Gold, one sentence of type 比赛: 胜者 北京首钢队 (alias 首钢), 败者 NBA湖人, 败者 上海队 → 3 arguments.
    Predicted (5 after dedup; the trigger and the repeat of 首钢队 in a second event do not count):
      胜者 首钢队    vs 北京首钢队: c=3, p=3/3, r=3/5 → F1 3/4; vs alias 首钢: c=2, p=2/3, r=1 → F1 4/5. best 4/5
      败者 湖人      vs NBA湖人: c=2, p=1, r=2/5 → F1 4/7;   vs 上海队: 0
      败者 nba湖人队 vs NBA湖人 (case ignored): c=5, p=5/6, r=1 → F1 10/11; vs 上海队: c=1 (队), p=1/6, r=1/3 → 2/9
      时间 3月5日    no gold of that role → 0
      (其他, 胜者) 北京首钢队: wrong event type → 0
    败者, one to one: 湖人→NBA湖人 + nba湖人队→上海队 = 4/7 + 2/9 ≈ 0.794 (what taking the predictions in order
    gives) < 湖人→上海队 + nba湖人队→NBA湖人 = 0 + 10/11 ≈ 0.909, the best pairing.
    Σ score S = 4/5 + 10/11 = 94/55; P = S/5 = 94/275, R = S/3 = 94/165, F1 = 2PR/(P + R) = 2S/(5 + 3) = 47/110.
    """
    g = [("比赛", "触发词", "击败", 9), ("比赛", "胜者", "北京首钢队", 0), ("比赛", "败者", "NBA湖人", 11),
         ("比赛", "败者", "上海队", 20)]
    gold = [[tuple(g)]]
    aliases = [{("比赛", "胜者", "北京首钢队"): ["首钢"]}]
    pred = [[(("比赛", "触发词", "击败", 9), ("比赛", "胜者", "首钢队", 2), ("比赛", "败者", "湖人", 14),
              ("比赛", "败者", "nba湖人队", 11), ("比赛", "时间", "3月5日", 30)),
             (("比赛", "胜者", "首钢队", 2),), (("其他", "胜者", "北京首钢队", 0),)]]
    m = soft_argument_prf(pred, gold, aliases)
    assert m["soft_argument/precision"] == pytest.approx(94 / 275)
    assert m["soft_argument/recall"] == pytest.approx(94 / 165)
    assert m["soft_argument/f1"] == pytest.approx(47 / 110)
    # the pairing does not depend on the order of the predictions
    swapped = [[(pred[0][0][0], pred[0][0][1], pred[0][0][3], pred[0][0][2], pred[0][0][4]), *pred[0][1:]]]
    assert soft_argument_prf(swapped, gold, aliases) == m
    # without the alias, 首钢队 scores 3/4 against 北京首钢队: S = 3/4 + 10/11 = 73/44, F1 = 2S/8 = 73/176
    assert soft_argument_prf(pred, gold)["soft_argument/f1"] == pytest.approx(73 / 176)


def test_read_duee_keeps_aliases(tmp_path):
    f = tmp_path / "a.json"
    f.write_text('{"text": "北京首钢队胜", "event_list": [{"event_type": "比赛", "trigger": "胜", "trigger_start_index": 5, '
                 '"arguments": [{"role": "胜者", "argument": "北京首钢队", "argument_start_index": 0, '
                 '"alias": ["首钢", "首钢队"]}]}]}\n'
                 '{"text": "甲胜", "event_list": [{"event_type": "比赛", "trigger": "胜", "arguments": '
                 '[{"role": "胜者", "argument": "甲", "alias": "甲队"}]}]}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"a.json:2: event_list\[0\].arguments\[0\].alias: '甲队' is not a list"):
        read_duee(f)
    (sample,) = read_duee(f, skip_bad=True)
    assert sample.aliases == {("比赛", "胜者", "北京首钢队"): ["首钢", "首钢队"]}
