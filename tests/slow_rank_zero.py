"""Test helper, a torchrun worker: `kexue ARGS` with rank 0 slow to clear a run folder, and every read
of a run.json logged (its "marker" field) to $KEXUE_TEST_READS.<rank>.

    torchrun --nproc_per_node=2 tests/slow_rank_zero.py lru train ... --overwrite

A rank that read the folder while rank 0 was still clearing it logs the old run's marker.
"""
import json
import os
import shutil
import sys
import time

import kexue.runs.folder

RANK = os.environ.get("RANK", "0")
LOG = f"{os.environ['KEXUE_TEST_READS']}.{RANK}"
_read_run, _rmtree = kexue.runs.folder.read_run, shutil.rmtree


def read_run(out):
    record = _read_run(out)
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps((record or {}).get("marker")) + "\n")
    return record


def slow_rmtree(path, *args, **kwargs):
    time.sleep(1.5)  # rank 0 takes its time: another rank reading now would see the old run
    _rmtree(path, *args, **kwargs)


kexue.runs.folder.read_run = read_run
shutil.rmtree = slow_rmtree

if __name__ == "__main__":
    from kexue.cli import main

    sys.argv = ["kexue", *sys.argv[1:]]
    main()
