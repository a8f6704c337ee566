"""compare's and compare_mlm's runs side by side (kexue.parallel) are the in-process loop's, bit for bit,
in its order.

The loop runs here on one torch thread, as `reproduce` runs it (quick and standard: threads = 1) and as
every worker runs: another thread count changes a reduction's rounding, not the schedule."""
import pytest

from kexue import parallel
from kexue.decoder_only import ModelConfig, RunConfig, TaskConfig, compare
from kexue.decoder_only.mlm import MLMRunConfig, MLMTaskConfig, build_mlm_task, compare_mlm
from kexue.decoder_only.tasks import build_task
from kexue.train import TrainConfig

KEYS = ("arch", "hidden", "test_loss", "train_loss", "exact_match", "token_acc", "final_loss", "params")
MLM_KEYS = ("test_loss", "test_acc", "final_loss", "params", "steps")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def _train() -> TrainConfig:
    return TrainConfig(steps=2, batch_size=8, lr=3e-3, log_every=1)


def test_compare_side_by_side_equals_the_loop(tmp_path):
    cfg = RunConfig(task=TaskConfig(n_train=32, n_test=4, max_chars=200), model=ModelConfig(hidden=16, layers=1, heads=2),
                    train=_train(), n_generate=2)
    data = build_task(cfg.task)
    archs = ("decoder", "encdec@flops")  # the second matched in width: its own model settings
    with parallel.using(1):
        here = compare(cfg, archs, 2, tmp_path / "one", data=data, resume=False)
    with parallel.using(2):
        side = compare(cfg, archs, 2, tmp_path / "two", data=data, resume=False)
    assert list(side) == list(archs) and [len(rows) for rows in side.values()] == [2, 2]
    for arch in archs:  # each arch's rows are its own, seed 0 then seed 1, and bit for bit the loop's
        folders = [tmp_path / "two" / f"{arch.replace('@', '_')}-seed{s}" for s in (0, 1)]
        assert [r["out_dir"] for r in side[arch]] == [str(f) for f in folders]
        assert [[r[k] for k in KEYS] + [r["config_model"]] for r in side[arch]] == \
            [[r[k] for k in KEYS] + [r["config_model"]] for r in here[arch]]
        assert all((f / "result.json").is_file() for f in folders)
    assert len({r["test_loss"] for rows in here.values() for r in rows}) == 4  # four different runs, not one repeated


def test_compare_mlm_side_by_side_equals_the_loop(tmp_path):
    cfg = MLMRunConfig(MLMTaskConfig(max_len=24, n_train=32, n_test=8, max_chars=100),
                       ModelConfig(hidden=16, layers=2, heads=4), train=_train())
    data = build_mlm_task(cfg.task)
    directions = ("bidirectional", "mixed")
    with parallel.using(1):
        here = compare_mlm(cfg, directions, 2, tmp_path / "one", data=data, resume=False)
    with parallel.using(2):
        side = compare_mlm(cfg, directions, 2, tmp_path / "two", data=data, resume=False)
    assert list(side) == list(directions)
    for d in directions:  # each direction's rows are its own, seed 0 then seed 1, and bit for bit the loop's
        folders = [tmp_path / "two" / f"{d}-seed{s}" for s in (0, 1)]
        assert [r["out_dir"] for r in side[d]] == [str(f) for f in folders]
        assert [[r[k] for k in MLM_KEYS] for r in side[d]] == [[r[k] for k in MLM_KEYS] for r in here[d]]
        assert all((f / "result.json").is_file() for f in folders)
    assert len({r["test_loss"] for rows in here.values() for r in rows}) == 4  # four different runs, not one repeated
