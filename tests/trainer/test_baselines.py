"""The CNN baselines train on annotation records, write predictions in the annotation format,
and sit beside the VLM in the evaluation report (issue 10)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torchvision")

from trainer.baselines import load_config
from trainer.evaluate import main as evaluate_main


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from trainer.tiny_qwen import toy_dataset

    return toy_dataset(tmp_path_factory.mktemp("toy"), 16, seed=3)


def _config(toy, out, **overrides):
    path = out / "baselines.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "data": str(toy),
        "curve_data": str(toy / "annotations.jsonl"),
        "test_data": str(toy / "annotations.jsonl"),
        "out": str(out),
        "torch_threads": 2,
        "classifier": {"max_steps": 60, "batch_size": 8, "lr": 3e-3, "warmup_steps": 5},
        "detector": {"max_steps": 12, "batch_size": 4, "size": 64, "warmup_steps": 2},
    } | overrides
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


@pytest.mark.slow
def test_both_baselines_train_predict_and_become_report_columns(toy, tmp_path):
    from trainer.baselines import run_all

    out = tmp_path / "baselines"
    summaries = run_all(load_config(_config(toy, out)))
    assert summaries["classifier"]["steps"] == 60 and summaries["detector"]["steps"] == 12
    preds = [
        json.loads(x) for x in (out / "classifier" / "predictions.jsonl").read_text().splitlines()
    ]
    truth = [json.loads(x) for x in (toy / "annotations.jsonl").read_text().splitlines()]
    assert [p["image"] for p in preds] == [t["image"] for t in truth]
    # the toy task (a bright box on the left or right half) is learnt in 60 steps
    right = sum(p["planes"] == t["planes"] for p, t in zip(preds, truth, strict=True))
    assert right >= 14
    assert all(0.0 <= p["meta"]["plane_confidence"] <= 1.0 for p in preds)
    assert all(p["structures"] == [] for p in preds)  # the classifier draws no boxes
    det = (out / "detector" / "predictions.jsonl").read_text().splitlines()
    assert len(det) == 16 and all(json.loads(x)["planes"] == [] for x in det)
    curve = (out / "classifier" / "curve.jsonl").read_text().splitlines()
    assert json.loads(curve[-1])["step"] == 60

    # the classifier's predictions stand in for the VLM's here: the report gets its columns
    report_dir = tmp_path / "eval"
    code = evaluate_main(
        [
            "--predictions", str(out / "classifier" / "predictions.jsonl"),
            "--truth", str(toy / "annotations.jsonl"), "--out", str(report_dir),
            "--n-boot", "20",
            "--baseline", f"classifier={out / 'classifier' / 'predictions.jsonl'}",
            "--baseline", f"detector={out / 'detector' / 'predictions.jsonl'}",
            "--curve", f"classifier={out / 'classifier' / 'curve.jsonl'}",
        ]
    )  # fmt: skip
    assert code == 0
    report = json.loads((report_dir / "report.json").read_text())
    assert report["models"]["names"] == ["vlm", "classifier", "detector"]
    assert report["models"]["tasks"]["classifier"] == ["planes", "grades"]
    assert report["calibration"]["n"] == 16 and report["targets"]
    md = (report_dir / "report.md").read_text()
    assert "## Models side by side" in md and "| metric | vlm | classifier | detector |" in md
    assert "## Learning curves" in md and (report_dir / "learning_curves.png").is_file()


def test_a_config_naming_an_unknown_baseline_is_refused(toy, tmp_path):
    with pytest.raises(ValueError, match="unknown baseline"):
        load_config(_config(toy, tmp_path, models=["classifier", "resnet152"]))


def test_evaluate_refuses_a_baseline_given_without_a_name(toy, tmp_path, capsys):
    code = evaluate_main(
        [
            "--predictions", str(toy / "annotations.jsonl"),
            "--truth", str(toy / "annotations.jsonl"), "--out", str(tmp_path / "e"),
            "--n-boot", "0", "--baseline", str(toy / "annotations.jsonl"),
        ]
    )  # fmt: skip
    assert code == 2 and "expected NAME=FILE" in capsys.readouterr().out
