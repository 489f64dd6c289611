"""Clips end to end with every real part, the model included: a short generated MP4 and a
multi-frame DICOM uploaded through the API, assessed by a real Celery worker running
scoring.engine on the committed demo model; each sampled frame gets its assessment and the
chosen one is the best by score, ties by confidence."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from abvlmq_web.scans.models import Analysis, Scan
from tests.web.conftest import api, wait_until
from tests.web.test_cine_clips import mp4, post

pytestmark = [pytest.mark.ml, pytest.mark.slow, pytest.mark.e2e]
DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"


def _assert_best_chosen(scan: Scan) -> None:
    frames = list(scan.clip.sampled.all())
    assert len(frames) == 8
    assert all(f.result for f in frames), "every sampled frame was assessed"
    [chosen] = [f for f in frames if f.chosen]

    def key(f):
        return (f.score is not None, f.score or 0.0, f.confidence or -1.0)

    assert key(chosen) == max(key(f) for f in frames)
    assert scan.analysis.score == chosen.score
    assert scan.intake["frame_index"] == chosen.index


def test_an_mp4_and_a_multi_frame_dicom_are_assessed_by_the_demo_model(
    settings, worker_factory, resident
):
    settings.ABVLMQ_ENGINE = "scoring.engine:Engine"
    settings.ABVLMQ_MODEL_DIR = DEMO
    worker = worker_factory(ABVLMQ_MODEL_DIR=str(DEMO))
    uploads = [
        post(resident, "loop.mp4", mp4(n=12, index=3)),
        post(resident, "cine.dcm", Path(get_testdata_file("examples_ybr_color.dcm")).read_bytes()),
    ]
    assert [r.status_code for r in uploads] == [201, 201]

    for response in uploads:
        scan_id = response.json()["id"]
        wait_until(
            lambda scan_id=scan_id: Analysis.objects.filter(
                scan_id=scan_id, status__in=["done", "failed"]
            ).exists(),
            timeout=600,
        )
        scan = Scan.objects.get(pk=scan_id)
        assert scan.analysis.status == "done", scan.analysis.failure_reason
        assert scan.analysis.model_id.startswith("demo")
        _assert_best_chosen(scan)
        detail = api(resident).get(f"/api/scans/{scan_id}/").json()
        assert detail["analysis"]["events"][-1]["type"] == "done"
    assert "run_analysis" in worker.text()
