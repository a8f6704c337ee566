"""`kexue roformer pretrain` as a script, for the resume and DDP tests (also under torchrun).

    python pretrain_run.py --out DIR --corpus FILE [any other `kexue roformer pretrain` option]

With KEXUE_TEST_KILL_AT=k in the environment the process SIGKILLs itself after optimizer step k
(after that step's record and checkpoint are written, and after pretrain's own on_step), as a crash would.
"""
import os
import signal
import sys

import kexue.roformer.pretrain as pretrain_module
from kexue.roformer.cli import app
from kexue.train import leave_and_exit


class KillingTrainer(pretrain_module.Trainer):
    def __init__(self, *args, on_step=None, **kwargs):
        kill_at = int(os.environ.get("KEXUE_TEST_KILL_AT", "0"))

        def on_step_then_die(trainer, step: int) -> None:
            if on_step is not None:
                on_step(trainer, step)
            if step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        super().__init__(*args, on_step=on_step_then_die, **kwargs)


def main() -> None:
    pretrain_module.Trainer = KillingTrainer
    # standalone_mode=False returns the exit status of a clean error (typer.Exit) instead of exiting
    status = app(["pretrain", *sys.argv[1:]], standalone_mode=False)
    leave_and_exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
