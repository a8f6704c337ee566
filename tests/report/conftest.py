"""Fixtures of the report tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from .sample import make_out


@pytest.fixture
def sample_out(tmp_path: Path) -> Path:
    """A reproduce folder with two fake topics, their PNGs and results.json."""
    return make_out(tmp_path / "reproduce")
