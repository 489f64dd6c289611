"""Learning curves and skill decay (scoring.learning_curves): pure, so they test in milliseconds."""

from __future__ import annotations

import math

import pytest

from scoring.learning_curves import (
    fit_log_curve,
    learning_curve_estimate,
    rolling_levels,
    skill_decay,
)

EXCELLENT = 8.0  # the default rubric's top band starts here


def test_skill_decay_warns_when_recent_scores_fall():
    assert skill_decay([9, 9, 9, 9, 9, 7, 7, 7]) == "recent scores fell from 9.0 to 7.0"
    assert skill_decay([9, 9, 9, 9, 9, 7.5, 7.5, 7.5]) == "recent scores fell from 9.0 to 7.5"
    assert skill_decay([9, 9, 9, 9, 9, 7.6, 7.6, 7.6]) is None  # a 1.4 drop
    assert skill_decay([9, 9, 7, 7, 7]) is None  # too few scans


def test_the_fit_recovers_an_exact_log_linear_curve():
    a, b = fit_log_curve([4 + 2 * math.log(n) for n in range(1, 6)])
    assert a == pytest.approx(4) and b == pytest.approx(2)


def test_the_fit_needs_three_scores():
    assert fit_log_curve([5, 6]) is None


def test_the_estimate_counts_scans_until_three_in_a_row_reach_the_target():
    est = learning_curve_estimate([4 + 2 * math.log(n) for n in range(1, 6)], target=EXCELLENT)
    # The fit reaches 8 at n = e^2 = 7.4, so scan 8; three in a row there by scan 10: 5 more.
    assert (est.scans_to_excellent, est.reached, est.note) == (5, False, "about 5 more scans")


def test_the_target_is_the_callers():
    assert learning_curve_estimate([9, 8, 8.5], target=EXCELLENT).reached
    assert not learning_curve_estimate([9, 8, 8.5], target=9.5).reached


@pytest.mark.parametrize(
    ("scores", "note"),
    [
        ([7, 6], "needs at least 3 scans"),
        ([7, 6, 5, 5], "not improving yet"),
        ([2, 2.01, 2.02], "improving; a projection needs 5 scans"),
        ([2, 2.01, 2.02, 2.03, 2.04], "more than 500 scans at this rate"),
    ],
)
def test_the_estimate_says_why_it_has_no_number(scores, note):
    est = learning_curve_estimate(scores, target=EXCELLENT)
    assert (est.scans_to_excellent, est.note) == (None, note)


def test_the_level_after_each_scan_is_the_mean_of_the_last_three():
    assert rolling_levels([3, 6, 9, 3]) == [3, 4.5, 6, 6]
