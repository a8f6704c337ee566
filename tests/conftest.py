"""Suite-wide rule: in CI (the `CI` variable set, as `.ci/run` runs) a skipped test is a failure.

The parity tests against bert4torch, diffusers, transformers and the RoFormer oracle, and the Chromium
test of the page, must run there: `make test` installs what they need. Locally a skip is listed by
`pytest -rs` (the Makefile passes it) with its reason.
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
