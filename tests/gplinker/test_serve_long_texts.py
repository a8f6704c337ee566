"""`serve` reads a text past the model's window (issue 24 §6): a model that found an item in a short
sentence returned `[]` with HTTP 200 once 130 characters came before it (the first max_len − 2 = 126
characters were all that was read). The service's app, on the oracle of test_long_texts.py that marks every
北京: each one is answered at its offsets, the one past character 126 included, in `text` and `texts`."""
from fastapi.testclient import TestClient

from kexue.gplinker.serve import create_app
from tests.gplinker.test_long_texts import _extractor, _text


def test_serve_finds_an_entity_after_130_characters_at_its_offsets():
    positions = [20, 130, 400]  # in the first window, just past its cut, near the 510-character limit
    text = _text(positions, 500)
    with TestClient(create_app(_extractor(max_len=128))) as client:
        one = client.post("/extract", json={"text": text})
        many = client.post("/extract", json={"texts": [text[130:148], text]})
    assert one.status_code == 200 and many.status_code == 200, (one.text, many.text)
    spans = lambda result: [(e["start"], e["end"], e["text"]) for e in result["entities"]]
    assert spans(one.json()["results"][0]) == [(p, p + 2, "北京") for p in positions]
    assert [spans(r) for r in many.json()["results"]] == [[(0, 2, "北京")], [(p, p + 2, "北京") for p in positions]]
