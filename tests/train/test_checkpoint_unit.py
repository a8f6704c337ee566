"""A checkpoint is one unit: a run killed (as by SIGKILL) before any rename, write, sync, link or removal
of its first or second checkpoint continues to the very numbers of an unbroken run: a tiny Trainer at
every such operation, and `kexue lru train` (continued with --auto-resume) at a few."""
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.interrupt import assert_identical

ROOT = Path(__file__).resolve().parents[2]
LRU = ["lru", "train", "--task", "copy", "--preset", "smoke", "--no-progress", "--set", "train.steps=4",
       "--set", "train.ckpt_every=2", "--set", "train.ckpt_minutes=0", "--set", "train.log_every=1"]


def sweep(spec: dict) -> tuple[list[dict], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "tests.faults", json.dumps(spec)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    assert lines[0] == {"whole": 0}, p.stderr[-3000:]
    return lines[1:], p.stderr[-3000:]


def test_a_kill_at_every_operation_of_a_save_then_resume_is_bit_identical(tmp_path):
    cases, err = sweep({"trainer": True, "root": str(tmp_path), "saves": [1, 2]})
    for save_no in (1, 2):
        ran = [c for c in cases if c["save"] == save_no]
        assert ran[-1]["killed"] is False and ran[-1]["rc"] == 0  # the sweep went past the save's last operation
        assert len(ran) >= 5  # at least the writes, their syncs and the commit
    for c in cases:
        assert c["rc"] == 0, (c, err)
        assert_identical(tmp_path / "whole", Path(c["out"]), list(range(1, 7)))
        left = sorted(p.name for p in Path(c["out"]).iterdir())
        assert not [n for n in left if n.startswith(".") and n != ".lock"], left  # no temporaries left


def test_the_command_killed_inside_its_second_checkpoint_resumes_bit_identical(tmp_path):
    cases, err = sweep({"args": LRU, "root": str(tmp_path), "saves": [2], "ops": [2, 4, 6]})
    assert [c["killed"] for c in cases] == [True] * 3
    for c in cases:
        assert c["rc"] == 0, (c, err)
        assert_identical(tmp_path / "whole", Path(c["out"]), [1, 2, 3, 4])
