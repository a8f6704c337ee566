"""One writer per run folder: an exclusive lock on run/.lock, held while a command or a Trainer writes it.

`hold(folder)` takes the lock (flock, so the OS releases it when the process dies, SIGKILL included) and
writes the holder's PID into the file; a second process gets RunLocked, one line naming that PID. The
lock is re-entrant within a process (the command line takes it before it looks at the folder, the
Trainer again around fit), counted, and released by `release(folder)` (or `release_all()`, at the end
of a command) when the count drops to 0: the file is then removed, and so is the folder when the lock
made it and nothing else was written there.

Why flock and not a PID file alone: a PID file outlives a crash and its PID may be reused; a lock the
kernel holds cannot. The file is removed only while locked, and a new holder checks that the file it
locked is still the one at the path (else it locks again), so two holders never coexist.
"""
from __future__ import annotations

import fcntl
import os
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

LOCK_FILE = ".lock"


class RunLocked(ValueError):
    """The run folder is being written by another process."""


@dataclass
class _Held:
    fd: int
    count: int
    made_folder: bool


# what this process holds: the one piece of process state, as the kernel's lock is the process's
_HELD: dict[str, _Held] = {}


def hold(folder: str | Path) -> None:
    """Take the lock of `folder` (made if missing) for this process, or raise RunLocked naming the holder."""
    folder = Path(folder)
    key = os.path.realpath(folder)
    if key in _HELD:
        _HELD[key].count += 1
        return
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLocked(f"{folder} is in use by another kexue process (PID {_holder(path)}); wait for it "
                            "to end, or give another --out") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:  # its holder removed it as we locked it: lock the new one
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _HELD[key] = _Held(fd, 1, made)


def release(folder: str | Path) -> None:
    """Give back one hold of `folder`; the last one unlocks it (and removes the file, and the folder
    when the lock made it and it is empty)."""
    key = os.path.realpath(folder)
    held = _HELD.get(key)
    if held is None:
        return
    held.count -= 1
    if held.count > 0:
        return
    del _HELD[key]
    try:
        (Path(key) / LOCK_FILE).unlink(missing_ok=True)  # while still locked: see the module doc
        if held.made_folder:
            with suppress(OSError):  # rmdir removes only an empty folder: one with a run in it stays
                Path(key).rmdir()
    finally:
        fcntl.flock(held.fd, fcntl.LOCK_UN)  # not only close: a forked data worker shares the descriptor
        os.close(held.fd)


def release_all() -> None:
    """Give back every lock this process holds (the end of a command)."""
    for key in list(_HELD):
        _HELD[key].count = 1
        release(key)


def is_held(folder: str | Path) -> bool:
    """Whether this process holds the lock of `folder`."""
    return os.path.realpath(folder) in _HELD


def _holder(path: Path) -> str:
    """The PID written in a lock file (its holder may be a moment from writing it)."""
    for _ in range(20):
        try:
            pid = path.read_text().strip()
        except FileNotFoundError:
            pid = ""
        if pid:
            return pid
        time.sleep(0.05)
    return "unknown"
