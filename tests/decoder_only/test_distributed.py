"""`kexue decoder-only train` under torchrun: two gloo processes end where one process with the same global
batch does, and only rank 0 prints.

The loss is the mean over the labelled (output) tokens of a micro-batch, and DDP averages the two
ranks' gradients: that is the whole batch's mean only when both halves hold as many labelled tokens. The
reverse task at one sentence length gives exactly that (every output is the input's characters in
another order, so 8 in → 8 + [EOS] out for every example).
"""
import subprocess

import pytest
import torch

from tests.launch import launch
from tests.runs import assert_same_run

COMMON = ["decoder-only", "train", "--task", "reverse", "--arch", "prefix", "--no-progress",
          "--set", "train.steps=4", "--set", "train.log_every=1", "--set", "train.batch_size=16",
          "--set", "task.min_len=8", "--set", "task.max_len=8", "--set", "task.n_train=64", "--set", "task.n_test=8",
          "--set", "task.max_chars=200", "--set", "model.hidden=16", "--set", "n_generate=4"]


def _launch(out, processes: int) -> subprocess.Popen:
    return launch([*COMMON, "--out", str(out)], processes, merge_stderr=False, COLUMNS="200")


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
    one, two = _launch(tmp_path / "one", 1), _launch(tmp_path / "two", 2)
    outs = []
    for p in (one, two):
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, out + err
        outs.append(out)
    assert_same_run(tmp_path / "one", tmp_path / "two", [1, 2, 3, 4], rel=1e-5, abs=1e-7, w_rtol=1e-4, w_atol=1e-6)
    state = torch.load(tmp_path / "two" / "trainer_state.pt", weights_only=True)
    assert state["world_size"] == 2
    # rank 0 alone prints the table (one title line, one "run folder" line)
    assert outs[1].count("kexue decoder-only train --task reverse") == 1 and outs[1].count("run folder:") == 1
    rows = [[line.rsplit("│", 2)[0] for line in out.splitlines() if line.startswith("│")] for out in outs]
    assert rows[0] and rows[0] == rows[1]  # the held-out measurements too (tokens/s aside)
