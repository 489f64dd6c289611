"""``python -m trainer evaluate`` writes the report files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.__main__ import main
from trainer.evaluate import read_jsonl

TRUTH = [
    {"image": "images/000001.png", "width": 512, "height": 512, "planes": ["GB"],
     "structures": [{"id": "gallbladder", "box": [100, 100, 300, 250]}],
     "deductions": [{"item": "ATT.mild", "box": [0, 0, 50, 50]}], "score": 8.0},
    {"image": "images/000002.png", "width": 512, "height": 512, "planes": ["GB", "CBD"],
     "structures": [{"id": "cbd", "box": [10, 10, 60, 40]}], "deductions": [], "score": 10.0,
     "grade": "Excellent", "meta": {"source": "phantom"}},
    {"image": "images/000003.png", "width": 512, "height": 512, "planes": ["RKL"],
     "structures": [], "deductions": [{"item": "RKL.right_kidney.missing", "box": None}],
     "score": 7.0},
]  # fmt: skip
PRED = [
    {"image": "images/000001.png", "planes": ["GB"],
     "structures": [{"id": "gallbladder", "box": [110, 100, 300, 250]}],
     "deductions": [{"item": "ATT.mild", "box": None}], "score": 8.0},
    {"image": "images/000002.png", "planes": ["GB"], "structures": [], "deductions": [],
     "score": 9.0},
]  # fmt: skip


def _write(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _check_outputs(out: Path) -> dict:
    for name in ("report.json", "report.md", "grade_confusion.png", "plane_confusion.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "grade_confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert {"detection", "planes", "grades", "deductions"} <= set(report)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "98.10 %" in md and "subset accuracy" in md  # the paper's figures sit beside ours
    return report


@pytest.mark.slow
def test_the_cli_writes_json_markdown_and_pngs(tmp_path, capsys):
    pred = _write(tmp_path / "pred.jsonl", PRED)
    truth = _write(tmp_path / "truth.jsonl", TRUTH)
    out = tmp_path / "report"
    args = ["evaluate", "--predictions", str(pred), "--truth", str(truth), "--out", str(out)]
    assert main([*args, "--n-boot", "200"]) == 0
    report = _check_outputs(out)
    assert report["n_images"] == 3 and report["missing_predictions"] == 1
    assert report["detection"]["tp"] == 1
    assert report["planes"]["subset_accuracy"] == pytest.approx(1 / 3)
    assert "3 images (1 missing)" in capsys.readouterr().out


@pytest.mark.slow
def test_python_dash_m_trainer_evaluate_runs(tmp_path):
    pred = _write(tmp_path / "pred.jsonl", PRED)
    truth = _write(tmp_path / "truth.jsonl", TRUTH)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "trainer", "evaluate", "--predictions", str(pred),
           "--truth", str(truth), "--out", str(out), "--n-boot", "100"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    _check_outputs(out)


def test_a_bad_json_line_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"image": "a"}\n\n{"image": \n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: not valid JSON"):
        read_jsonl(path)
