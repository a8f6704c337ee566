"""A run SIGKILLed after a checkpoint and resumed ends exactly where an unbroken run ends."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kexue.train.checkpoint import read_safetensors
from kexue.train.progress import read_metrics

SCRIPT = Path(__file__).with_name("tiny_run.py")


def launch(out: Path, *extra: str, kill_at: int = 0) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KEXUE_TEST_KILL_AT": str(kill_at)}
    return subprocess.Popen([sys.executable, str(SCRIPT), str(out), "--dropout", "0.3", *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> int:
    out, err = proc.communicate(timeout=120)
    if proc.returncode not in (0, -signal.SIGKILL):
        pytest.fail(f"training script failed ({proc.returncode}):\n{out}\n{err}")
    return proc.returncode


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_unbroken_run(tmp_path):
    # checkpoints every 5 steps; killed right after the step-10 checkpoint, and at step 13 (work since the
    # checkpoint, including the record of step 12, is lost and redone)
    kills = (10, 13)
    runs = [launch(tmp_path / "whole")] + [launch(tmp_path / f"kill{k}", kill_at=k) for k in kills]
    codes = [finish(p) for p in runs]
    assert codes == [0, -signal.SIGKILL, -signal.SIGKILL]
    for k in kills:
        steps = [r["step"] for r in read_metrics(tmp_path / f"kill{k}")]
        assert max(steps) == (12 if k == 13 else 9)  # the killed run got this far
    resumed = [launch(tmp_path / f"kill{k}", "--resume") for k in kills]
    assert [finish(p) for p in resumed] == [0, 0]

    whole_weights, _ = read_safetensors(tmp_path / "whole" / "model.safetensors")
    whole_ema, _ = read_safetensors(tmp_path / "whole" / "ema.safetensors")
    whole_log = read_metrics(tmp_path / "whole")
    for k in kills:
        run = tmp_path / f"kill{k}"
        weights, meta = read_safetensors(run / "model.safetensors")
        assert meta["step"] == "20"
        for name, w in whole_weights.items():
            assert torch.equal(weights[name], w), f"{name} differs after the resume at step {k}"
        ema, _ = read_safetensors(run / "ema.safetensors")
        assert all(torch.equal(ema[name], w) for name, w in whole_ema.items())
        log = read_metrics(run)
        strip = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]
        assert strip(log) == strip(whole_log)  # losses, accuracies, lrs, grad norms and evals, bit for bit
        assert not [p for p in os.listdir(run) if ".tmp-" in p]
