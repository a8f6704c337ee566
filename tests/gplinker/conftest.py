"""Fixtures shared by the GPLinker tests."""
import pytest
from typer.testing import CliRunner

from kexue.gplinker import fixture
from kexue.gplinker.cli import app

TINY_RUN = ["--set", "train.steps=3", "--set", "train.batch_size=4", "--set", "encoder.hidden=16",
            "--set", "encoder.heads=2", "--set", "encoder.layers=1", "--set", "head.head_size=8"]


@pytest.fixture(scope="session")
def event_run(tmp_path_factory):
    """A tiny events run trained 3 steps on the DuEE sample with the sample as dev (read, never changed)."""
    out = tmp_path_factory.mktemp("ev") / "run"
    r = CliRunner().invoke(app, ["events", "train", "--train", str(fixture("duee_sample.json")),
                                 "--dev", str(fixture("duee_sample.json")), "--out", str(out), *TINY_RUN])
    assert r.exit_code == 0, r.output
    assert "event_level" in r.output and "argument_level" in r.output and "correct" in r.output
    return out
