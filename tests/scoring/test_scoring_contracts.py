"""Exact contracts of the scoring core that mutation testing (scripts/mutation.sh) showed no
other test pinned: the score event and Assessment.to_dict as the web stores and sends them,
the canonical form behind rubric versions, grade bands of a custom rubric, the problems
check_deductions lists, structure names, and box arithmetic on asymmetric boxes."""

from __future__ import annotations

import hashlib

import pytest
import yaml

from scoring.answer import Answer, Deduction, Structure, parse, parse_events, render
from scoring.boxes import area, clamp_box, from_norm, iou, is_valid_norm, to_norm
from scoring.rubric import RubricError, default_rubric, rubric_from_data, rubric_version

RUBRIC = default_rubric()
ANSWER = Answer(  # both key structures of GB boxed (the rubric's rule), one deduction
    structures=(
        Structure("gallbladder", (300, 420, 640, 610)),
        Structure("right_lobe", (80, 100, 900, 700)),
    ),
    planes=("GB",),
    deductions=(Deduction("ATT.mild", 2, "Shadow low left", (100, 700, 300, 900)),),
)


def test_the_score_event_is_exactly_the_wire_contract():
    events, _ = parse_events(render(ANSWER))
    assert events[-1] == {
        "type": "score",
        "score": 8.0,
        "grade": "Excellent",
        "stated": 8.0,
        "rubric_version": RUBRIC.version,
        "line": 7,
    }


def test_an_answer_without_a_valid_plane_has_its_score_withheld():
    text = render(ANSWER).replace("Plane: GB", "Plane: ZZ")
    events, result = parse_events(text)
    assert (result.complete, result.score, result.grade) == (False, None, None)
    assert {"type": "error", "code": "missing_section", "line": 7,
            "message": "No valid plane: the score is withheld"} in events  # fmt: skip
    assert not [e for e in events if e["type"] == "score"]


def test_an_unreadable_score_is_an_error_naming_it():
    result = parse(render(ANSWER).replace("Score: 8", "Score: eight"))
    assert result.score == 8.0 and result.stated_score is None  # the rubric's score stands
    assert [(e["code"], e["message"]) for e in result.errors] == [
        ("bad_score", "Cannot read the stated score 'eight'")
    ]


def test_to_dict_is_what_the_web_stores():
    result = parse(render(ANSWER))
    assert result.to_dict() == {
        "planes": ["GB"],
        "structures": [
            {"id": "gallbladder", "box": [300, 420, 640, 610], "confidence": None},
            {"id": "right_lobe", "box": [80, 100, 900, 700], "confidence": None},
        ],
        "deductions": [
            {
                "item": "ATT.mild",
                "points": 2,
                "reason": "Shadow low left",
                "box": [100, 700, 300, 900],
                "confidence": None,
            },
        ],
        "score": 8.0,
        "stated_score": 8.0,
        "grade": "Excellent",
        "rubric_version": RUBRIC.version,
        "complete": True,
        "needs_review": False,
        "errors": [],
        "ood_score": None,  # this parse had no image to score
        "abstained": False,
        "review_reasons": [],  # mark_for_review fills them (scoring.stream)
        "grade_trust": None,  # the checkpoint's fitted trust in the grade, when it has one
        "unsure_structures": [],  # boxes under the checkpoint's threshold
    }
    no_box = Answer(ANSWER.structures, ("GB",), (Deduction("GAIN.high", 1, "Too bright"),))
    assert parse(render(no_box)).to_dict()["deductions"][0]["box"] is None


def test_the_rubric_version_hashes_compact_sorted_utf8_json():
    data = {"name": "Échographie", "grades": [1, 2]}
    canon = '{"grades":[1,2],"name":"Échographie"}'
    assert rubric_version(data) == "r-" + hashlib.sha256(canon.encode("utf-8")).hexdigest()[:12]


def _custom_grades(grades):
    from importlib.resources import files

    data = yaml.safe_load(files("scoring").joinpath("rubrics/default.yaml").read_text())
    data["grades"] = grades
    return rubric_from_data(data)


def test_grade_bands_of_a_custom_rubric_with_a_floor_above_zero():
    rubric = _custom_grades([{"name": "Fail", "min": 0}, {"name": "Pass", "min": 0.5}])
    assert [rubric.grade(s) for s in (0, 0.2, 0.5, 0.9, 10, -1)] == [
        "Fail", "Fail", "Pass", "Pass", "Pass", "Fail",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="score is NaN"):
        rubric.grade(float("nan"))


def test_a_grade_band_list_must_start_at_zero():
    with pytest.raises(RubricError, match=r"grades\[0\]: the lowest band must start at 0, got 1"):
        _custom_grades([{"name": "Pass", "min": 1}, {"name": "Good", "min": 5}])


def test_check_deductions_lists_every_problem_in_order():
    problems = RUBRIC.check_deductions(
        ["GB"],
        ["ATT.mild", "ATT.mild", "NOPE.x", "SPL.spleen.missing", "ATT.severe", "GAIN.high"],
    )
    assert problems == [
        "deduction 'ATT.mild' applied twice",
        "unknown deduction item 'NOPE.x'",
        "deduction 'SPL.spleen.missing' does not apply to plane(s) GB",
        "deductions 'ATT.mild' and 'ATT.severe' exclude each other",
    ]
    assert RUBRIC.check_deductions(["GB", "RKL"], ["SPL.spleen.missing"]) == [
        "deduction 'SPL.spleen.missing' does not apply to plane(s) GB/RKL"
    ]
    assert RUBRIC.check_planes([]) == ["no plane label"]
    assert RUBRIC.check_planes(["GB", "GB"]) == ["plane label repeated in ['GB', 'GB']"]


def test_structures_are_found_by_name_or_id_tolerantly():
    assert RUBRIC.structure_id("Right liver lobe") == "right_lobe"
    assert RUBRIC.structure_id("  RIGHT-liver_lobe ") == "right_lobe"
    assert RUBRIC.structure_id("right_lobe") == "right_lobe"
    assert RUBRIC.structure_id("left kidney lobe") is None
    assert RUBRIC.structures_for(["GB", "GB"]) == RUBRIC.structures_for(["GB"])


def test_box_arithmetic_on_asymmetric_boxes():
    a, b = (0, 0, 20, 10), (5, 2, 25, 8)  # overlap 15 x 6 = 90; union 200 + 120 - 90 = 230
    assert iou(a, b) == pytest.approx(90 / 230) and iou(b, a) == pytest.approx(90 / 230)
    assert iou((0, 0, 0.5, 0.5), (0, 0, 0.5, 0.5)) == 1.0  # a union under 1 is still a union
    assert area((3, 1, 7, 9)) == 32 and area((5, 1, 3, 9)) == 0 and area((1, 5, 3, 2)) == 0
    assert area((0, 0, 0.5, 0.5)) == 0.25
    assert clamp_box((-5, -5, -1, -2), 10, 10) == (0, 0, 0, 0)
    assert to_norm((0, 0, 1, 1), 1, 1) == (0, 0, 1000, 1000)
    with pytest.raises(ValueError, match="image size must be positive, got 10x0"):
        to_norm((0, 0, 1, 1), 10, 0)
    assert from_norm((0, 0, 1000, 1000), 1, 1) == (0, 0, 1, 1)
    assert not is_valid_norm((0, 5, 10, 5)) and not is_valid_norm((5, 0, 5, 10))
    assert is_valid_norm((0, 0, 1000, 1000)) and not is_valid_norm((0, 0, 1001, 10))
