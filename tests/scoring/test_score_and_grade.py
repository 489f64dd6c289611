"""Score = 10 minus the deductions, clamped to [0, 10]; grades at every boundary."""

from __future__ import annotations

import math

import pytest

from scoring.rubric import default_rubric


@pytest.fixture(scope="module")
def rubric():
    return default_rubric()


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        (0, "Poor"),
        (3.99, "Poor"),
        (4, "Moderate"),
        (5.99, "Moderate"),
        (6, "Good"),
        (7.99, "Good"),
        (8, "Excellent"),
        (10, "Excellent"),
        (-2, "Poor"),  # below 0 is clamped
        (11, "Excellent"),  # above the maximum is clamped
    ],
)
def test_grade_at_every_boundary(rubric, score, grade):
    assert rubric.grade(score) == grade


def test_a_nan_score_is_refused(rubric):
    with pytest.raises(ValueError):
        rubric.grade(math.nan)


def test_score_is_ten_minus_the_items(rubric):
    assert rubric.score([]) == 10
    assert rubric.score(["GB.gallbladder.incomplete"]) == 8
    assert rubric.score(["GB.gallbladder.incomplete", "GAIN.high"]) == 7
    assert rubric.score(["ATT.moderate", "GB.wall_unclear"]) == 5


def test_score_never_goes_below_zero(rubric):
    items = ["ATT.severe", "GB.gallbladder.missing", "GB.right_lobe.missing", "GAIN.low"]
    assert sum(rubric.items[i].points for i in items) == 13
    assert rubric.score(items) == 0
    assert rubric.grade(rubric.score(items)) == "Poor"


def test_non_standard_images_score_zero(rubric):
    assert rubric.score(["NS.not_standard"]) == 0


def test_grade_at_least_orders_the_bands_and_refuses_unknown_ones():
    rubric = default_rubric()
    assert rubric.grade_at_least("Excellent", "Good") and rubric.grade_at_least("Good", "Good")
    assert not rubric.grade_at_least("Moderate", "Good")
    assert not rubric.grade_at_least(None, "Poor") and not rubric.grade_at_least("", "Poor")
    assert not rubric.grade_at_least("Superb", "Poor")  # a band of another rubric version
    assert not rubric.grade_at_least("Excellent", "Superb")
