"""Rubric versions and the model registry: admins upload (checked by scoring's checker), see
the diff, activate; analyses keep their version; workers switch without a restart."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from abvlmq_web.administration.models import RubricVersion
from abvlmq_web.administration.selectors import rubric_diff
from abvlmq_web.administration.services import (
    model_activate,
    model_register,
    rubric_version_activate,
    rubric_version_create,
)
from abvlmq_web.competency.models import AuditLog
from abvlmq_web.core.rubrics import rubric_for_version, worker_runtime
from abvlmq_web.scans.analysis import analysis_run
from abvlmq_web.scans.models import Analysis
from scoring.rubric import DEFAULT_RUBRIC_PATH, default_rubric
from tests.teaching.conftest import api, make_analysis
from tests.teaching.engines import RubricAwareEngine

DEFAULT_TEXT = DEFAULT_RUBRIC_PATH.read_text(encoding="utf-8")
HARSHER = DEFAULT_TEXT.replace(
    "condition: Acoustic attenuation over less than 1/4 of the sector\n    points: 2",
    "condition: Acoustic attenuation over less than 1/4 of the sector\n    points: 3",
)


@pytest.mark.slow
def test_an_invalid_rubric_is_refused_with_the_checkers_words(program_admin):
    broken = DEFAULT_TEXT.replace("max_score: 10", "max_score: -1")
    with pytest.raises(ValidationError, match="top level: 'max_score' must be greater than 0"):
        rubric_version_create(user=program_admin, text=broken)
    with pytest.raises(ValidationError, match="not valid YAML"):
        rubric_version_create(user=program_admin, text="planes: [\n")
    assert not RubricVersion.objects.exists()


def test_an_upload_shows_its_diff_to_the_active_rubric(program_admin):
    assert HARSHER != DEFAULT_TEXT
    row = rubric_version_create(user=program_admin, text=HARSHER, note="harsher shadows")
    assert row.version != default_rubric().version and not row.is_active
    diff = rubric_diff(rubric_version=row)
    assert diff.against == default_rubric().version
    assert diff.changes == ["item ATT.mild: -2 -> -3"]
    assert "-    points: 2" in diff.lines and "+    points: 3" in diff.lines
    assert rubric_version_create(user=program_admin, text=HARSHER) == row  # same content


def test_only_program_admins_manage_rubrics_and_models(instructor, people, program_admin):
    with pytest.raises(PermissionDenied):
        rubric_version_create(user=instructor, text=DEFAULT_TEXT)
    with pytest.raises(PermissionDenied):
        model_register(user=instructor, name="m", base_path="/m")
    for actor in ("resident", "instructor", "other_instructor"):
        client = api(people[actor])
        assert client.get("/api/rubrics/").status_code == 404
        assert client.post("/api/models/", {"name": "x", "base_path": "/x"}).status_code == 404
    assert api(program_admin).get("/api/rubrics/").status_code == 200


def test_the_api_uploads_diffs_and_activates(program_admin):
    client = api(program_admin)
    bad = client.post("/api/rubrics/", {"text": "name: x\n"})
    assert bad.status_code == 400 and "max_score" in str(bad.json())
    created = client.post("/api/rubrics/", {"text": HARSHER}).json()
    detail = client.get(f"/api/rubrics/{created['id']}/").json()
    assert detail["changes"] == ["item ATT.mild: -2 -> -3"]
    assert client.post(f"/api/rubrics/{created['id']}/activate/").json()["is_active"]
    assert AuditLog.objects.filter(action="rubric.activate").count() == 1


@pytest.fixture
def aware_engine(settings):
    settings.ABVLMQ_ENGINE = "tests.teaching.engines:RubricAwareEngine"
    RubricAwareEngine.loads.clear()


def queued(owner) -> Analysis:
    a = make_analysis(owner, score=10)
    Analysis.objects.filter(pk=a.pk).update(status="queued", score=None, grade="", result={})
    return Analysis.objects.get(pk=a.pk)


def test_the_worker_scores_with_the_active_rubric_without_a_restart(
    resident, program_admin, aware_engine
):
    before = analysis_run(analysis_id=queued(resident).pk)
    assert (before.score, before.rubric_version) == (8.0, default_rubric().version)

    row = rubric_version_create(user=program_admin, text=HARSHER)
    rubric_version_activate(user=program_admin, rubric_version=row)
    after = analysis_run(analysis_id=queued(resident).pk)
    assert (after.score, after.rubric_version) == (7.0, row.version)
    again = analysis_run(analysis_id=queued(resident).pk)
    assert again.score == 7.0
    assert [load[2] for load in RubricAwareEngine.loads] == [default_rubric().version, row.version]

    before.refresh_from_db()  # an analysis keeps the version it was scored under
    assert (before.score, before.rubric_version) == (8.0, default_rubric().version)


def test_the_worker_switches_to_an_activated_model(resident, program_admin, aware_engine, tmp_path):
    (tmp_path / "qwen2vl-tiny").mkdir()
    (tmp_path / "lora-v2").mkdir()
    report = {"detection": {"precision": 0.98}}
    model = model_register(
        user=program_admin, name="tiny-v2", base_path=str(tmp_path / "qwen2vl-tiny"),
        adapter_path=str(tmp_path / "lora-v2"), evaluation_report=report,
    )  # fmt: skip
    assert model.evaluation_report == report and not model.is_active
    with pytest.raises(ValidationError, match="JSON"):
        model_register(user=program_admin, name="x", base_path="/x", evaluation_report="{oops")
    first = analysis_run(analysis_id=queued(resident).pk)
    model_activate(user=program_admin, model=model)
    assert worker_runtime().model_dir == str(tmp_path / "qwen2vl-tiny")
    second = analysis_run(analysis_id=queued(resident).pk)
    assert first.model_id != second.model_id == "aware@qwen2vl-tiny"
    assert RubricAwareEngine.loads[-1][:2] == (
        str(tmp_path / "qwen2vl-tiny"), str(tmp_path / "lora-v2"),
    )  # fmt: skip


def test_the_admin_pages_upload_and_activate(client, program_admin, instructor):
    client.force_login(program_admin)
    page = client.post("/administration/rubrics/", {"text": HARSHER, "note": "n"}, follow=True)
    assert "item ATT.mild: -2 -&gt; -3" in page.content.decode()
    row = RubricVersion.objects.get()
    confirm = client.post(f"/administration/rubrics/{row.pk}/activate/").content.decode()
    row.refresh_from_db()
    assert not row.is_active and "Change: item ATT.mild: -2 -&gt; -3" in confirm
    client.post(f"/administration/rubrics/{row.pk}/activate/", {"confirm": "yes"})
    row.refresh_from_db()
    assert row.is_active
    bad = client.post("/administration/rubrics/", {"text": "name: x\n"})
    assert "max_score" in bad.content.decode()
    client.force_login(instructor)
    assert client.get("/administration/rubrics/").status_code == 404
    assert client.get("/administration/models/").status_code == 404


def test_a_rubric_version_carries_the_name_its_admin_gives_it_wherever_it_is_shown(
    client, program_admin, resident, cohort
):
    from abvlmq_web.administration.services import rubric_version_activate
    from abvlmq_web.core.rubrics import rubric_label

    row = rubric_version_create(user=program_admin, text=HARSHER, name="Harsher shadows 2027")
    assert row.name == "Harsher shadows 2027"
    assert rubric_label(row.version) == f"Harsher shadows 2027 ({row.version})"
    assert rubric_label(default_rubric().version).startswith("shipped rubric (")
    client.force_login(program_admin)
    client.post(f"/administration/rubrics/{row.pk}/", {"name": "Program rubric, March"})
    row.refresh_from_db()
    assert row.name == "Program rubric, March"
    rubric_version_activate(user=program_admin, rubric_version=row)
    page = client.get("/administration/rubrics/").content.decode()
    assert f"Program rubric, March ({row.version})" in page  # the active one, by name
    analysis = make_analysis(resident, score=8, rubric=rubric_for_version(row.version))
    client.force_login(resident)
    scan_page = client.get(f"/scans/{analysis.scan_id}/").content.decode()
    assert f"Program rubric, March ({row.version})" in scan_page
    assert client.post(f"/administration/rubrics/{row.pk}/", {"name": "x"}).status_code == 404
