"""The model registry protects itself: a folder is checked before it is registered (it must
load and answer a phantom scan, with the real engine and the committed demo model here); the
settings' model in use is listed; activation takes a confirmation; rollback and delete are
audited. The shipped rubric can be made active again."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from abvlmq_web.administration.models import ModelVersion, RubricVersion
from abvlmq_web.administration.services import (
    model_activate,
    model_delete,
    model_register,
    rubric_version_activate,
    rubric_version_create,
)
from abvlmq_web.competency.models import AuditLog
from abvlmq_web.core.rubrics import active_rubric, worker_runtime
from scoring.rubric import default_rubric
from tests.teaching.test_administration import HARSHER
from tests.web.live import ROOT

DEMO = ROOT / "models" / "demo"


@pytest.fixture
def real_engine(settings):
    settings.ABVLMQ_ENGINE = "scoring.engine:Engine"
    settings.ABVLMQ_ENGINE_OPTIONS = {"max_new_tokens": 256}


def test_a_folder_that_is_not_there_is_refused(program_admin, real_engine, tmp_path):
    with pytest.raises(ValidationError) as exc:
        model_register(user=program_admin, name="ghost", base_path=str(tmp_path / "nope"))
    assert "is not a folder on this machine" in " ".join(exc.value.messages)
    assert not ModelVersion.objects.exists()


@pytest.mark.slow
def test_a_folder_that_does_not_load_is_refused(program_admin, real_engine, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValidationError) as exc:
        model_register(user=program_admin, name="broken", base_path=str(tmp_path))
    assert f"The model in {tmp_path} does not load" in " ".join(exc.value.messages)
    assert not ModelVersion.objects.exists()


@pytest.mark.slow
def test_the_demo_model_loads_answers_a_phantom_and_is_registered(program_admin, real_engine):
    model = model_register(user=program_admin, name="demo-copy", base_path=str(DEMO))
    assert model.probe["planes"] and model.probe["grade"] in default_rubric().grade_names()
    assert 0 <= model.probe["score"] <= 10 and model.probe["model_id"]
    entry = AuditLog.objects.get(action="model.register")
    assert entry.details["probe"]["planes"] == model.probe["planes"]


def test_the_page_lists_the_settings_model_in_use_and_confirms_activation(
    client, program_admin, settings, tmp_path
):
    settings.ABVLMQ_MODEL_DIR = DEMO
    client.force_login(program_admin)
    page = client.get("/administration/models/").content.decode()
    row = page[page.index('id="settings-model"') :]
    assert str(DEMO) in row[:400] and "<strong>in use</strong>" in row[:600]

    model = model_register(user=program_admin, name="v2", base_path=str(tmp_path))  # scripted
    url = f"/administration/models/{model.pk}/activate/"
    confirm = client.post(url).content.decode()
    model.refresh_from_db()
    assert not model.is_active and 'id="confirm-yes"' in confirm and str(tmp_path) in confirm
    client.post(url, {"confirm": "yes"})
    model.refresh_from_db()
    assert model.is_active and worker_runtime().model_dir == str(tmp_path)
    page = client.get("/administration/models/").content.decode()
    assert "Roll back to the settings' model" in page

    client.post("/administration/models/settings/", {"confirm": "yes"})  # roll back
    assert worker_runtime().model_dir == str(DEMO)
    model.refresh_from_db()
    assert not model.is_active
    actions = AuditLog.objects.filter(action="model.activate").order_by("id")
    assert [a.details for a in actions] == [
        {"model": "v2", "previous": "settings"},
        {"model": "settings", "previous": "v2"},
    ]
    page = client.get("/administration/models/").content.decode()
    assert 'id="rollback"' not in page


def test_the_registry_shows_the_evaluation_beside_each_model_it_can_read(
    client, program_admin, settings, tmp_path
):
    """The banner quotes the model's evaluation: the registry shows it too, read from the
    report beside the checkpoint (eval/report.json) when none was uploaded."""
    import json

    settings.ABVLMQ_MODEL_DIR = DEMO
    report = json.loads((DEMO / "eval" / "report.json").read_text())
    client.force_login(program_admin)
    page = client.get("/administration/models/").content.decode()
    cell = page[page.index('id="settings-evaluation"') :][:400]
    plane = f"plane {100 * report['planes']['label_accuracy']:.1f} %"
    met = sum(t["met"] for t in report["targets"])
    assert plane in cell and f"{met} of {len(report['targets'])} targets met" in cell
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "report.json").write_text(
        json.dumps({"planes": {"label_accuracy": 0.5}, "n_images": 10})
    )
    model_register(user=program_admin, name="v3", base_path=str(tmp_path))  # scripted
    row = client.get("/administration/models/").content.decode()
    row = row[row.index('data-model="v3"') :][:1200]
    assert "plane 50.0 % · on 10 test images" in row


def test_rollback_goes_to_the_model_active_before(client, program_admin, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = model_register(user=program_admin, name="a", base_path=str(tmp_path / "a"))
    b = model_register(user=program_admin, name="b", base_path=str(tmp_path / "b"))
    model_activate(user=program_admin, model=a)
    model_activate(user=program_admin, model=b)
    client.force_login(program_admin)
    page = client.get("/administration/models/").content.decode()
    assert f'href="/administration/models/{a.pk}/activate/">Roll back to a<' in page


def test_only_an_inactive_model_is_deleted_and_the_deletion_is_audited(
    client, program_admin, tmp_path
):
    model = model_register(user=program_admin, name="old", base_path=str(tmp_path))
    model_activate(user=program_admin, model=model)
    with pytest.raises(ValidationError, match="active model cannot be deleted"):
        model_delete(user=program_admin, model=model)
    client.force_login(program_admin)
    client.post("/administration/models/settings/", {"confirm": "yes"})
    url = f"/administration/models/{model.pk}/delete/"
    assert "Delete old from the registry?" in client.get(url).content.decode()
    assert ModelVersion.objects.exists()
    client.post(url, {"confirm": "yes"})
    assert not ModelVersion.objects.exists()
    assert AuditLog.objects.get(action="model.delete").details["model"] == "old"


def test_the_shipped_rubric_can_be_made_active_again(client, program_admin):
    row = rubric_version_create(user=program_admin, text=HARSHER)
    rubric_version_activate(user=program_admin, rubric_version=row)
    assert active_rubric().version == row.version
    client.force_login(program_admin)
    page = client.get("/administration/rubrics/").content.decode()
    assert 'id="use-shipped"' in page
    assert (
        "Go back to the shipped rubric?"
        in client.post("/administration/rubrics/shipped/").content.decode()
    )
    assert active_rubric().version == row.version
    client.post("/administration/rubrics/shipped/", {"confirm": "yes"})
    assert active_rubric().version == default_rubric().version
    assert not RubricVersion.objects.filter(is_active=True).exists()
    assert (
        AuditLog.objects.filter(action="rubric.activate").order_by("id").last().details["version"]
        == "shipped"
    )


def test_nobody_else_reaches_these_pages(client, instructor, tmp_path, program_admin):
    model = model_register(user=program_admin, name="m", base_path=str(tmp_path))
    client.force_login(instructor)
    for url in (f"/administration/models/{model.pk}/delete/", "/administration/models/settings/",
                "/administration/rubrics/shipped/"):  # fmt: skip
        assert client.post(url, {"confirm": "yes"}).status_code == 404
    assert ModelVersion.objects.exists()
