"""The agreement rule, the consensus and the inter-rater figures of annotation campaigns
(abvlmq_web/annotation/agreement.py), against hand computations. Plain Python: no database."""

from __future__ import annotations

import pytest

from abvlmq_web.annotation.agreement import (
    cohen_kappa,
    compare,
    consensus_parts,
    figures,
    weighted_kappa,
)

GB = [
    {"id": "gallbladder", "box": [300, 420, 640, 610]},
    {"id": "right_lobe", "box": [120, 150, 880, 700]},
]


def ans(planes=("GB",), score=10.0, grade="Excellent", structures=GB, deductions=()):
    return {
        "planes": list(planes),
        "structures": [dict(s) for s in structures],
        "deductions": [{"item": d, "reason": "", "box": None} for d in deductions],
        "score": score,
        "grade": grade,
    }


def test_cohens_kappa_is_the_textbook_example():
    # 50 proposals, two readers: yes/yes 20, yes/no 5, no/yes 10, no/no 15.
    # p_o = 35/50 = 0.7; p_e = 25/50 * 30/50 + 25/50 * 20/50 = 0.3 + 0.2 = 0.5; kappa = 0.4
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    assert cohen_kappa([("GB", "GB")] * 5) is None  # one category only: not defined
    assert cohen_kappa([]) is None
    assert cohen_kappa([("a", "a"), ("b", "b")]) == pytest.approx(1.0)


def test_weighted_kappa_is_a_hand_computation():
    # scores (1,1), (2,2), (3,2), (3,3): observed mean squared difference 1/4; every pairing
    # of reader 1's score with reader 2's: a=1 -> 0+1+1+4, a=2 -> 1+0+0+1, a=3 (twice) ->
    # 4+1+1+0, so 6 + 2 + 12 = 20 over 16 = 1.25; kappa_w = 1 - 0.25 / 1.25 = 0.8
    assert weighted_kappa([(1, 1), (2, 2), (3, 2), (3, 3)]) == pytest.approx(0.8)
    # the same through the confusion matrix, as the quadratic-weighted kappa is usually written
    cats = [1, 2, 3]
    pairs = [(1, 1), (2, 2), (3, 2), (3, 3)]
    n = len(pairs)
    observed = {(i, j): sum(1 for p in pairs if p == (i, j)) / n for i in cats for j in cats}
    row = {i: sum(1 for a, _ in pairs if a == i) / n for i in cats}
    col = {j: sum(1 for _, b in pairs if b == j) / n for j in cats}
    w = {(i, j): (i - j) ** 2 for i in cats for j in cats}
    num = sum(w[k] * observed[k] for k in w)
    den = sum(w[i, j] * row[i] * col[j] for i in cats for j in cats)
    assert weighted_kappa(pairs) == pytest.approx(1 - num / den)
    assert weighted_kappa([(7, 7), (7, 7)]) is None


def test_two_records_agree_only_by_every_part_of_the_rule():
    assert compare(ans(), ans())["agree"]
    one_point = compare(ans(score=10), ans(score=9, deductions=["GAIN.high"]))
    assert one_point["agree"] and one_point["score_gap"] == 1
    assert compare(ans(score=8, grade="Excellent"), ans(score=7, grade="Good"))["reasons"] == [
        "the grades differ (Excellent and Good)"
    ]
    assert compare(ans(score=10), ans(score=8.5))["reasons"] == ["the scores are 1.5 points apart"]
    assert compare(ans(planes=["GB"]), ans(planes=["GB", "RKL"]))["reasons"] == [
        "the planes differ (GB and GB+RKL)"
    ]
    # IoU just above and just below 0.5: a 340 x 190 box shifted right
    shifted = [{"id": "gallbladder", "box": [410, 420, 750, 610]}, GB[1]]  # IoU 230/450 = 0.51
    assert compare(ans(), ans(structures=shifted))["agree"]
    further = [{"id": "gallbladder", "box": [420, 420, 760, 610]}, GB[1]]  # IoU 220/460 = 0.48
    names = {"gallbladder": "Gallbladder"}
    result = compare(ans(), ans(structures=further), names=names)
    assert result["reasons"] == ["the Gallbladder boxes overlap at IoU 0.48"]
    assert result["ious"]["gallbladder"] == [pytest.approx(220 / 460, abs=1e-4)]
    missing = compare(ans(), ans(structures=GB[1:]), names=names)
    assert missing["unmatched"] == ["gallbladder"]
    assert missing["reasons"] == ["only one reader boxed the Gallbladder"]


def test_the_consensus_averages_the_boxes_and_keeps_the_stricter_deductions():
    first = ans(score=10, deductions=[])
    second = ans(
        score=9,
        deductions=["GAIN.high"],
        structures=[{"id": "gallbladder", "box": [311, 421, 641, 611]}, GB[1]],
    )
    planes, structures, deductions = consensus_parts(first, second)
    assert planes == ["GB"]
    assert structures == [
        {"id": "gallbladder", "box": [306, 420, 640, 610]},  # (300+311)/2 = 305.5 -> 306
        {"id": "right_lobe", "box": [120, 150, 880, 700]},
    ]
    assert [d["item"] for d in deductions] == ["GAIN.high"]
    # a tie: the first record's deductions
    a, b = ans(score=9, deductions=["GAIN.high"]), ans(score=9, deductions=["GAIN.low"])
    assert [d["item"] for d in consensus_parts(a, b)[2]] == ["GAIN.high"]


def test_the_figures_of_a_few_double_reads():
    rows = [
        (ans(), ans(), False),
        (ans(), ans(planes=["RKL"], structures=GB[1:]), True),
        (ans(score=6, grade="Good"), ans(score=4, grade="Moderate"), True),
        (ans(planes=["RKL"]), ans(planes=["RKL"]), False),
    ]
    f = figures(rows)
    assert (f.scans, f.adjudicated, f.adjudication_share) == (4, 2, 0.5)
    # planes: (GB,GB) (GB,RKL) (GB,GB) (RKL,RKL): p_o 3/4; reader 1 GB 3 RKL 1, reader 2
    # GB 2 RKL 2: p_e = (3*2 + 1*2) / 16 = 0.5; kappa = (0.75 - 0.5) / 0.5 = 0.5
    assert f.plane_kappa == pytest.approx(0.5)
    assert f.plane_agreement == 0.75
    # grades: E/E, E/E, G/M, E/E: p_o 3/4; reader 1 E 3 G 1, reader 2 E 3 M 1: p_e 9/16
    assert f.grade_kappa == pytest.approx((0.75 - 9 / 16) / (1 - 9 / 16))
    assert f.box_iou["right_lobe"] == (pytest.approx(1.0), 4)
    assert f.box_iou["gallbladder"] == (pytest.approx(1.0), 3)
    assert f.unmatched == {"gallbladder": 1}
