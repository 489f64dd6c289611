"""Fitting a checkpoint's calibration from held-out predictions (trainer.calibrate)."""

from __future__ import annotations

import json

from trainer.__main__ import main
from trainer.calibrate import fit


def _pair(k, *, right_plane, right_grade, conf, least, review, score=9.0):
    truth = {"image": f"{k}.png", "planes": ["GB"], "grade": "Excellent"}
    pred = {
        "image": f"{k}.png",
        "planes": ["GB"] if right_plane else ["LLA"],
        "grade": "Excellent" if right_grade else "Poor",
        "score": score if right_grade else 2.0,
        "meta": {"plane_confidence": conf, "min_confidence": least, "needs_review": review},
    }
    return pred, truth


def test_thresholds_are_chosen_when_they_separate_wrong_grades_from_right_ones(tmp_path):
    rows = [
        _pair(k, right_plane=True, right_grade=True, conf=0.99, least=0.95, review=False)
        for k in range(30)
    ] + [
        _pair(100 + k, right_plane=False, right_grade=False, conf=0.97, least=0.3, review=True)
        for k in range(20)
    ]
    preds, truth = [p for p, _ in rows], [t for _, t in rows]
    result = fit(preds, truth)
    assert result["review"] is not None
    assert result["fitted"]["catch_rate"] == 1.0 and result["fitted"]["false_flag_rate"] == 0.0
    # confident and right 60 % of the time: the calibrated plane confidence says so
    assert max(result["plane"]["y"]) <= 1.0 and min(result["plane"]["y"]) < 0.5

    model = tmp_path / "model"
    model.mkdir()
    (model / "abvlmq.json").write_text(json.dumps({"prompt_detail": "compact"}))
    for name, items in (("p.jsonl", preds), ("t.jsonl", truth)):
        (tmp_path / name).write_text("".join(json.dumps(x) + "\n" for x in items))
    assert main(["calibrate", "--model", str(model), "--predictions", str(tmp_path / "p.jsonl"),
                 "--truth", str(tmp_path / "t.jsonl")]) == 0  # fmt: skip
    info = json.loads((model / "abvlmq.json").read_text())
    assert info["prompt_detail"] == "compact" and info["calibration"]["review"] is not None


def test_when_no_thresholds_spare_the_right_grades_the_defaults_stay():
    # every answer already carries an error flag: nothing a threshold does can unflag it
    rows = [
        _pair(k, right_plane=True, right_grade=k % 2 == 0, conf=0.9, least=0.9, review=True)
        for k in range(40)
    ]
    result = fit([p for p, _ in rows], [t for _, t in rows])
    assert result["review"] is None and "default thresholds kept" in result["fitted"]["rule"]
    assert result["fitted"]["false_flag_rate"] == 1.0
