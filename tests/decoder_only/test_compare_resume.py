"""Python `compare(..., out_dir=...)` reads finished runs back, as the CLI's --resume does (issue 24 §3):
it neither trains them again nor leaves a result.json beside a newer checkpoint."""
from dataclasses import replace

import pytest

from kexue.decoder_only import ModelConfig, RunConfig, TaskConfig, compare
from kexue.decoder_only.tasks import build_task
from kexue.train import TrainConfig, register_step_callback
from kexue.train.checkpoint import checkpoint_step, read_json
from tests.interrupt import steps_taken


def base(steps: int = 2, lr: float = 3e-3) -> RunConfig:
    return RunConfig(task=TaskConfig(n_train=32, n_test=4, max_chars=200),
                     model=ModelConfig(hidden=16, layers=1, heads=2), n_generate=2,
                     train=TrainConfig(steps=steps, batch_size=8, lr=lr, log_every=1))


def test_a_second_compare_reads_the_finished_runs_back(tmp_path):
    cfg = base()
    data = build_task(cfg.task)
    with steps_taken() as taken:
        first = compare(cfg, ("decoder",), 1, tmp_path, data=data)
        assert len(taken) == 2
        folder = tmp_path / "decoder-seed0"
        stamp = (folder / "result.json").stat().st_mtime_ns
        again = compare(cfg, ("decoder",), 1, tmp_path, data=data)
        assert len(taken) == 2  # not trained again
        assert (folder / "result.json").stat().st_mtime_ns == stamp
        assert again["decoder"][0]["test_loss"] == first["decoder"][0]["test_loss"]
        assert again["decoder"][0]["config_model"] == first["decoder"][0]["config_model"]

        # more steps: the run continues from its checkpoint, and its result.json is the new one
        longer = compare(base(steps=3), ("decoder",), 1, tmp_path, data=data)
        assert taken == [0, 1, 2]
        assert checkpoint_step(folder) == 3 and read_json(folder / "result.json")["steps"] == 3
        assert longer["decoder"][0]["steps"] == 3

    # other settings than a resume may change: refused, naming the folder and the setting
    with pytest.raises(ValueError, match=r"decoder-seed0/result.json: this run was made with other settings "
                                         r"\(train.lr = 0.003, now 0.01\)"):
        compare(base(steps=3, lr=1e-2), ("decoder",), 1, tmp_path, data=data)

    # resume=False trains anew; a run cut on the way leaves no result.json of the older run beside it
    def cut(trainer, step, loss):  # as Ctrl-C at the first step, before its checkpoint
        raise KeyboardInterrupt

    with register_step_callback(cut), pytest.raises(KeyboardInterrupt):
        compare(base(steps=3), ("decoder",), 1, tmp_path, data=data, resume=False)
    assert not (folder / "result.json").exists()
