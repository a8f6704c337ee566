"""Suite-wide rule: in CI (the `CI` variable set, as `.ci/run` runs) a skipped test is a failure.

The parity tests against bert4torch, diffusers, transformers and the RoFormer oracle, and the Chromium
test of the page, must run there: `make test` installs what they need. Locally a skip is listed by
`pytest -rs` (the Makefile passes it) with its reason.

Under pytest-xdist (`make test` runs `-n auto`) each worker starts with COLUMNS=80 and LINES=24 in its
environment, which the command that started pytest did not have: a results table printed by a test then
cut its cells at 80 columns (tests/attention/test_cli.py failed on it). The workers get the controller's
values back.
"""
from __future__ import annotations

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {reason}"


TERMINAL = ("COLUMNS", "LINES")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist, on the controller: each worker is sent this process's COLUMNS and LINES."""
    node.workerinput["kexue_terminal"] = {k: os.environ.get(k) for k in TERMINAL}


def pytest_configure(config):
    """On an xdist worker: COLUMNS and LINES as the controller has them (unset where it has none)."""
    for k, v in getattr(config, "workerinput", {}).get("kexue_terminal", {}).items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test, as `kexue reproduce` runs a topic (quick and standard) and as every
    kexue.parallel worker does: tests that compare the loop with its workers bit for bit use it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
