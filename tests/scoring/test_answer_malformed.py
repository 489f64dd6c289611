"""A corpus of malformed answers: each gives its error events and a partial assessment.

Never an exception, never a silent wrong score.
"""

from __future__ import annotations

import pytest

from scoring.answer import parse, parse_events
from scoring.rubric import default_rubric

RUBRIC = default_rubric()

GB = "<|object_ref_start|>Gallbladder<|object_ref_end|><|box_start|>(100,200),(300,400)<|box_end|>"
LIVER = (
    "<|object_ref_start|>Right liver lobe<|object_ref_end|><|box_start|>(0,0),(900,500)<|box_end|>"
)
GOOD = f"""Structures:
{GB}
{LIVER}
Plane: GB
Deductions:
1. GB.wall_unclear (-1): Wall blurred <|box_start|>(100,200),(300,260)<|box_end|>
2. ATT.mild (-2): Attenuation in the far field
Score: 7"""


# the right liver lobe's line lost: the rubric's rule scores it as not displayed (-3), so the
# stated 7 is not the score (scoring.answer: never a key structure left out scored as shown)
LOST = ["structure_unaccounted", "score_mismatch"]


def variant(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


# (id, text, expected error codes in order, expected score, structures kept, items kept)
CORPUS = [
    ("well formed", GOOD, [], 7.0, 2, 2),
    ("empty", "", ["truncated"], None, 0, 0),
    ("only whitespace", "\n\n  \n", ["truncated"], None, 0, 0),
    (
        "cut inside a structure line",
        GOOD[: GOOD.index("(0,0)")],
        ["bad_box", "truncated"],
        None,
        1,
        0,
    ),
    ("cut inside the deductions", GOOD[: GOOD.index("2. ATT")], ["truncated"], None, 2, 1),
    ("cut before the score", GOOD[: GOOD.index("Score")], ["truncated"], None, 2, 2),
    (
        "unknown structure",
        variant("Right liver lobe", "Appendix"),
        ["unknown_structure", *LOST],
        4.0,
        1,
        3,
    ),
    ("box out of range", variant("(900,500)", "(1200,500)"), ["bad_box", *LOST], 4.0, 1, 3),
    (
        "box without area",
        variant("(0,0),(900,500)", "(900,0),(100,500)"),
        ["bad_box", *LOST],
        4.0,
        1,
        3,
    ),
    ("box with one corner", variant("(0,0),(900,500)", "(0,0)"), ["bad_box", *LOST], 4.0, 1, 3),
    (
        "broken box tokens",
        variant("<|box_start|>(0,0),(900,500)<|box_end|>", "(0,0),(900,500)"),
        ["unrecognised_line", *LOST],
        4.0,
        1,
        3,
    ),
    (
        "unknown plane",
        variant("Plane: GB", "Plane: XYZ"),
        [
            "unknown_plane",
            "bad_plane",
            "item_not_applicable",
            "item_not_applicable",
            "missing_section",
        ],
        None,
        2,
        0,
    ),
    (
        "non-standard with a plane",
        variant("Plane: GB", "Plane: NS, GB"),
        ["bad_plane", "item_not_applicable", "item_not_applicable", "missing_section"],
        None,
        2,
        0,
    ),
    (
        "unknown item",
        variant("GB.wall_unclear (-1)", "GB.wall_glitter (-1)"),
        ["unknown_item", "score_mismatch"],
        8.0,
        2,
        1,
    ),
    (
        "item of another plane",
        variant("GB.wall_unclear (-1)", "LKL.sinus_unclear (-1)"),
        ["item_not_applicable", "score_mismatch"],
        8.0,
        2,
        1,
    ),
    (
        "duplicate item",
        variant("2. ATT.mild", "2. GB.wall_unclear"),
        ["duplicate_item", "score_mismatch"],
        9.0,
        2,
        1,
    ),
    (
        "exclusive items",
        variant("1. GB.wall_unclear (-1)", "1. ATT.severe (-6)"),
        ["exclusive_items", "score_mismatch"],
        4.0,
        2,
        1,
    ),
    ("wrong points", variant("ATT.mild (-2)", "ATT.mild (-5)"), ["points_mismatch"], 7.0, 2, 2),
    ("score disagrees", variant("Score: 7", "Score: 9.5"), ["score_mismatch"], 7.0, 2, 2),
    ("score unreadable", variant("Score: 7", "Score: seven"), ["bad_score"], 7.0, 2, 2),
    (
        "plane section missing",
        variant("Plane: GB\n", ""),
        ["missing_section", "item_not_applicable", "item_not_applicable", "missing_section"],
        None,
        2,
        0,
    ),
    (
        "deductions header missing",
        variant("Deductions:\n", ""),
        ["unrecognised_line", "unrecognised_line", "missing_section", "score_mismatch"],
        10.0,
        2,
        0,
    ),
    (
        "sections out of order",
        GOOD.replace("Plane: GB\n", "") + "\nPlane: GB",
        [
            "missing_section",
            "item_not_applicable",
            "item_not_applicable",
            "missing_section",
            "out_of_order",
        ],
        None,
        2,
        0,
    ),
    (
        "stray prose",
        variant("Plane: GB", "I think this is a nice image.\nPlane: GB"),
        ["unrecognised_line"],
        7.0,
        2,
        2,
    ),
    (
        "structure after the plane",
        variant("Deductions:", f"{LIVER}\nDeductions:"),
        ["out_of_order"],
        7.0,
        2,
        2,
    ),
]


@pytest.mark.parametrize(
    ("text", "codes", "score", "n_structures", "n_items"),
    [c[1:] for c in CORPUS],
    ids=[c[0] for c in CORPUS],
)
def test_malformed_answers_give_their_errors(text, codes, score, n_structures, n_items):
    events, assessment = parse_events(text, RUBRIC)
    assert [e["code"] for e in assessment.errors] == codes
    assert [e for e in events if e["type"] == "error"] == assessment.errors
    assert assessment.score == score
    assert len(assessment.structures) == n_structures
    assert len(assessment.deductions) == n_items
    if codes:
        assert assessment.needs_review
    if score is None:
        assert assessment.grade is None
        assert not any(e["type"] == "score" for e in events)
    else:
        assert assessment.grade == RUBRIC.grade(score)


def test_each_error_names_its_line():
    assessment = parse(variant("Right liver lobe", "Appendix"), RUBRIC)
    error = assessment.errors[0]
    assert error["line"] == 3
    assert "Appendix" in error["message"]


def test_the_stated_score_is_reported_but_never_trusted():
    assessment = parse(variant("Score: 7", "Score: 10"), RUBRIC)
    assert assessment.stated_score == 10
    assert assessment.score == 7
    assert "rubric gives 7" in assessment.errors[0]["message"]


def test_an_empty_deduction_reason_falls_back_to_the_item_condition():
    assessment = parse(variant("2. ATT.mild (-2): Attenuation in the far field", "2. ATT.mild"))
    assert assessment.deductions[1].reason == RUBRIC.items["ATT.mild"].condition


def test_random_bytes_never_raise():
    import random

    rng = random.Random(7)
    pieces = [*GOOD.split("\n"), "<|box_start|>", "(", ")", ",", "Score:", "-", "999999"]
    for _ in range(300):
        text = "".join(rng.choice(pieces) + rng.choice(["", "\n", " "]) for _ in range(12))
        assessment = parse(text, RUBRIC)
        assert assessment.score is None or 0 <= assessment.score <= 10
