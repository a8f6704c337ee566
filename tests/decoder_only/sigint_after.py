"""`python tests/decoder_only/sigint_after.py K ARGS...`: `python -m kexue ARGS...` in a process that sends
itself a real SIGINT when optimizer step K of its first Trainer run is done (the Trainer's handler then
checkpoints, and the command exits 130). A subprocess, so the exit status and stderr are the real ones."""
import sys

from tests.interrupt import signal_after

signal_after(int(sys.argv[1]))  # registered for the whole process (kexue/train/callbacks.py)
sys.argv = ["kexue", *sys.argv[2:]]
from kexue.cli import main  # noqa: E402

main()
