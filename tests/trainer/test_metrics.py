"""The paper's metrics on small cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.rubric import default_rubric
from trainer import metrics
from trainer.evaluate import evaluate

GB = [0, 0, 100, 100]


def rec(image, planes=(), structures=(), items=(), score=None, **extra):
    out = {
        "image": image,
        "width": 512,
        "height": 512,
        "planes": list(planes),
        "structures": [{"id": sid, "box": list(box)} for sid, box in structures],
        "deductions": [{"item": i, "box": None} for i in items],
        "score": score,
    }
    out.update(extra)
    return out


# ----------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("pred_box", "expected_tp"),
    [
        ([0, 0, 100, 49], 0),  # IoU 0.49: just under the threshold
        ([0, 0, 100, 50], 1),  # IoU 0.50 exactly: the threshold is inclusive
        ([0, 0, 100, 51], 1),  # IoU 0.51: just over
    ],
)
def test_a_box_matches_at_iou_half_or_more(pred_box, expected_tp):
    d = metrics.detection_metrics([([("gallbladder", pred_box)], [("gallbladder", GB)])])
    assert d["tp"] == expected_tp
    assert d["false_positives"] == 1 - expected_tp
    assert d["false_negatives"] == 1 - expected_tp
    if expected_tp:
        assert d["mean_iou"] == pytest.approx((pred_box[3]) / 100)
    else:
        assert d["mean_iou"] is None
        assert d["precision"] == 0.0 and d["recall"] == 0.0


def test_duplicate_boxes_of_one_structure_give_one_tp_and_the_rest_fps():
    pred = [
        ("gallbladder", [0, 0, 100, 60]),  # IoU 0.6
        ("gallbladder", [0, 0, 100, 90]),  # IoU 0.9: the best one is the match
        ("gallbladder", [0, 0, 100, 100]),  # IoU 1.0 but in the second image
    ]
    d = metrics.detection_metrics(
        [(pred[:2], [("gallbladder", GB)]), (pred[2:] * 2, [("gallbladder", GB)])]
    )
    assert (d["tp"], d["false_positives"], d["false_negatives"]) == (2, 2, 0)
    assert d["precision"] == 0.5
    assert d["recall"] == 1.0
    assert d["mean_iou"] == pytest.approx((0.9 + 1.0) / 2)
    row = d["per_structure"]["gallbladder"]
    assert (row["tp"], row["fp"], row["fn"], row["support"]) == (2, 2, 0, 2)


def test_a_box_only_matches_its_own_structure():
    d = metrics.detection_metrics(
        [([("aorta", GB)], [("gallbladder", GB), ("aorta", [0, 0, 9, 9])])]
    )
    assert (d["tp"], d["false_positives"], d["false_negatives"]) == (0, 1, 2)
    assert d["per_structure"]["aorta"] == {
        "tp": 0, "fp": 1, "fn": 1, "support": 1, "precision": 0.0, "recall": 0.0,
        "mean_iou": None,
    }  # fmt: skip
    assert d["per_structure"]["gallbladder"]["fn"] == 1


def test_matching_is_one_to_one_and_greedy_by_iou():
    truth = [[0, 0, 100, 100], [20, 0, 120, 100]]
    pred = [[5, 0, 105, 100], [0, 0, 100, 100]]  # pred 0 prefers truth 0 (IoU 0.905)
    pairs = metrics.match_boxes(pred, truth)
    # (pred 1, truth 0) has IoU 1.0 and is taken first; pred 0 then gets truth 1 (85/115).
    assert pairs == [(1, 0, 1.0), (0, 1, pytest.approx(85 / 115))]


def test_per_structure_precision_recall_and_mean_iou():
    images = [
        ([("aorta", [0, 0, 10, 10]), ("left_lobe", [0, 0, 100, 80])],
         [("aorta", [0, 0, 10, 10]), ("left_lobe", GB)]),
        ([("left_lobe", [0, 0, 100, 100])], [("left_lobe", GB), ("aorta", [0, 0, 10, 10])]),
    ]  # fmt: skip
    d = metrics.detection_metrics(images)
    assert d["per_structure"]["left_lobe"]["mean_iou"] == pytest.approx(0.9)
    assert d["per_structure"]["aorta"]["recall"] == 0.5
    assert d["per_structure"]["aorta"]["precision"] == 1.0
    assert d["mean_iou"] == pytest.approx((1.0 + 0.8 + 1.0) / 3)
    assert d["recall"] == pytest.approx(3 / 4)


# ----------------------------------------------------------------------------- planes

PLANE_TRUTH = [{"GB", "CBD"}, {"GB"}, {"RKL"}, {"LKL"}]
PLANE_PRED = [{"GB"}, {"GB"}, {"RKL", "LKL"}, {"LKL"}]


def test_subset_accuracy_and_label_accuracy_differ_on_two_label_images():
    codes = list(default_rubric().planes)
    p = metrics.plane_metrics(PLANE_PRED, PLANE_TRUTH, codes, n_boot=0)
    assert p["subset_accuracy"] == 0.5  # images 1 and 3 are not exact matches
    assert p["label_accuracy"] == pytest.approx((1 / 2 + 1 + 1 / 2 + 1) / 4)  # Jaccard
    assert p["hamming_accuracy"] == pytest.approx(1 - 2 / (4 * 12))  # 2 wrong of 48 decisions
    assert p["n_multi_label_truth"] == 1


def test_f1_per_plane_by_hand():
    p = metrics.plane_metrics(PLANE_PRED, PLANE_TRUTH, list(default_rubric().planes), n_boot=0)
    t = p["per_plane"]
    assert (t["GB"]["precision"], t["GB"]["recall"], t["GB"]["f1"], t["GB"]["support"]) == (
        1.0, 1.0, 1.0, 2,
    )  # fmt: skip
    assert (t["CBD"]["precision"], t["CBD"]["recall"], t["CBD"]["f1"]) == (0.0, 0.0, 0.0)
    assert t["LKL"]["precision"] == 0.5 and t["LKL"]["recall"] == 1.0
    assert t["LKL"]["f1"] == pytest.approx(2 / 3)
    assert t["SPL"]["support"] == 0
    # Macro over the planes that occur (GB, CBD, RKL, LKL), not over all twelve.
    assert p["f1_macro"] == pytest.approx((1 + 0 + 1 + 2 / 3) / 4)
    assert p["f1_micro"] == pytest.approx(2 * 4 / (2 * 4 + 1 + 1))


def test_single_label_confusion_has_none_and_multi_columns():
    c = metrics.single_label_confusion(
        [{"GB"}, set(), {"GB", "CBD"}, {"CBD"}],
        [{"GB"}, {"GB"}, {"GB"}, {"GB", "CBD"}],
        ["GB", "CBD"],
    )
    assert c["columns"] == ["GB", "CBD", "(none)", "(multi)"]
    assert c["matrix"] == [[1, 0, 1, 1], [0, 0, 0, 0]]  # the two-label truth image is left out


# ----------------------------------------------------------------------------- grades


def test_grade_confusion_accuracy_and_score_mae():
    truth = [rec(f"i{k}", ["GB"], score=s) for k, s in enumerate([9, 8.5, 7, 5, 2, 3])]
    pred = [rec(f"i{k}", ["GB"], score=s) for k, s in enumerate([9.5, 7, 7.5, 3, 2])]
    g = evaluate(pred, truth, n_boot=0)["grades"]
    assert g["labels"] == ["Poor", "Moderate", "Good", "Excellent"]
    assert g["confusion"] == [
        [1, 0, 0, 0],  # Poor: 2 -> Poor; 3 has no prediction (unscored)
        [1, 0, 0, 0],  # Moderate 5 -> Poor 3
        [0, 0, 1, 0],  # Good 7 -> Good 7.5
        [0, 0, 1, 1],  # Excellent 9 -> 9.5; 8.5 -> Good 7
    ]
    assert g["unscored"] == [1, 0, 0, 0]
    assert g["accuracy"] == 0.5
    assert g["per_grade_accuracy"] == {"Poor": 0.5, "Moderate": 0.0, "Good": 1.0, "Excellent": 0.5}
    assert g["score"]["n"] == 5
    assert g["score"]["mae"] == pytest.approx((0.5 + 1.5 + 0.5 + 2 + 0) / 5)


def test_an_explicit_grade_wins_and_band_edges_follow_the_rubric():
    truth = [rec("a", score=8.0), rec("b", score=6.0), rec("c", grade="Good")]
    pred = [rec("a", score=7.99), rec("b", score=6.0, grade="excellent"), rec("c", score=6)]
    g = evaluate(pred, truth, n_boot=0)["grades"]
    assert g["confusion"][3] == [0, 0, 1, 0]  # 8.0 is Excellent, 7.99 is Good
    assert g["confusion"][2] == [0, 0, 1, 1]  # the explicit "excellent" beats score 6
    assert g["score"]["n"] == 2  # truth "c" has no score


# ----------------------------------------------------------------------------- deductions


def test_deduction_item_precision_and_recall():
    truth = [
        rec("a", items=["ATT.mild", "GB.wall_unclear"]),
        rec("b"),
        rec("c", items=["GAIN.high"]),
    ]
    pred = [rec("a", items=["ATT.mild"]), rec("b", items=["NOISE.artefact"]),
            rec("c", items=["GAIN.high", "ATT.mild"])]  # fmt: skip
    x = evaluate(pred, truth, n_boot=0)["deductions"]
    per = x["per_item"]
    assert (per["ATT.mild"]["precision"], per["ATT.mild"]["recall"]) == (0.5, 1.0)
    assert (per["GB.wall_unclear"]["recall"], per["GB.wall_unclear"]["support"]) == (0.0, 1)
    assert per["NOISE.artefact"]["fp"] == 1 and per["GAIN.high"]["f1"] == 1.0
    assert (x["micro"]["tp"], x["micro"]["fp"], x["micro"]["fn"]) == (2, 2, 1)
    assert x["micro"]["precision"] == 0.5
    assert x["micro"]["recall"] == pytest.approx(2 / 3)
    assert x["micro"]["f1"] == pytest.approx(4 / 7)
    assert x["unknown_items"] == []


# ----------------------------------------------------------------------------- whole report


def test_empty_predictions_score_zero_and_count_as_missing():
    truth = [
        rec("a", ["GB"], [("gallbladder", GB)], ["ATT.mild"], score=8.0),
        rec("b", ["GB", "CBD"], [("cbd", [5, 5, 20, 20])], score=3.0),
    ]
    r = evaluate([], truth, n_boot=50)
    assert r["n_images"] == 2 and r["missing_predictions"] == 2
    d = r["detection"]
    assert (d["tp"], d["false_positives"], d["false_negatives"]) == (0, 0, 2)
    assert d["precision"] == 0.0 and d["recall"] == 0.0 and d["mean_iou"] is None
    assert r["planes"]["label_accuracy"] == 0.0 and r["planes"]["subset_accuracy"] == 0.0
    assert r["grades"]["accuracy"] == 0.0 and r["grades"]["unscored"] == [1, 0, 0, 1]
    assert r["grades"]["score"]["mae"] is None
    assert r["deductions"]["micro"]["recall"] == 0.0


def test_unknown_prediction_images_are_reported_and_ignored():
    truth = [rec("a", ["GB"], score=9)]
    pred = [rec("a", ["GB"], score=9), rec("ghost", ["LKL"], [("left_kidney", GB)], score=1)]
    r = evaluate(pred, truth, n_boot=0)
    assert r["unknown_predictions"] == {"count": 1, "images": ["ghost"]}
    assert r["missing_predictions"] == 0
    assert r["detection"]["false_positives"] == 0
    assert r["planes"]["subset_accuracy"] == 1.0 and r["grades"]["accuracy"] == 1.0
    assert r["paper"]["planes"]["subset_accuracy"] == 0.9628


def test_structure_display_names_are_mapped_to_ids():
    truth = [rec("a", structures=[("gallbladder", GB)])]
    pred = [rec("a", structures=[("Gallbladder", GB)])]
    assert evaluate(pred, truth, n_boot=0)["detection"]["tp"] == 1


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([rec("a"), rec("a")], "appears twice"),
        ([{"planes": []}], "'image'"),
        ([rec("a", score="8")], "'score'"),
        ([rec("a", grade="Superb")], "'grade'"),
        ([{"image": "a", "structures": [{"id": "aorta", "box": [1, 2, 3]}]}], "structures[0]"),
    ],
)
def test_bad_truth_records_are_named(records, message):
    with pytest.raises(ValueError) as exc:
        evaluate([], records, n_boot=0)
    assert message in str(exc.value) and "truth record #" in str(exc.value)


# ----------------------------------------------------------------------------- bootstrap


def _random_case(n=200, seed=1):
    rng = np.random.default_rng(seed)
    codes = ["GB", "CBD", "RKL", "LKL", "PAN"]
    truth, pred = [], []
    for _ in range(n):
        t = {codes[rng.integers(5)]}
        if rng.random() < 0.1:
            t.add(codes[rng.integers(5)])
        p = set(t) if rng.random() < 0.85 else {codes[rng.integers(5)]}
        truth.append(t)
        pred.append(p)
    return pred, truth


def test_bootstrap_cis_are_deterministic_for_a_seed_and_contain_the_estimate():
    pred, truth = _random_case()
    a = metrics.plane_metrics(pred, truth, n_boot=1000, seed=7)
    b = metrics.plane_metrics(pred, truth, n_boot=1000, seed=7)
    c = metrics.plane_metrics(pred, truth, n_boot=1000, seed=8)
    assert a["ci"] == b["ci"]
    assert a["ci"] != c["ci"]
    for key in ("label_accuracy", "subset_accuracy", "hamming_accuracy", "f1_macro", "f1_micro"):
        lo, hi = a["ci"][key]
        assert lo <= a[key] <= hi, key
        assert hi - lo < 0.2, key
    for code in ("GB", "PAN"):
        lo, hi = a["per_plane"][code]["f1_ci"]
        assert lo <= a["per_plane"][code]["f1"] <= hi


def test_bootstrap_resamples_keep_the_number_of_images():
    sums = metrics.bootstrap_sums(np.ones((37, 2)), n_boot=25, seed=3)
    assert sums.shape == (25, 2)
    assert (sums == 37).all()
    rows = np.arange(37, dtype=float)[:, None]
    means = metrics.bootstrap_sums(rows, n_boot=2000, seed=3)[:, 0] / 37
    assert abs(means.mean() - 18) < 0.3  # unbiased for the mean


def test_detection_and_grade_cis_contain_their_estimates():
    truth = [rec(f"i{k}", ["GB"], [("gallbladder", GB)], score=k % 11) for k in range(120)]
    pred = [
        rec(f"i{k}", ["GB"], [("gallbladder", [0, 0, 100, 60 + k % 41])], score=(k * 7) % 11)
        for k in range(120)
    ]
    r = evaluate(pred, truth, n_boot=500, seed=0)
    d, g = r["detection"], r["grades"]
    for key in ("precision", "recall", "mean_iou"):
        lo, hi = d["ci"][key]
        assert lo <= d[key] <= hi, key
    lo, hi = g["ci"]["accuracy"]
    assert lo <= g["accuracy"] <= hi
