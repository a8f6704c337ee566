"""compare's runs side by side (kexue.parallel) are the in-process loop's, bit for bit, in its order.

The loop runs here on one torch thread, as `reproduce` runs it (quick and standard: measure.threads = 1)
and as every worker runs: another thread count changes a reduction's rounding, not the schedule."""
import pytest

from kexue import parallel
from kexue.attention.model import TinyConfig
from kexue.attention.quality import QualityConfig, compare
from kexue.train import TrainConfig

KEYS = ("seed", "task", "attention", "eval_loss", "train_loss", "curve", "params")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def test_compare_side_by_side_equals_the_loop(tmp_path):
    cfg = QualityConfig(model=TinyConfig(hidden=16, heads=2, layers=1, max_len=16),
                        train=TrainConfig(steps=2, batch_size=4, lr=1e-3, log_every=1),
                        train_chars=4000, eval_windows=4, vocab_size=100, seeds=(0, 1))
    with parallel.using(1):
        here = compare(cfg, tmp_path / "one")
    with parallel.using(2):
        side = compare(cfg, tmp_path / "two")
    # the loop's order: seed, then LM before MLM, then softmax before linear
    order = [(s, t, a) for s in (0, 1) for t in ("lm", "mlm") for a in ("softmax", "elu")]
    assert [(r["seed"], r["task"], r["attention"]) for r in side] == order
    assert [[r[k] for k in KEYS] for r in side] == [[r[k] for k in KEYS] for r in here]  # bit for bit
    assert len({r["eval_loss"] for r in here}) == len(order)  # eight different runs, not one repeated
    assert all((tmp_path / "two" / f"{t}-{a}-seed{s}").is_dir() for s, t, a in order)
