"""An unflagged grade that can be trusted (issue 31): the grade's trust, fitted on a calibration
set, flags the grades it doubts and says why in words; boxes under the checkpoint's threshold
are kept but not counted as found."""

from __future__ import annotations

import random

import pytest

from scoring.answer import Assessment, Deduction, Structure
from scoring.calibration import TRUST_FEATURES, Calibration, GradeTrust
from scoring.rubric import default_rubric
from scoring.stream import ReviewThresholds, mark_for_review, trust_features
from trainer.calibrate import fit, fit_box_threshold, fit_grade_trust, risk_coverage, trust_rows

RUBRIC = default_rubric()


def _assessment(plane=0.9, line=0.9, score=10.0):
    a = Assessment(rubric_version=RUBRIC.version, complete=True)
    a.planes, a.plane_confidence, a.score = ["GB"], plane, score
    a.grade = RUBRIC.grade(score)
    a.structures = [Structure("gallbladder", (100, 100, 400, 400), line)]
    a.deductions = [Deduction("GB.gallbladder.incomplete", 2, "x", None, line)]
    return a


def _synthetic(n=400, seed=0):
    """Predictions whose grade is right more often the surer the plane line: what a fit on a
    calibration set meets, with the truth beside them."""
    rng = random.Random(seed)
    preds, truth = [], []
    for i in range(n):
        sure = rng.random()
        a = _assessment(plane=sure, line=rng.uniform(0.3, 1.0), score=rng.choice([4, 6, 8, 10]))
        right = rng.random() < 0.35 + 0.65 * sure
        truth.append({"image": f"{i}.png", "grade": a.grade if right else "Other"})
        preds.append({
            "image": f"{i}.png", "grade": a.grade, "score": a.score, "planes": ["GB"],
            "meta": {"trust": trust_features(a, RUBRIC), "complete": True, "errors": 0,
                     "abstained": False, "plane_confidence": sure, "min_confidence": sure,
                     "needs_review": False},
        })  # fmt: skip
    return preds, truth


def test_the_fitted_trust_shows_only_grades_right_nine_times_in_ten_on_a_fresh_set():
    preds, truth = _synthetic(seed=1)
    got = fit_grade_trust(preds, truth)
    assert got is not None
    trust = GradeTrust.from_dict(got["model"])
    assert got["chosen"]["accuracy"] >= 0.93 and got["chosen"]["coverage"] >= 0.2
    assert trust.weights[TRUST_FEATURES.index("plane_confidence")] > 0  # surer: trusted more
    fresh_p, fresh_t = _synthetic(seed=2)
    rows = trust_rows(fresh_p, fresh_t)
    probs = [trust.probability(r["features"]) for r in rows]
    shown = [r for r, p in zip(rows, probs, strict=True) if p >= trust.threshold]
    assert sum(r["right"] for r in shown) / len(shown) >= 0.88  # the fresh seed holds it
    curve = risk_coverage(probs, rows)
    assert curve[0]["coverage"] == 1.0 and curve[-1]["coverage"] < curve[0]["coverage"]


def test_a_doubted_grade_is_flagged_and_says_why_in_words():
    preds, truth = _synthetic(seed=1)
    trust = GradeTrust.from_dict(fit_grade_trust(preds, truth)["model"])
    policy = ReviewThresholds(grade_trust=trust)
    unsure = _assessment(plane=0.05, line=0.4, score=8)
    mark_for_review(unsure, policy, RUBRIC)
    assert unsure.needs_review and unsure.grade_trust < trust.threshold
    (reason,) = unsure.review_reasons
    assert reason.startswith("the AI is unsure of the grade: ")
    assert "which plane" in reason  # the feature that pulled it down, in words
    sure = _assessment(plane=0.99, line=0.99, score=10)
    mark_for_review(sure, policy, RUBRIC)
    assert (
        not sure.needs_review and sure.review_reasons == [] and sure.grade_trust >= trust.threshold
    )


def test_without_a_fitted_trust_the_thresholds_flag_and_say_why():
    a = _assessment(plane=0.3, line=0.9, score=10)
    mark_for_review(a, ReviewThresholds(), RUBRIC)
    assert a.needs_review and "uncertain (30% sure)" in a.review_reasons[0]
    broken = _assessment()
    broken.complete = False
    mark_for_review(broken, ReviewThresholds(), RUBRIC)
    assert broken.review_reasons[0] == "the AI did not finish its answer"


def test_boxes_under_the_threshold_are_chosen_on_the_calibration_set_and_not_counted():
    truth = [{"image": f"{i}.png", "structures": [{"id": "gallbladder", "box": [10, 10, 50, 50]}]}
             for i in range(20)]  # fmt: skip
    preds = []
    for i in range(20):  # a sure right box, and an unsure wrong one, on each image
        preds.append({"image": f"{i}.png", "meta": {"boxes": [
            {"id": "gallbladder", "box": [11, 11, 50, 50], "confidence": 0.9},
            {"id": "portal_vein", "box": [60, 60, 90, 90], "confidence": 0.2},
        ]}})  # fmt: skip
    got = fit_box_threshold(preds, truth)
    assert 0.2 < got["threshold"] <= 0.9
    assert got["chosen"]["precision"] == 1.0 and got["chosen"]["recall"] == 1.0


def test_the_calibration_round_trips_through_the_checkpoint_info():
    preds, truth = _synthetic(seed=3)
    result = fit(preds, truth)
    cal = Calibration.from_info({"calibration": result})
    assert isinstance(cal.grade_trust, GradeTrust)
    assert cal.grade_trust.threshold == pytest.approx(result["grade_trust"]["threshold"])
    with pytest.raises(ValueError, match="other features"):
        GradeTrust.from_dict({**result["grade_trust"], "features": ["plane_confidence"]})
