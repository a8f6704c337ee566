"""The time cap (kexue/train/timecap.py): minutes on a clock, the seconds before a resume counted."""
import pytest
from hypothesis import given, strategies as st

from kexue.train.timecap import TimeCap


class Ticks:
    """A clock that reads what the test sets."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_cap_is_due_after_its_minutes_and_not_before():
    clock = Ticks()
    cap = TimeCap(2.0, clock=clock)
    clock.now += 119.0
    assert not cap.due() and cap.seconds_left() == pytest.approx(1.0)
    clock.now += 1.0
    assert cap.due() and cap.seconds_left() == pytest.approx(0.0) and cap.minutes() == pytest.approx(2.0)


@given(minutes=st.floats(0.1, 100.0), before=st.floats(0.0, 10_000.0), spent=st.floats(0.0, 10_000.0))
def test_a_resumed_cap_counts_the_seconds_before(minutes, before, spent):
    """seconds_left = 60·max_minutes − (seconds before the resume + seconds since): one cap over both sessions."""
    clock = Ticks()
    cap = TimeCap(minutes, seconds_before=before, clock=clock)
    clock.now += spent
    assert cap.seconds_left() == pytest.approx(60.0 * minutes - before - spent, abs=1e-6)
    if abs(before + spent - 60.0 * minutes) > 1e-6:  # away from the boundary, where rounding decides
        assert cap.due() == (before + spent > 60.0 * minutes)


def test_no_cap_is_never_due():
    clock = Ticks()
    cap = TimeCap(0.0, seconds_before=1e9, clock=clock)
    assert not cap.due() and cap.seconds_left() == float("inf")


def test_restart_sets_the_seconds_spent():
    clock = Ticks()
    cap = TimeCap(1.0, clock=clock)
    clock.now += 50.0
    cap.restart(59.0)
    assert cap.seconds() == pytest.approx(59.0) and not cap.due()
    clock.now += 1.0
    assert cap.due()


def test_a_negative_cap_is_refused():
    with pytest.raises(ValueError, match="max_minutes=-1"):
        TimeCap(-1.0)
