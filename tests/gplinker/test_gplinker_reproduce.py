"""reproduce('smoke') runs every claim end to end and writes its figure."""
from kexue.gplinker.reproduce import reproduce, time_losses


def test_reproduce_smoke(tmp_path):
    r = reproduce("smoke", tmp_path)
    assert r.topic == "gplinker" and r.post == 8926 and len(r.claims) == 6
    # the round trip and the clique search are exact at any size
    assert r.claims[1].verdict == "held"
    assert r.claims[-1].verdict == "not checkable"
    for f in r.figures:
        assert (tmp_path / f).is_file()
    assert {"event_level/f1", "argument_level/f1", "soft_argument/f1"} <= r.metrics["events"].keys()
    assert (tmp_path / "gplinker" / "runs" / "events" / "model.safetensors").is_file()


def test_time_losses_reports_both():
    t = time_losses(2, 3, 8, repeats=1)
    assert t["sparse_s"] > 0 and t["dense_s"] > 0 and t["dense_over_sparse"] > 0
