"""`kexue.timing.against`: a measured speed-up (best and median) read against its target, every branch."""
import pytest

from kexue.timing import against


@pytest.mark.parametrize("best, median, verdict", [(3.2, 3.0, "met"), (3.5, 2.9, "within noise"),
                                                   (2.9, 2.5, "not met")])
def test_against_reads_best_and_median(best, median, verdict):
    assert against(3.0, best, median) == verdict
