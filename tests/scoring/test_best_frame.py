"""A clip's frame to show: the best by the rubric's score, ties by the model's confidence."""

from __future__ import annotations

import pytest

from scoring.answer import Assessment, Deduction, Structure
from scoring.frames import best_frame, confidence


def assessed(score, plane_conf=None, structure_confs=()):
    return Assessment(
        structures=[Structure(f"s{i}", (0, 0, 10, 10), c) for i, c in enumerate(structure_confs)],
        score=score,
        plane_confidence=plane_conf,
    )


def test_the_highest_score_wins_whatever_the_confidence():
    assert best_frame([assessed(6, 0.99), assessed(8, 0.1), assessed(7, 0.9)]) == 1


def test_equal_scores_go_to_the_more_confident_frame():
    frames = [assessed(8, 0.5, (0.5,)), assessed(8, 0.9, (0.8,)), assessed(8, 0.7)]
    assert best_frame(frames) == 1


def test_a_frame_without_a_score_never_wins_over_one_with_a_score():
    assert best_frame([assessed(None, 1.0), assessed(0, 0.1)]) == 1


def test_full_ties_go_to_the_earliest_frame():
    assert best_frame([assessed(5), assessed(5), assessed(5)]) == 0


def test_confidence_is_the_mean_of_what_the_model_gave():
    a = assessed(5, 0.9, (0.5, 0.7))
    a.deductions.append(Deduction("x", 1, "", None, 0.3))
    assert confidence(a) == pytest.approx((0.9 + 0.5 + 0.7 + 0.3) / 4)
    assert confidence(assessed(5)) is None


def test_no_frames_is_an_error():
    with pytest.raises(ValueError):
        best_frame([])
