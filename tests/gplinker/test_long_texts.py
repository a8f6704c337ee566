"""A text longer than the model's window is read whole: overlapping windows, merged in the text's offsets.

Before, `Extractor`, `predict` and `serve` read the first max_len − 2 = 126 characters and dropped the
rest without a word. Here the model is an oracle that marks every 北京 as a LOC entity, so what is found
depends only on how the text is windowed and merged: every 北京 of a 1,500-character text is found once,
at its true offsets, including the one at character 1,000 and those inside window overlaps.
"""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kexue.config import override
from kexue.data import CharTokenizer
from kexue.gplinker.data import NERSample
from kexue.gplinker.extractor import Extractor
from kexue.gplinker.train import GPLinker, GPLinkerConfig
from tests.gplinker._tiny import TINY

FILL = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"


def _tokenizer() -> CharTokenizer:
    return CharTokenizer.build([FILL, "北京。"])


class Oracle(torch.nn.Module):
    """NER logits [b, types, n, n]: +10 on (i, i+1) where token i is 北 and i+1 is 京, −10 elsewhere."""

    def __init__(self, tok: CharTokenizer, types: int, loc: int):
        super().__init__()
        self.bei, self.jing, self.types, self.loc = tok.char_id("北"), tok.char_id("京"), types, loc
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # so that the Extractor finds a device

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        b, n = ids.shape
        logits = torch.full((b, self.types, n, n), -10.0)
        hit = (ids[:, :-1] == self.bei) & (ids[:, 1:] == self.jing)
        for r, i in hit.nonzero().tolist():
            logits[r, self.loc, i, i + 1] = 10.0
        return [logits]


def _extractor(max_len: int = 64) -> Extractor:
    tok = _tokenizer()
    cfg = override(GPLinkerConfig(task="ner"), [*TINY, f"max_len={max_len}"])
    g = GPLinker(cfg, ["LOC", "ORG", "PER"], tok)
    g.model = Oracle(tok, 3, 0)
    return Extractor(g)


def _text(positions: list[int], length: int) -> str:
    chars = [FILL[i % len(FILL)] for i in range(length)]
    for p in positions:
        chars[p:p + 2] = "北京"
    return "".join(chars)


def test_an_entity_at_character_1000_is_found_at_its_true_offsets():
    positions = [3, 61, 62 + 31, 1000, 1497]  # the start, a window edge, an overlap, deep inside, the end
    text = _text(positions, 1500)
    found = _extractor()(text)["entities"]
    assert [(e["start"], e["end"], e["type"], e["text"]) for e in found] == \
        [(p, p + 2, "LOC", "北京") for p in positions]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 598), min_size=1, max_size=12, unique=True), st.integers(8, 40))
def test_every_entity_is_found_once_whatever_the_window(starts, max_len):
    positions = sorted(starts)
    positions = [p for k, p in enumerate(positions) if k == 0 or p >= positions[k - 1] + 2]  # no overlaps
    text = _text(positions, 600)
    found = _extractor(max_len)(text)["entities"]
    assert sorted((e["start"], e["end"]) for e in found) == [(p, p + 2) for p in positions]


def test_windows_cover_the_text_and_own_each_character_once():
    from kexue.gplinker.windows import Window, windows

    offsets = [(i, i + 1) for i in range(1000)]
    ws = windows(offsets, 62, 1000)
    assert ws[0].start == 0 and ws[-1].end == 1000
    assert all(w.end - w.start <= 62 for w in ws)
    owned = [c for w in ws for c in range(w.own_start, w.own_end)]
    assert owned == list(range(1000))  # a partition of the characters
    assert all(w.start <= w.own_start < w.own_end <= w.end for w in ws)
    assert windows(offsets[:62], 62, 62) == [Window(0, 62, 0, 62)]


def test_merge_shifts_nested_offsets_and_keeps_an_item_once():
    from kexue.gplinker.windows import Window, merge

    w1, w2 = Window(0, 10, 0, 8), Window(5, 15, 8, 15)
    event = {"event_type": "e", "trigger": "x", "trigger_start_index": 4, "score": 0.9,
             "arguments": [{"role": "r", "argument": "y", "argument_start_index": 6, "score": 0.8}]}
    # the same event seen from the second window (offsets 5 less, another score), and one it owns
    again = {**event, "trigger_start_index": -1, "score": 0.7,
             "arguments": [{"role": "r", "argument": "y", "argument_start_index": 1, "score": 0.6}]}
    own = {**event, "trigger_start_index": 5, "arguments": []}
    out = merge("t" * 15, [(w1, {"text": "a", "event_list": [event]}), (w2, {"text": "b", "event_list": [again, own]})])
    assert out["text"] == "t" * 15
    starts = [(e["trigger_start_index"], [a["argument_start_index"] for a in e["arguments"]]) for e in out["event_list"]]
    # −1 ("no trigger found") is not shifted; `again` starts at 6 < 8, in the first window's own region
    assert starts == [(4, [6]), (10, [])]


@pytest.mark.parametrize("length", [10, 62, 63, 200])
def test_a_text_that_fits_is_one_window(length):
    from kexue.gplinker.windows import windows

    assert len(windows([(i, i + 1) for i in range(length)], 62, length)) == (1 if length <= 62 else 4 if length == 200 else 2)


def test_predict_writes_the_entity_at_character_1000_at_its_offsets(tmp_path, monkeypatch):
    """`kexue gplinker ner predict` on a 1,500-character line: the old command said "wrote 1 lines" and kept
    the first 126 characters' entities alone. The run folder's model is replaced by the oracle (the same
    Extractor the command builds), so what is written depends only on the windows."""
    import json

    from typer.testing import CliRunner

    from kexue.gplinker.cli import app
    from tests.gplinker._tiny import fresh_run

    run = fresh_run("ner", tmp_path / "run")
    monkeypatch.setattr(Extractor, "from_pretrained", classmethod(lambda cls, *a, **k: _extractor()))
    positions = [3, 61, 1000, 1497]
    (tmp_path / "in.txt").write_text(_text(positions, 1500) + "\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["ner", "predict", "--model", str(run), "--input", str(tmp_path / "in.txt"),
                                 "--output", str(tmp_path / "out.jsonl")])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 1 and len(rows[0]["text"]) == 1500
    assert [(e["start"], e["end"], e["text"]) for e in rows[0]["entities"]] == [(p, p + 2, "北京") for p in positions]
