"""The demo banner reads its figures from the serving model's evaluation report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from django.test import Client

DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"


def _page(user) -> str:
    client = Client()
    client.force_login(user)
    return client.get("/").content.decode()


def test_the_banner_quotes_the_committed_report_on_the_upload_path(resident, settings):
    """What a resident uploading a scanner's screen gets, not phantoms fed to the engine."""
    settings.ABVLMQ_MODEL_DIR = DEMO
    report = json.loads((DEMO / "eval-upload" / "1024x768" / "report.json").read_text())
    plane = round(100 * report["planes"]["label_accuracy"])
    grade = round(100 * report["grades"]["accuracy"])
    html = _page(resident)
    assert "Not for clinical use: demo model" in html
    assert f"names the plane {plane} % of the time" in html
    assert f"{grade} % of its grades are right" in html
    assert f"on {report['n_images']} phantom screens uploaded at 1024 x 768" in html


def test_without_an_upload_path_report_the_banner_quotes_the_held_out_phantoms(
    resident, settings, tmp_path
):
    model = tmp_path / "demo"
    shutil.copytree(DEMO / "eval", model / "eval")
    settings.ABVLMQ_MODEL_DIR = model
    report = json.loads((DEMO / "eval" / "report.json").read_text())
    assert f"on {report['n_images']} held-out phantoms" in _page(resident)


def test_a_new_report_changes_the_banner(resident, settings, tmp_path):
    model = tmp_path / "demo"
    (model / "eval").mkdir(parents=True)
    report = json.loads((DEMO / "eval" / "report.json").read_text())
    report["planes"]["label_accuracy"] = 0.97
    (model / "eval" / "report.json").write_text(json.dumps(report))
    settings.ABVLMQ_MODEL_DIR = model
    assert "names the plane 97 % of the time" in _page(resident)
    shutil.rmtree(model / "eval")  # no report: the banner stays, without figures
    html = _page(resident)
    assert "Not for clinical use: demo model" in html and "names the plane" not in html


def test_no_banner_when_another_model_serves(resident, settings):
    settings.ABVLMQ_DEMO_BANNER = False
    assert "demo-banner" not in _page(resident)
