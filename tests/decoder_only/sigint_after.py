"""`python tests/decoder_only/sigint_after.py K ARGS...`: `python -m kexue ARGS...` in a process that sends
itself a real SIGINT when optimizer step K of its first Trainer run is done (the Trainer's handler then
checkpoints, and the command exits 130). A subprocess, so the exit status and stderr are the real ones."""
import os
import signal
import sys

from kexue.train.loop import Trainer

step = int(sys.argv[1])
original = Trainer._train_step


def step_then_signal(self, t):
    out = original(self, t)
    if t + 1 == step:
        os.kill(os.getpid(), signal.SIGINT)
    return out


Trainer._train_step = step_then_signal
sys.argv = ["kexue", *sys.argv[2:]]
from kexue.cli import main  # noqa: E402

main()
