"""Two gloo processes under torchrun follow the loss trajectory and end at the weights of one process."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kexue.train import init_distributed
from kexue.train.checkpoint import read_safetensors
from kexue.train.distributed import all_reduce_mean
from kexue.train.progress import read_metrics
from tests.runs import assert_same_run

SCRIPT = Path(__file__).with_name("tiny_run.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_alone_is_rank_zero_of_one(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert init_distributed() == (0, 1, torch.device("cpu"))
    assert all_reduce_mean({"b": 2.0, "a": torch.tensor(1.5)}, torch.device("cpu")) == {"a": 1.5, "b": 2.0}


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # float64, no dropout; the DDP run also accumulates 2 micro-batches per rank (4 chunks of the batch)
    common = ["--float64", "--steps", "8", "--log-every", "1", "--ckpt-every", "4"]
    alone = subprocess.Popen([sys.executable, str(SCRIPT), str(tmp_path / "one"), *common], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ddp = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                            "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(SCRIPT),
                            str(tmp_path / "two"), *common, "--accum", "2"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for proc in (alone, ddp):
        out, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, out

    _, two = assert_same_run(tmp_path / "one", tmp_path / "two", [1, 2, 3, 4, 5, 6, 7, 8], rel=1e-6, abs=1e-9,
                             w_rtol=1e-10, w_atol=1e-12)
    state = torch.load(tmp_path / "two" / "trainer_state.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["ranks"]) == 2  # really two ranks, each one's RNG kept
    assert sorted(os.listdir(tmp_path / "two")) == sorted(os.listdir(tmp_path / "one"))
    assert "eval_ema/loss" in two[6] and "loss" in two[6]  # step 7: the log record and rank 0's eval


def torchrun(out, *args: str, kill_at: int = 0) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KEXUE_TEST_KILL_AT": str(kill_at)}
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                             "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(SCRIPT), str(out),
                             *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_two_processes_killed_and_resumed_match_an_unbroken_pair(tmp_path):
    """Each rank keeps its own RNG (dropout), data position and metric sums across the SIGKILL."""
    args = ["--dropout", "0.3", "--steps", "10", "--log-every", "3", "--ckpt-every", "4", "--accum", "2"]
    whole, killed = torchrun(tmp_path / "whole", *args), torchrun(tmp_path / "split", *args, kill_at=6)
    out, _ = whole.communicate(timeout=180)
    assert whole.returncode == 0, out
    killed.communicate(timeout=180)
    assert killed.returncode != 0  # torchrun reports the killed workers
    resumed = torchrun(tmp_path / "split", *args, "--resume")
    out, _ = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, out
    w1, _ = read_safetensors(tmp_path / "whole" / "model.safetensors")
    w2, _ = read_safetensors(tmp_path / "split" / "model.safetensors")
    assert all(torch.equal(w2[name], w) for name, w in w1.items())
    strip = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]
    assert strip(read_metrics(tmp_path / "split")) == strip(read_metrics(tmp_path / "whole"))


@pytest.mark.slow
def test_a_signal_to_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    """SIGTERM reaches rank 1 alone after step 5: the ranks agree (all-reduce of the flags), rank 0 writes
    the checkpoint of step 5 (both ranks' states in it), both exit 143."""
    common = ["--float64", "--steps", "8", "--log-every", "1", "--ckpt-every", "100"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KEXUE_TEST_SIGNAL_AT": "5", "KEXUE_TEST_SIGNAL_RANK": "1"}
    cut = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                          "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(SCRIPT), str(tmp_path / "two"),
                          *common, "--accum", "2"], env=env, capture_output=True, text=True, timeout=180)
    assert cut.returncode != 0 and "exitcode: 143" in cut.stdout + cut.stderr, cut.stdout + cut.stderr
    state = torch.load(tmp_path / "two" / "trainer_state.pt", weights_only=True)
    assert state["step"] == 5 and len(state["ranks"]) == 2
    assert max(r["step"] for r in read_metrics(tmp_path / "two")) == 5
    # (that a torchrun resume from a checkpoint ends where an unbroken run ends is the test above)


@pytest.mark.slow
def test_ranks_with_different_settings_stop_in_one_line_instead_of_hanging(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KEXUE_TEST_RANK1_STEPS": "9"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                        "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(SCRIPT), str(tmp_path / "x"),
                        "--steps", "8"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "the torchrun ranks were given different settings" in r.stdout + r.stderr


def test_a_cpu_device_in_a_group_started_on_cuda_is_one_line(monkeypatch):
    """A command's preamble joins the group for the device it knows; a resumed run's saved device
    "cpu" cannot use an NCCL group: a clear error, not a hang in the first collective."""
    import torch.distributed as dist

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_rank", lambda: 0)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(dist, "get_backend", lambda: "nccl")
    with pytest.raises(ValueError, match="started on CUDA \\(nccl\\); give the device on the command line"):
        init_distributed("cpu")
    monkeypatch.setattr(dist, "get_backend", lambda: "gloo")
    assert init_distributed("cpu") == (0, 2, torch.device("cpu"))
