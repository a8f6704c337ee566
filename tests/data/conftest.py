"""Parsed corpora, once per test session (the readers also cache; this keeps tests independent of that)."""
import pytest

from kexue.data import load_msra, load_peoples_daily


@pytest.fixture(scope="session")
def msra_train():
    return load_msra("train")


@pytest.fixture(scope="session")
def msra_test():
    return load_msra("test")


@pytest.fixture(scope="session")
def peoples_daily():
    return load_peoples_daily()


@pytest.fixture(scope="session")
def peoples_daily_paragraphs():
    return load_peoples_daily(unit="paragraph")
