"""The task with the real engine (scoring.engine) on a real Qwen2-VL checkpoint: the demo model
when it is committed, else a tiny random-weight one. Whatever the model says, the analysis ends
done with its events numbered and stored, and records which model and rubric scored it."""

from __future__ import annotations

from pathlib import Path

import pytest

from abvlmq_web.scans import analysis as scans_analysis
from abvlmq_web.scans.analysis import analysis_run
from abvlmq_web.scans.models import Analysis
from tests.web import images
from tests.web.conftest import upload

pytestmark = [pytest.mark.ml, pytest.mark.slow]
DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    if (DEMO / "config.json").exists():
        return DEMO
    from trainer.tiny_qwen import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny"), seed=0, n_random=200)


def test_the_real_engine_assesses_a_phantom_and_its_model_is_recorded(
    settings, model_dir, resident
):
    from scoring.engine import model_identity

    settings.ABVLMQ_ENGINE = "scoring.engine:Engine"
    settings.ABVLMQ_MODEL_DIR = model_dir
    # A short answer budget and a small image keep this quick on two CPU cores; the code path
    # is the one a GPU worker runs.
    settings.ABVLMQ_ENGINE_OPTIONS = {"max_new_tokens": 24, "max_pixels": 64 * 28 * 28}
    scans_analysis._engines.clear()
    scan = upload(resident, images.phantom())
    analysis_run(analysis_id=scan.analysis.pk)

    analysis = Analysis.objects.get(pk=scan.analysis.pk)
    assert analysis.status == "done"
    assert analysis.model_id == model_identity(model_dir)
    assert analysis.rubric_version.startswith("r-")
    events = list(analysis.events.order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type == "done"
    assert events[-1].payload["needs_review"] == analysis.needs_review
    assert {e.type for e in events} <= {"structure", "plane", "deduction", "score", "error", "done"}
