"""One writer per run folder, between real processes: a second `kexue lru train` (a plain run, or a second
--resume) into a folder being written is refused in one line naming the writer's PID, exit 2; a writer
cut by SIGKILL leaves the lock free."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kexue.train.checkpoint import checkpoint_step

ROOT = Path(__file__).resolve().parents[1]
LRU = ["lru", "train", "--task", "copy", "--preset", "smoke", "--no-progress", "--set", "train.ckpt_every=1",
       "--set", "train.ckpt_minutes=0"]


def kexue(*args: str) -> list[str]:
    return [sys.executable, "-c", "from kexue.cli import main; main()", *args]


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "RANK": "0"}


def checkpointed(out: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Wait until `proc` has written its first checkpoint into `out` (it takes the lock before it writes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the first writer ended before the second one started"
        if (out / "trainer_state.pt").exists():
            return
        time.sleep(0.2)
    raise AssertionError(f"{out}: no checkpoint by {proc.pid}")


def test_a_second_writer_is_refused_and_a_killed_one_frees_the_lock(tmp_path):
    out = tmp_path / "run"
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(kexue(*LRU, "--set", "train.steps=100000", "--out", str(out)), cwd=tmp_path,
                             env=env(), stdout=log, stderr=subprocess.STDOUT)
    others: list[subprocess.Popen] = []
    try:
        checkpointed(out, first)
        extras = ([], ["--resume"], ["--overwrite"])  # a plain run, a second --resume, an --overwrite, at once
        others = [subprocess.Popen(kexue(*LRU, "--set", "train.steps=100000", "--out", str(out), *extra), cwd=tmp_path,
                                   env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                  for extra in extras]
        for extra, other in zip(extras, others):
            _, stderr = other.communicate(timeout=300)
            assert other.returncode == 2, (extra, stderr)
            assert stderr == f"error: {out} is in use by another kexue process (PID {first.pid}); wait for it to " \
                             "end, or give another --out\n", extra
        assert first.poll() is None  # the writer went on
        from kexue.train.lock import LOCK_FILE  # (after the refusals: the old code had no lock to import)
        assert (out / LOCK_FILE).read_text() == f"{first.pid}\n"
    finally:
        for p in (first, *others):
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.wait()
        log.close()
    # the OS released the lock with the process: a --resume takes it and continues the run one more step
    step = checkpoint_step(out)
    r = subprocess.run(kexue(*LRU, "--out", str(out), "--resume", "--set", f"train.steps={step + 1}"), cwd=tmp_path,
                       env=env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    from kexue.train.lock import hold, is_held, release
    assert checkpoint_step(out) == step + 1 and not (out / LOCK_FILE).exists()
    hold(out)  # and so does this process, once that one ended
    assert is_held(out)
    release(out)
    assert not (out / LOCK_FILE).exists()


def test_the_lock_is_reentrant_in_a_process_and_exclusive_between_processes(tmp_path):
    from kexue.train.lock import LOCK_FILE, RunLocked, hold, is_held, release

    out = tmp_path / "new"
    hold(out)
    hold(out)  # the command line, then the Trainer
    assert (out / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    code = "from kexue.train.lock import hold; hold({!r})".format(str(out))
    r = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and f"RunLocked: {out} is in use by another kexue process (PID {os.getpid()})" in r.stderr
    release(out)
    assert is_held(out)
    release(out)
    assert not out.exists()  # the lock made the folder and nothing else was written: both gone
    r = subprocess.run([sys.executable, "-c", code + "; print('held')"], env=env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stdout == "held\n"
    assert issubclass(RunLocked, ValueError)  # a user's mistake on the command line: exit 2
