"""The committed demo model is whichever measures best (issue 10)."""

from __future__ import annotations

import json

from trainer.promote import promote


def _model(path, plane, det_f1, grade, name):
    (path / "eval").mkdir(parents=True)
    report = {
        "planes": {"label_accuracy": plane, "subset_accuracy": plane},
        "detection": {"precision": det_f1, "recall": det_f1, "f1": det_f1, "mean_iou": 0.7},
        "grades": {"accuracy": grade, "per_grade_accuracy": {}, "score": {"mae": 2.0}},
    }
    (path / "eval" / "report.json").write_text(json.dumps(report))
    (path / "abvlmq.json").write_text(json.dumps({"name": name}))
    (path / "model.safetensors").write_text(name)
    return path


def test_a_better_candidate_replaces_the_model_and_names_its_recipe(tmp_path):
    current = _model(tmp_path / "demo", 0.58, 0.25, 0.33, "old")
    run = _model(tmp_path / "run", 0.70, 0.40, 0.45, "new")
    assert promote(run, run / "eval", current, recipe="trainer/configs/demo_tiny.yaml")
    assert (current / "model.safetensors").read_text() == "new"
    info = json.loads((current / "abvlmq.json").read_text())
    assert info == {"name": "new", "recipe": "trainer/configs/demo_tiny.yaml"}
    assert (
        json.loads((current / "eval" / "report.json").read_text())["planes"]["label_accuracy"]
        == 0.7
    )
    assert not (tmp_path / "demo.new").exists()


def test_a_worse_candidate_leaves_the_committed_model_alone(tmp_path):
    current = _model(tmp_path / "demo", 0.58, 0.25, 0.33, "old")
    run = _model(tmp_path / "run", 0.50, 0.30, 0.30, "new")
    assert not promote(run, run / "eval", current)
    assert (current / "model.safetensors").read_text() == "old"
