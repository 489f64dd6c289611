"""Attestation: a resident asks a named instructor to sign off a met requirement; the
instructor attests on a confirmation page, and the sign-off records who, when and against
which requirement set; the signer (or an admin) can take it back, and the audit log keeps it."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from abvlmq_web.competency.models import AuditLog, SignOff, SignOffRequest
from abvlmq_web.competency.services import signoff_create, signoff_request, signoff_undo
from tests.teaching.conftest import correct, make_analysis
from tests.teaching.test_competency_status import gb_set, status  # noqa: F401


@pytest.fixture
def met(resident, instructor, gb_set):  # noqa: F811
    make_analysis(resident, score=7)
    correct(make_analysis(resident, score=9), instructor)
    s = status(resident)
    assert s.status == "met"
    return s.requirement


def test_a_resident_asks_a_named_instructor_who_sees_it(client, resident, instructor, met):
    client.force_login(resident)
    page = client.get(f"/competency/residents/{resident.pk}/").content.decode()
    assert f'<option value="{instructor.pk}">Ian</option>' in page
    client.post(f"/competency/requests/{met.pk}/", {"instructor": instructor.pk})
    r = SignOffRequest.objects.get()
    assert (r.resident, r.instructor, r.requirement, r.status) == (
        resident, instructor, met, "open"
    )  # fmt: skip
    page = client.get(f"/competency/residents/{resident.pk}/").content.decode()
    assert "asked Ian" in page and "Request sign-off" not in page
    client.force_login(instructor)
    page = client.get("/competency/").content.decode()
    assert f'href="/competency/residents/{resident.pk}/signoff/{met.pk}/"' in page


def test_only_her_instructors_and_only_met_requirements_can_be_asked(
    resident,
    instructor,
    other_instructor,
    gb_set,  # noqa: F811
):
    spl = status(resident, "SPL").requirement
    with pytest.raises(ValidationError, match="not started"):
        signoff_request(resident=resident, requirement=spl, instructor=instructor)
    make_analysis(resident, planes=("SPL",), structures=[], score=9)
    with pytest.raises(ValidationError, match="one of your instructors"):
        signoff_request(resident=resident, requirement=spl, instructor=other_instructor)
    signoff_request(resident=resident, requirement=spl, instructor=instructor)
    with pytest.raises(ValidationError, match="already asked"):
        signoff_request(resident=resident, requirement=spl, instructor=instructor)
    with pytest.raises(PermissionDenied):
        signoff_request(resident=instructor, requirement=spl, instructor=instructor)


def test_attesting_takes_a_confirmation_and_records_who_when_and_which_set(
    client,
    resident,
    instructor,
    met,
    gb_set,  # noqa: F811
):
    signoff_request(resident=resident, requirement=met, instructor=instructor, message="please")
    client.force_login(instructor)
    url = f"/competency/residents/{resident.pk}/signoff/{met.pk}/"
    page = client.post(url).content.decode()  # the first step only shows what is attested
    assert not SignOff.objects.exists()
    assert 'id="attest-set">Core<' in page and "2 scans at Good or better, 1 of them" in page
    assert "“please”" in page and 'id="attest-scans"' in page
    client.post(url, {"confirm": "yes", "note": "watched"})
    s = SignOff.objects.get()
    assert (s.signed_by, s.signer_name, s.note) == (instructor, "Ian", "watched")
    assert s.attested["requirement_set"] == {
        "id": gb_set.pk, "name": "Core", "updated_at": gb_set.updated_at.isoformat()
    }  # fmt: skip
    assert s.attested["requirement"]["min_count"] == 2
    assert s.attested["counts"] == {"scans": 2, "qualifying": 2, "verified": 1}
    assert SignOffRequest.objects.get().status == "attested"
    entry = AuditLog.objects.get(action="signoff")
    assert entry.details["set_id"] == gb_set.pk and entry.details["requested"] is True
    assert status(resident).status == "signed off"


def test_undo_needs_a_reason_and_leaves_an_audit_entry(
    client, resident, instructor, program_admin, met
):
    signoff_create(user=instructor, resident=resident, requirement=met)
    s = SignOff.objects.get()
    with pytest.raises(PermissionDenied):
        signoff_undo(user=resident, signoff=s, reason="mine")
    client.force_login(instructor)
    url = f"/competency/signoffs/{s.pk}/undo/"
    page = client.post(url, {"confirm": "yes", "reason": " "}).content.decode()
    assert "Say why" in page and SignOff.objects.exists()
    client.post(url, {"confirm": "yes", "reason": "signed the wrong resident"})
    assert not SignOff.objects.exists() and status(resident).status == "met"
    entry = AuditLog.objects.get(action="signoff.undo")
    assert entry.actor == instructor and entry.subject == resident
    assert entry.details["reason"] == "signed the wrong resident"
    assert entry.details["signed_by"] == "Ian" and entry.details["attested"]["counts"]
    page = client.get(f"/competency/residents/{resident.pk}/").content.decode()
    assert "Sign off…" in page  # it can be signed off again


def test_outsiders_cannot_attest_or_undo(client, resident, instructor, other_instructor, met):
    signoff_create(user=instructor, resident=resident, requirement=met)
    s = SignOff.objects.get()
    client.force_login(other_instructor)
    assert (
        client.post(
            f"/competency/signoffs/{s.pk}/undo/", {"confirm": "yes", "reason": "x"}
        ).status_code
        == 404
    )
    client.force_login(resident)
    assert (
        client.post(
            f"/competency/signoffs/{s.pk}/undo/", {"confirm": "yes", "reason": "x"}
        ).status_code
        == 404
    )
    assert SignOff.objects.exists()
