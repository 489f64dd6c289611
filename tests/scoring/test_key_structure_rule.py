"""The rubric's rule for key structures: on a standard plane each key structure is boxed or
carries its "not displayed" deduction. A record that breaks it is refused, and a model's answer
that breaks it is scored as the rule says (never as perfect) and flagged for review."""

from __future__ import annotations

from hypothesis import given, settings

from scoring.answer import parse, parse_events, render
from scoring.records import check_record
from tests.scoring.strategies import RUBRIC, answers


def _record(planes, structures=(), deductions=(), score=10.0):
    return {
        "image": "a.png",
        "width": 200,
        "height": 200,
        "planes": list(planes),
        "structures": [{"id": s, "box": [10, 10, 60, 60]} for s in structures],
        "deductions": [{"item": d, "box": None} for d in deductions],
        "score": score,
    }


def test_a_plane_with_nothing_boxed_and_nothing_deducted_is_refused_naming_each_structure():
    _, problems = check_record(_record(["RPV"]), RUBRIC)
    named = [p for p in problems if "neither boxed nor deducted" in p]
    assert len(named) == 3
    for sid in ("right_lobe", "rpv", "mpv"):
        assert any(p.startswith(f"{sid} (") and f"RPV.{sid}.missing, -3" in p for p in named)


def test_the_same_plane_with_its_not_displayed_deductions_passes_and_scores_one():
    items = ["RPV.right_lobe.missing", "RPV.rpv.missing", "RPV.mpv.missing"]
    record, problems = check_record(_record(["RPV"], deductions=items, score=1.0), RUBRIC)
    assert problems == [] and record.score == 1.0 and record.grade == "Poor"


def test_boxed_or_deducted_each_structure_passes():
    record = _record(["RPV"], ["right_lobe", "mpv"], ["RPV.rpv.missing"], score=7.0)
    assert check_record(record, RUBRIC)[1] == []


def test_a_dual_plane_counts_a_shared_structure_once_under_either_plane():
    # GB + RKL share the right liver lobe: one "not displayed" of either plane accounts for it
    boxes = ["gallbladder", "right_kidney"]
    for owner in ("GB", "RKL"):
        record = _record(["GB", "RKL"], boxes, [f"{owner}.right_lobe.missing"], score=7.0)
        assert check_record(record, RUBRIC)[1] == [], owner


def test_a_non_standard_image_has_no_key_structures():
    record = _record(["NS"], deductions=["NS.not_standard"], score=0.0)
    assert check_record(record, RUBRIC)[1] == []


def test_an_answer_that_leaves_every_structure_out_is_not_scored_ten():
    text = "Structures: none\nPlane: RPV\nDeductions: none\nScore: 10"
    events, a = parse_events(text, RUBRIC)
    assert a.score == 1.0 and a.grade == "Poor" and a.needs_review
    codes = [e["code"] for e in events if e["type"] == "error"]
    assert codes.count("structure_unaccounted") == 3 and "score_mismatch" in codes
    added = [e for e in events if e["type"] == "deduction"]
    assert [e["item"] for e in added] == [
        "RPV.right_lobe.missing",
        "RPV.rpv.missing",
        "RPV.mpv.missing",
    ]
    assert all("not in the AI's answer" in e["reason"] for e in added)
    assert [e["type"] for e in events][-1] == "score"  # the added deductions precede the score


@settings(max_examples=150, deadline=None)
@given(answers(keep_rule=False))
def test_any_answer_is_scored_by_the_rule(answer):
    """Whatever the model leaves out, the parsed assessment keeps the rule, its score is the
    rubric's score of what it then holds, and an answer that broke the rule is flagged."""
    a = parse(render(answer, RUBRIC), RUBRIC)
    boxed = [s.id for s in a.structures]
    items = [d.item for d in a.deductions]
    assert RUBRIC.unaccounted(a.planes, boxed, items) == []
    assert a.score == RUBRIC.score(items)
    broke = RUBRIC.unaccounted(answer.planes, boxed, [d.item for d in answer.deductions])
    assert a.needs_review == bool(broke)
