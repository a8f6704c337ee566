"""Start `kexue ARGS` as one process or under torchrun on the loopback, for the tests that compare a
one-process run with a DDP one (or watch ranks share a run folder)."""
import os
import socket
import subprocess
import sys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_cmd(processes: int, target: list[str]) -> list[str]:
    """`python -m torch.distributed.run` with `processes` workers on the loopback, running `target`
    (a script path and its arguments, or ["-m", "kexue", ...])."""
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
            "--master_addr=127.0.0.1", f"--master_port={free_port()}", *target]


def launch(args: list[str], processes: int, merge_stderr: bool = True, **env: str) -> subprocess.Popen:
    """`kexue ARGS` with one thread per process: plainly when processes == 1, else under torchrun."""
    cmd = [sys.executable, "-m", "kexue", *args] if processes == 1 else torchrun_cmd(processes, ["-m", "kexue", *args])
    return subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1", **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE, text=True)
