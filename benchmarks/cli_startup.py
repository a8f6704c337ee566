"""How long `kexue --help` and `kexue GROUP --help` take: the command line's start-up.

Each command runs `repeats` times as a fresh process; we report the min and median wall time and the
process's CPU time (user + system, from os.wait4), so a busy machine shows as wall ≫ CPU. Target:
< 0.5 s on this machine. Writes benchmarks/results/cli_startup.json.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

GROUPS = ["", "attention", "roformer", "gplinker", "diffusion", "lru", "decoder-only", "mad", "report"]
TARGET = 0.5


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of argv."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} exited {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime


def main(repeats: int = 5) -> None:
    kexue = shutil.which("kexue") or str(Path(sys.executable).with_name("kexue"))
    rows = []
    for group in GROUPS:
        argv = [kexue, *([group] if group else []), "--help"]
        runs = [timed(argv) for _ in range(repeats)]
        wall, cpu = [w for w, _ in runs], [c for _, c in runs]
        rows.append({"command": " ".join(["kexue", *argv[1:]]), "wall_min": min(wall),
                     "wall_median": statistics.median(wall), "cpu_min": min(cpu), "cpu_median": statistics.median(cpu),
                     "met": min(wall) < TARGET and statistics.median(wall) < TARGET})
        r = rows[-1]
        print(f"{r['command']:<28} wall {r['wall_min']:.2f} / {r['wall_median']:.2f} s   "
              f"CPU {r['cpu_min']:.2f} / {r['cpu_median']:.2f} s   {'met' if r['met'] else 'not met'}")
    out = Path(__file__).parent / "results" / "cli_startup.json"
    out.write_text(json.dumps({"target_s": TARGET, "repeats": repeats, "load_avg": os.getloadavg(),
                               "rows": rows}, indent=1), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
