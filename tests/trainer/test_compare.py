"""The report's targets, calibration, review triage, models side by side and curves."""

from __future__ import annotations

import json

import pytest

from trainer import compare


def _pred(image, planes, conf, grade="Good", review=False):
    meta = {"plane_confidence": conf, "needs_review": review}
    return {"image": image, "planes": planes, "grade": grade, "meta": meta}


def test_ece_is_the_weighted_gap_between_confidence_and_accuracy_per_bin():
    truth = [{"image": f"{k}", "planes": ["GB"], "grade": "Good"} for k in range(4)]
    preds = [
        _pred("0", ["GB"], 0.95),  # bin 0.9-1.0: 2 images, mean conf 0.925, accuracy 0.5
        _pred("1", ["LLA"], 0.90),
        _pred("2", ["GB"], 0.35),  # bin 0.3-0.4: 2 images, mean conf 0.325, accuracy 0.5
        _pred("3", ["GB", "RKL"], 0.30),  # a plane set is right only when it is the whole set
    ]
    cal = compare.calibration(preds, truth)
    assert cal["n"] == 4 and cal["accuracy"] == pytest.approx(0.5)
    assert cal["ece"] == pytest.approx(0.5 * abs(0.925 - 0.5) + 0.5 * abs(0.325 - 0.5))
    assert [b["n"] for b in cal["bins"]] == [2, 2]
    assert compare.calibration([{"image": "0", "planes": ["GB"]}], truth)["ece"] is None


def test_review_triage_counts_wrong_grades_caught_and_right_ones_flagged():
    truth = [{"image": f"{k}", "planes": ["GB"], "grade": "Good"} for k in range(5)]
    preds = [
        _pred("0", ["GB"], 0.9, "Poor", review=True),  # wrong, caught
        _pred("1", ["GB"], 0.9, "Poor", review=False),  # wrong, missed
        _pred("2", ["GB"], 0.9, "Good", review=True),  # right, flagged anyway
        _pred("3", ["GB"], 0.9, "Good", review=False),
        _pred("4", ["GB"], 0.9, None, review=True),  # no grade: wrong, caught
    ]
    t = compare.review_triage(preds, truth)
    assert (t["wrong"], t["wrong_flagged"], t["right"], t["right_flagged"]) == (3, 2, 2, 1)
    assert t["catch_rate"] == pytest.approx(2 / 3) and t["false_flag_rate"] == 0.5


def _report(plane, precision, recall, iou, grade, excellent, mae):
    return {
        "planes": {"label_accuracy": plane, "subset_accuracy": plane, "f1_macro": plane},
        "detection": {"precision": precision, "recall": recall, "mean_iou": iou, "f1": recall},
        "grades": {
            "accuracy": grade,
            "per_grade_accuracy": {"Excellent": excellent},
            "score": {"mae": mae},
        },
        "deductions": {"micro": {"f1": 0.5}},
    }


def test_targets_are_met_only_on_the_right_side_of_each_bound():
    good = compare.targets(_report(0.96, 0.91, 0.86, 0.76, 0.81, 0.81, 0.79))
    assert all(t["met"] for t in good) and len(good) == 8
    bad = {
        t["key"]: t["met"] for t in compare.targets(_report(0.96, 0.5, 0.86, None, 0.8, 0.8, 0.81))
    }
    assert bad == {
        "plane_label": True, "plane_subset": True, "det_p": False, "det_r": True,
        "det_iou": False, "grade": True, "excellent": True, "mae": False,
    }  # fmt: skip


def test_side_by_side_leaves_out_tasks_a_model_does_not_do_and_names_where_the_vlm_loses():
    reports = {
        "vlm": _report(0.70, 0.5, 0.5, 0.7, 0.4, 0.2, 1.5),
        "classifier": _report(0.90, 0.0, 0.0, None, 0.6, 0.5, 1.0),
        "detector": _report(0.0, 0.8, 0.7, 0.8, 0.0, 0.0, 9.0),
    }
    tasks = {"vlm": list(compare.TASKS), "classifier": ["planes", "grades"], "detector": ["boxes"]}
    rows = {r["metric"]: r["values"] for r in compare.side_by_side(reports, tasks)}
    assert rows["detection precision"] == {"vlm": 0.5, "classifier": None, "detector": 0.8}
    assert rows["plane label accuracy"]["detector"] is None
    losses = compare.vlm_losses(compare.side_by_side(reports, tasks))
    assert "plane label accuracy: classifier 90.0 % beats the VLM's 70.0 %" in losses
    assert "score MAE: classifier 1.00 beats the VLM's 1.50" in losses
    assert any(s.startswith("detection precision: detector") for s in losses)
    assert not any("vlm" in s.split(":")[1] for s in losses)


def test_the_vlm_curve_puts_the_answer_stage_after_the_vision_stage(tmp_path):
    path = tmp_path / "curve.jsonl"
    rows = [
        {"stage": "vision", "step": 10, "images_seen": 320, "plane_top1": 0.4, "elapsed_s": 60},
        {"stage": "vision", "step": 20, "images_seen": 640, "plane_top1": 0.6, "elapsed_s": 120},
        {"stage": "answer", "step": 5, "images_seen": 40, "plane_accuracy": 0.5,
         "detection_f1": 0.3, "elapsed_s": 30},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    points = compare.read_curve(path, "vlm")
    answer = points[-1]
    assert answer["series"] == "vlm answers" and answer["elapsed_s"] == 150
    assert answer["images_seen"] == 680 and answer["detection_f1"] == 0.3
    assert points[0]["series"] == "vlm stage 1 (tower head)" and points[0]["plane"] == 0.4
    png = compare.plot_curves(points, tmp_path / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_new_seed_agrees_when_the_intervals_overlap():
    def rep(acc, ci):
        return {"planes": {"label_accuracy": acc, "ci": {"label_accuracy": ci}}}

    rows = {
        r["metric"]: r for r in compare.fresh_check(rep(0.6, [0.55, 0.65]), rep(0.62, [0.57, 0.67]))
    }
    assert rows["plane label accuracy"]["agree"] is True
    rows = {
        r["metric"]: r for r in compare.fresh_check(rep(0.6, [0.55, 0.65]), rep(0.8, [0.75, 0.85]))
    }
    assert rows["plane label accuracy"]["agree"] is False
    assert rows["grade accuracy"]["agree"] is None  # not measured: no verdict
