"""Progress a person can follow in a log: plain lines with step, loss, rate and an ETA of the whole run."""
import io
import re

import pytest
from rich.console import Console

from kexue.train import progress as P
from kexue.train.progress import StepProgress, phase


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(P.time, "perf_counter", c)
    return c


def log_console() -> Console:
    return Console(file=io.StringIO(), force_terminal=False, width=80)


def test_a_log_gets_a_line_every_interval_with_rate_and_eta(clock):
    console = log_console()
    bar = StepProgress(10, 0, True, console=console, every=60)
    for step in range(1, 6):
        clock.now += 40.0  # slow steps: 40 s each
        bar.update(step, lr=1e-3, loss=2.5 - 0.1 * step)
    bar.close()
    lines = console.file.getvalue().splitlines()
    # lines when 60 s have passed since the last (steps 2 and 4), and one at close (step 5)
    assert lines[0] == "train 2/10 (20 %) loss 2.3 lr 0.001 40.0 s/it elapsed 1m20s eta 5m20s"
    assert lines[1] == "train 4/10 (40 %) loss 2.1 lr 0.001 40.0 s/it elapsed 2m40s eta 4m00s"
    assert lines[-1] == "train 5/10 (50 %) loss 2 lr 0.001 40.0 s/it elapsed 3m20s eta 3m20s"  # at close
    assert len(lines) == 3


def test_the_eta_is_of_the_whole_session_and_a_resume_counts_from_its_start(clock):
    console = log_console()
    bar = StepProgress(100, 90, True, console=console, every=0)
    clock.now += 5.0
    bar.update(91)
    clock.now += 15.0
    bar.update(92)  # 2 steps in 20 s: 10 s/it over the session, not the last step's 15
    assert bar.line().endswith("10.0 s/it elapsed 20s eta 1m20s")


def test_fast_steps_read_in_it_per_s_slow_ones_in_s_per_it_and_long_runs_in_hours(clock):
    fast = StepProgress(1000, 0, True, console=log_console(), every=3600)
    clock.now += 59.0
    fast.update(738)  # 738 steps in 59 s: 12.5 it/s; 262 left at that rate: 21 s
    assert fast.line().endswith("12.5 it/s elapsed 59s eta 21s")
    slow = StepProgress(4000, 0, True, console=log_console(), every=3600)
    clock.now += 3 * 3600 + 5 * 60
    slow.update(2775)  # 11100 s for 2775 steps: 4.0 s/it; 1225 left: 4900 s
    assert slow.line().endswith("4.0 s/it elapsed 3h05m eta 1h21m")


def test_a_terminal_gets_the_rich_bar_and_a_disabled_bar_prints_nothing(clock):
    terminal = Console(file=io.StringIO(), force_terminal=True, width=120)
    bar = StepProgress(4, 0, True, console=terminal)
    bar.update(2, lr=0.1, loss=1.0)
    bar.close()
    drawn = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", terminal.file.getvalue())  # the text without colours
    assert "━" in drawn and "2/4 loss 1 lr 0.1" in drawn
    quiet = log_console()
    off = StepProgress(4, 0, False, console=quiet)
    off.update(3)
    off.close()
    assert quiet.file.getvalue() == ""


def test_a_phase_has_its_own_line(clock, monkeypatch):
    console = log_console()
    monkeypatch.setattr(P, "Console", lambda **kw: console)
    with phase("sampling", total=3) as bar:
        for _ in range(3):
            clock.now += 2.0
            bar.advance()
    assert re.fullmatch(r"sampling 3/3 \(100 %\) 2\.0 s/it elapsed 6s eta 0s\n", console.file.getvalue())


def test_the_trainer_writes_progress_lines_into_a_log(tmp_path, capsys, monkeypatch):
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    from kexue.train import TrainConfig, Trainer

    monkeypatch.setenv("KEXUE_PROGRESS_SECONDS", "0")
    x = torch.randn(16, 3)
    data = TensorDataset(x, x.sum(1, keepdim=True))
    Trainer(nn.Linear(3, 1), TrainConfig(steps=3, batch_size=4, log_every=1), data,
            lambda m, b: (m(b[0]) - b[1]).pow(2).mean(), tmp_path, device="cpu").fit()
    err = capsys.readouterr().err.splitlines()
    assert [line.split()[1] for line in err] == ["1/3", "2/3", "3/3", "3/3"]  # every step, and at the end
    assert all(re.search(r"loss [\d.]+ lr 0\.001 [\d.]+ (it/s|s/it) elapsed \d+s eta \d+s$", line) for line in err)


def test_a_long_evaluation_gets_its_own_line(tmp_path, capsys, monkeypatch):
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    from kexue.train import TrainConfig, Trainer

    monkeypatch.setenv("KEXUE_PROGRESS_SECONDS", "1000")
    x = torch.randn(16, 3)
    clock = [0.0]
    monkeypatch.setattr("kexue.train.loop.time.perf_counter", lambda: clock[0])

    def eval_fn(m):
        clock[0] += 3.5 if len(calls) == 0 else 0.5  # the first evaluation is long, the second is not
        calls.append(1)
        return {"x": 1.0}

    calls: list = []
    Trainer(nn.Linear(3, 1), TrainConfig(steps=4, batch_size=4, eval_every=2), TensorDataset(x, x.sum(1, keepdim=True)),
            lambda m, b: (m(b[0]) - b[1]).pow(2).mean(), tmp_path, device="cpu", eval_fn=eval_fn).fit()
    err = capsys.readouterr().err.splitlines()
    assert "eval at step 2: 3.5 s" in err and not any("eval at step 4" in line for line in err)
