"""`kexue lru train` under torchrun: two gloo processes end where one process with the same global batch does.

The LRU's parameters are real (ν, θ, γ logs and B, C as real and imaginary parts), so DDP's all-reduce
of their gradients is plain; this checks it end to end through the command line, with the Trainer's
data sharding (each rank takes half of every global batch). LayerNorm makes the two runs the same
function of the global batch; with the paper's BatchNorm each rank normalises its own half (no
SyncBatchNorm on CPU), which is checked to train and to resume under torchrun.
"""
import subprocess

import pytest
import torch

from kexue.train.progress import read_metrics
from tests.launch import launch
from tests.runs import assert_same_run

COMMON = ["lru", "train", "--task", "copy", "--preset", "smoke", "--no-progress",
          "--set", "train.steps=4", "--set", "train.log_every=1", "--set", "train.batch_size=16",
          "--set", "model.d_model=8", "--set", "model.d_state=8"]


def _launch(out, processes: int, *extra: str) -> subprocess.Popen:
    return launch([*COMMON, "--out", str(out), *extra], processes)


def _finish(*procs: subprocess.Popen) -> None:
    for p in procs:
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0, out


@pytest.mark.slow
def test_two_processes_equal_one_with_layer_norm(tmp_path):
    norm = ("--set", "model.norm=layer")
    one, two = _launch(tmp_path / "one", 1, *norm), _launch(tmp_path / "two", 2, *norm)
    _finish(one, two)
    # the mean of the two half-batch losses is the whole batch's mean loss (equal halves)
    assert_same_run(tmp_path / "one", tmp_path / "two", [1, 2, 3, 4], rel=1e-5, abs=1e-7, w_rtol=1e-4, w_atol=1e-6)
    state = torch.load(tmp_path / "two" / "trainer_state.pt", weights_only=True)
    assert state["world_size"] == 2


@pytest.mark.slow
def test_two_processes_with_batch_norm_run_and_resume(tmp_path):
    _finish(_launch(tmp_path / "bn", 2))
    assert [r["step"] for r in read_metrics(tmp_path / "bn")] == [1, 2, 3, 4]
    # resuming a finished run trains on to a larger step count from its checkpoint
    _finish(_launch(tmp_path / "bn", 2, "--resume", "--set", "train.steps=6"))
    assert [r["step"] for r in read_metrics(tmp_path / "bn")] == [1, 2, 3, 4, 5, 6]
