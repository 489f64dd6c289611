"""Matching received instances to residents, and the inbox: claim, assign, purge.

These call the receiving services in-process (the listener and STOW-RS tests send the same
instances over the network)."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone
from PIL import Image

from abvlmq_web.competency.models import AuditLog
from abvlmq_web.receiving.matching import header_names, name_key
from abvlmq_web.receiving.models import InboxEntry
from abvlmq_web.receiving.services import (
    inbox_assign,
    inbox_claim,
    inbox_purge,
    instance_receive,
    scanner_name_add,
)
from abvlmq_web.scans.models import Scan
from abvlmq_web.scans.selectors import scans_for
from scoring.imaging import IntakeError
from tests.web import dicoms
from tests.web.conftest import api, upload


def receive(ds):
    return instance_receive(data=dicoms.encode(ds), source="c-store")


@pytest.mark.parametrize(
    ("registered", "on_scanner"),
    [
        ("Rita Smith", "SMITH^RITA"),
        ("smith, rita", "Smith^Rita^^^"),
        ("RS", "rs"),
        ("Dr. Rita  Smith", "SMITH^RITA^^DR."),
    ],
)
def test_a_name_matches_whatever_its_order_case_and_punctuation(registered, on_scanner):
    assert name_key(registered) == name_key(on_scanner)


def test_different_people_do_not_match():
    assert name_key("SMITH^RITA") != name_key("SMITH^ROSA")
    assert name_key("SMITH^RITA") != name_key("SMITH")


def test_both_fields_and_every_value_of_them_are_read():
    ds = dicoms.phantom_dataset(performing="JONES^RHYS")
    ds.OperatorsName = ["SONO^ANN", "SMITH^RITA"]
    assert header_names(dicoms.encode(ds)) == ["SONO^ANN", "SMITH^RITA", "JONES^RHYS"]


@pytest.mark.slow
def test_a_matched_instance_is_the_residents_scan_and_nobody_elses(people, resident):
    scanner_name_add(resident=resident, name="Rita Smith")

    received = receive(dicoms.phantom_dataset(operator="SMITH^RITA"))

    assert received.resident == resident
    assert received.scan.owner == resident
    assert not InboxEntry.objects.exists()
    for who, sees in [("resident", True), ("instructor", True), ("program_admin", True),
                      ("other_resident", False), ("other_instructor", False)]:  # fmt: skip
        assert scans_for(user=people[who]).filter(pk=received.scan.pk).exists() is sees


@pytest.mark.slow
def test_an_instance_two_residents_could_claim_by_name_goes_to_the_inbox(resident, other_resident):
    scanner_name_add(resident=resident, name="Rita Smith")
    scanner_name_add(resident=other_resident, name="Rhys Jones")

    received = receive(dicoms.phantom_dataset(operator="SMITH^RITA", performing="JONES^RHYS"))

    assert received.resident is None
    assert InboxEntry.objects.get().scan == received.scan


@pytest.mark.slow
def test_a_deactivated_residents_name_no_longer_matches(resident):
    scanner_name_add(resident=resident, name="Rita Smith")
    resident.is_active = False
    resident.save()

    assert receive(dicoms.phantom_dataset(operator="SMITH^RITA")).resident is None


def test_a_name_is_registered_by_one_resident_only(resident, other_resident, instructor):
    scanner_name_add(resident=resident, name="Rita Smith")
    assert scanner_name_add(resident=resident, name="SMITH^RITA").name == "Rita Smith"
    with pytest.raises(ValidationError):
        scanner_name_add(resident=other_resident, name="smith rita")
    with pytest.raises(PermissionDenied):
        scanner_name_add(resident=instructor, name="Ian")
    with pytest.raises(ValidationError):
        scanner_name_add(resident=resident, name=" ^ ")


@pytest.mark.slow
def test_a_received_instance_meets_the_same_intake_as_the_same_file_uploaded(resident):
    """Same pixels, same crop and masking, same technical facts: one intake for both."""
    data = dicoms.encode(dicoms.vendor_dataset("US1_UNCR.dcm", operator="NOBODY"))

    received = instance_receive(data=data, source="c-store").scan
    uploaded = upload(resident, data)

    assert received.intake == uploaded.intake
    assert (received.width, received.height, received.kind) == (
        uploaded.width, uploaded.height, uploaded.kind,
    )  # fmt: skip
    a = np.asarray(Image.open(received.image.open("rb")))
    b = np.asarray(Image.open(uploaded.image.open("rb")))
    assert a.shape == b.shape and (a == b).all()
    assert received.intake["crop_box"] != f"0,0,{received.intake['original_width']},480"


def test_the_upload_limits_hold_for_received_instances(db, settings):
    settings.ABVLMQ_MAX_PIXELS = 100_000  # the phantom has 512 x 512
    with pytest.raises(IntakeError) as caught:
        receive(dicoms.phantom_dataset())
    assert caught.value.code == "too_many_pixels"
    assert not Scan.objects.exists()


# --------------------------------------------------------------------------- the inbox


@pytest.fixture
def orphan(db):
    return receive(dicoms.phantom_dataset(operator="NOBODY")).scan


@pytest.mark.slow
def test_a_resident_claims_an_inbox_scan_as_her_own(orphan, resident, people):
    scan = inbox_claim(user=resident, entry_id=orphan.inbox.pk)

    assert scan.owner == resident
    assert not InboxEntry.objects.exists()
    assert scans_for(user=resident).filter(pk=scan.pk).exists()
    audit = AuditLog.objects.get(action="inbox.claim")
    assert (audit.actor, audit.subject, audit.details) == (resident, resident, {"scan": scan.pk})
    with pytest.raises(Http404):  # claimed once: gone from the inbox
        inbox_claim(user=people["other_resident"], entry_id=orphan.inbox.pk)


@pytest.mark.slow
def test_only_residents_claim(orphan, instructor):
    with pytest.raises(PermissionDenied):
        inbox_claim(user=instructor, entry_id=orphan.inbox.pk)


@pytest.mark.slow
def test_an_instructor_assigns_an_inbox_scan_to_a_resident_she_follows(orphan, people):
    entry_id = orphan.inbox.pk
    with pytest.raises(ValidationError):  # not her resident
        inbox_assign(user=people["other_instructor"], entry_id=entry_id,
                     resident_id=people["resident"].pk)  # fmt: skip
    with pytest.raises(PermissionDenied):
        inbox_assign(user=people["other_resident"], entry_id=entry_id,
                     resident_id=people["resident"].pk)  # fmt: skip

    scan = inbox_assign(
        user=people["instructor"], entry_id=entry_id, resident_id=people["resident"].pk
    )

    assert scan.owner == people["resident"]
    assert AuditLog.objects.get(action="inbox.assign").subject == people["resident"]


@pytest.mark.slow
def test_the_inbox_api_shows_only_the_image_and_the_time_received(orphan, people):
    response = api(people["other_resident"]).get("/api/inbox/")

    assert response.status_code == 200
    [item] = response.json()
    assert set(item) == {"id", "received_at", "image_url"}
    image = api(people["other_resident"]).get(item["image_url"])
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert api(None).get("/api/inbox/").status_code in (401, 403)
    claimed = api(people["resident"]).post(f"/api/inbox/{item['id']}/claim/")
    assert claimed.json() == {"scan": orphan.pk, "owner": people["resident"].pk}
    assert api(people["other_resident"]).get(item["image_url"]).status_code == 404


@pytest.mark.slow
def test_the_inbox_and_names_pages_work_for_residents_and_instructors(orphan, people, client):
    client.force_login(people["resident"])
    page = client.get("/inbox/")
    assert page.status_code == 200 and b"This is mine" in page.content
    assert client.post("/inbox/names/", {"name": "Rita Smith"}).status_code == 302
    assert b"Rita Smith" in client.get("/inbox/names/").content
    claimed = client.post(f"/inbox/{orphan.inbox.pk}/claim/")
    assert claimed.status_code == 302 and claimed["Location"] == f"/scans/{orphan.pk}/"
    client.force_login(people["instructor"])
    assert b"The inbox is empty" in client.get("/inbox/").content


@pytest.mark.slow
def test_orphans_older_than_the_age_are_purged_with_an_audit_entry(
    settings, resident, django_capture_on_commit_callbacks
):
    settings.ABVLMQ_INBOX_MAX_AGE_DAYS = 7
    old = receive(dicoms.phantom_dataset(operator="NOBODY")).scan
    new = receive(dicoms.phantom_dataset(operator="NOBODY")).scan
    InboxEntry.objects.filter(scan=old).update(received_at=timezone.now() - dt.timedelta(days=8))
    image = old.image.path
    claimed = receive(dicoms.phantom_dataset(operator="NOBODY")).scan
    InboxEntry.objects.filter(scan=claimed).update(
        received_at=timezone.now() - dt.timedelta(days=9)
    )
    inbox_claim(user=resident, entry_id=claimed.inbox.pk)  # claimed: never purged

    with django_capture_on_commit_callbacks(execute=True):
        assert inbox_purge() == 1

    assert set(Scan.objects.values_list("pk", flat=True)) == {new.pk, claimed.pk}
    assert not os.path.exists(image)
    audit = AuditLog.objects.get(action="inbox.purge")
    assert audit.actor is None
    assert audit.details == {"deleted": 1, "scans": [old.pk], "older_than_days": 7.0}
    assert inbox_purge() == 0
    assert AuditLog.objects.filter(action="inbox.purge").count() == 1


@pytest.mark.slow
def test_a_purged_clip_takes_its_video_and_frames_with_it(db, django_capture_on_commit_callbacks):
    from pathlib import Path

    from pydicom.data import get_testdata_file

    data = Path(get_testdata_file("examples_ybr_color.dcm")).read_bytes()  # 30-frame cine
    scan = instance_receive(data=data, source="c-store").scan
    files = [scan.clip.video.path, *(f.image.path for f in scan.clip.sampled.all())]
    assert len(files) == 9 and all(os.path.exists(p) for p in files)
    InboxEntry.objects.update(received_at=timezone.now() - dt.timedelta(days=365))

    with django_capture_on_commit_callbacks(execute=True):
        assert inbox_purge() == 1

    assert not any(os.path.exists(p) for p in files)
