"""The LRU topic's trained runs side by side (kexue.parallel) are the in-process loop's, bit for bit, in
its order: the ablation's model × seed runs (`_runs`) and the LM's length × seed × mixer runs."""
import pytest

from kexue import parallel
from kexue.lru.lm import compare as lm_compare
from kexue.lru.reproduce import _runs, preset

LM_KEYS = ("length", "seed", "mixer", "eval_loss", "params", "curve")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: as reproduce and every worker run


def test_model_seed_runs_side_by_side_equal_the_loop(tmp_path):
    cfg = preset("smoke")
    models, seeds_for = ("dense", "lru", "rnn"), {"rnn": (0, 1, 2)}  # another seed count for one model
    with parallel.using(1):
        here, majority = _runs(cfg.ablation, models, (0, 1), tmp_path / "one", False, seeds_for)
    with parallel.using(2):
        side, majority2 = _runs(cfg.ablation, models, (0, 1), tmp_path / "two", False, seeds_for)
    assert list(side) == list(models) and majority2 == majority
    keys = ("test_acc", "test_loss", "final_loss", "params")
    assert [[side[k][key] for key in keys] for k in models] == [[here[k][key] for key in keys] for k in models]
    assert [len(side[k]["test_loss"]) for k in models] == [2, 2, 3]
    losses = [x for k in models for x in here[k]["test_loss"]]
    assert len(set(losses)) == len(losses)  # seven different runs, not one repeated


def test_lm_runs_side_by_side_equal_the_loop(tmp_path):
    cfg = preset("smoke").lm
    with parallel.using(1):
        here = lm_compare(cfg, tmp_path / "one")
    with parallel.using(2):
        side = lm_compare(cfg, tmp_path / "two")
    order = [(n, s, m) for n in here["lengths"] for s in cfg.seeds
             for m in (cfg.mixers if n == cfg.length else [m for m in cfg.mixers if m in cfg.long_mixers])]
    assert [(r["length"], r["seed"], r["mixer"]) for r in side["rows"]] == order
    assert [[r[k] for k in LM_KEYS] for r in side["rows"]] == [[r[k] for k in LM_KEYS] for r in here["rows"]]
    assert side["loss"] == here["loss"]
    assert len({r["eval_loss"] for r in here["rows"]}) == len(order)
