"""A checkpoint's plane calibration and review thresholds (scoring.calibration, issue 10)."""

from __future__ import annotations

import pytest

from scoring.calibration import (
    Calibration,
    PlaneCalibration,
    fit_plane_calibration,
    pool_adjacent_violators,
)


def test_pav_makes_a_sequence_monotone_by_pooling_weighted_neighbours():
    pooled = pool_adjacent_violators([0.2, 0.6, 0.4, 0.8], [1, 1, 3, 1])
    assert pooled == pytest.approx([0.2, 0.45, 0.45, 0.8])
    assert pool_adjacent_violators([0.1, 0.2], [1, 1]) == [0.1, 0.2]


def test_the_map_interpolates_between_knots_and_is_flat_beyond_them():
    cal = PlaneCalibration((0.5, 0.9), (0.2, 0.6))
    assert cal(0.7) == pytest.approx(0.4)
    assert cal(0.1) == 0.2 and cal(0.99) == 0.6


@pytest.mark.parametrize(
    ("x", "y", "problem"),
    [((0.9, 0.5), (0.1, 0.2), "x must increase"), ((0.5, 0.9), (0.6, 0.2), "must not decrease"),
     ((0.5,), (1.5,), "in \\[0, 1\\]"), ((), (), "non-empty")],
)  # fmt: skip
def test_a_broken_map_is_refused(x, y, problem):
    with pytest.raises(ValueError, match=problem):
        PlaneCalibration(x, y)


def test_an_overconfident_model_is_mapped_to_how_often_it_was_right():
    # always 0.99 sure, right 60 % of the time; 0.6 sure, right 30 % of the time
    pairs = [(0.99, k % 5 < 3) for k in range(100)] + [(0.6, k % 10 < 3) for k in range(100)]
    cal = fit_plane_calibration(pairs, bins=4)
    assert cal(0.99) == pytest.approx(0.6) and cal(0.6) == pytest.approx(0.3)
    assert len(cal.x) == len(set(cal.x))  # one knot per distinct raw confidence


def test_a_checkpoint_without_calibration_keeps_raw_confidence_and_default_review():
    assert Calibration.from_info({"prompt_detail": "compact"}) == Calibration()
    cal = Calibration.from_info(
        {"calibration": {"plane": {"x": [0.5, 1.0], "y": [0.3, 0.9]}, "review": None}}
    )
    assert cal.plane is not None and cal.plane(1.0) == 0.9 and cal.min_confidence is None
