"""What `mnas validate` reports beyond the table: how long it still takes, and how well the
search's objective ranked the candidates (Kendall's tau-b)."""

import math

import pytest

from mnas.search.retrain import kendall_tau
from mnas.train.progress import Remaining, duration


@pytest.mark.parametrize("xs, ys", [([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]),
                                    ([70, 70, 50, 10], [88.1, 90.0, 75.3, 75.3]),
                                    ([3, 1, 2], [30, 10, 20]),
                                    ([1, 2, 3], [3, 2, 1])])
def test_kendall_tau_b_agrees_with_scipy(xs, ys):
    stats = pytest.importorskip("scipy.stats")
    assert kendall_tau(xs, ys) == pytest.approx(stats.kendalltau(xs, ys).statistic)


def test_kendall_tau_by_hand_and_undefined_cases():
    # (1,2,3) vs (1,3,2): pairs (1,2) and (1,3) concordant, (2,3) discordant: (2 - 1) / 3
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert math.isnan(kendall_tau([1], [5])) and math.isnan(kendall_tau([2, 2], [1, 3]))
    with pytest.raises(ValueError):
        kendall_tau([1, 2], [1])


def test_remaining_time_from_the_epochs_seen():
    left = Remaining(6)
    assert left.left() is None and left.describe() == ""
    left.add(10.0)
    left.add(20.0)
    assert left.left() == pytest.approx(60.0)        # 15 s x 4 epochs
    left.skip(2)                                      # finished by an earlier run
    assert left.left() == pytest.approx(30.0) and left.describe() == "about 30 s left"


@pytest.mark.parametrize("seconds, text", [(0, "0 s"), (59.4, "59 s"), (185, "3 min 5 s"),
                                           (7620, "2 h 07 min")])
def test_durations_read_naturally(seconds, text):
    assert duration(seconds) == text
