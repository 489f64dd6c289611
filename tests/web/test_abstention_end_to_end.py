"""The model declines an image it cannot read, end to end: Redis, a Celery worker running the
committed demo model with its OOD statistics, the API, the review queue and progress."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from abvlmq_web.review.selectors import resident_results, review_queue
from abvlmq_web.scans.models import Analysis
from tests.web import images
from tests.web.conftest import api, wait_until
from trainer.ood import ct_slice

pytestmark = [pytest.mark.ml, pytest.mark.slow, pytest.mark.e2e]
DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"


def _png(img) -> bytes:
    buf = BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_a_ct_like_slice_is_declined_queued_for_an_instructor_and_not_counted(
    settings, worker_factory, resident, instructor, cohort
):
    settings.ABVLMQ_ENGINE = "scoring.engine:Engine"
    settings.ABVLMQ_MODEL_DIR = DEMO
    worker_factory(ABVLMQ_MODEL_DIR=str(DEMO))
    client = api(resident)
    slice_png = _png(ct_slice(np.random.default_rng(5), 320))
    response = client.post(
        "/api/scans/", {"file": images.file("slice.png", slice_png)}, format="multipart"
    )
    assert response.status_code == 201, response.content  # it passes intake's screen...
    scan_id = response.json()["id"]
    wait_until(
        lambda: Analysis.objects.get(scan_id=scan_id).status == Analysis.Status.DONE, timeout=180
    )
    detail = client.get(f"/api/scans/{scan_id}/").json()["analysis"]
    # ...and the model says it cannot assess it: no plane, no grade, no boxes
    assert detail["abstained"] is True and detail["needs_review"] is True
    assert (detail["score"], detail["grade"], detail["planes"]) == (None, None, [])
    assert [e["type"] for e in detail["events"]] == ["abstain", "done"]
    assert "did not assess this image" in detail["events"][0]["reason"]
    assert detail["ood_score"] > detail["events"][0]["threshold"]

    analysis = Analysis.objects.get(scan_id=scan_id)
    [item] = [i for i in review_queue(user=instructor) if i.analysis.pk == analysis.pk]
    assert "the model could not assess it" in item.reasons
    assert resident_results(resident) == []  # not a result until a person assesses it
