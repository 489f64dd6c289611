"""Dataset versions (issue 33, item 4): a program admin freezes the final records of annotation
campaigns into an immutable version; its test scans stay in test in every later version; its
export (one zip, from the page, the API and ``manage.py dataset_export``) passes
``python -m trainer validate --check-images``. Refused with nothing changed: a scan with one
reader's record, and everyone but a program admin."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from PIL import Image

from abvlmq_web.annotation.models import Campaign, CampaignScan, ReaderRecord
from abvlmq_web.competency.models import AuditLog
from abvlmq_web.datasets.models import DatasetItem, DatasetVersion, FrozenError
from abvlmq_web.scans.models import Scan
from scoring.rubric import default_rubric
from tests.teaching.conftest import api, items_for, key_boxes

ROOT = Path(__file__).resolve().parents[2]
RUBRIC = default_rubric()
PLANES = ["GB", "RKL", "PAN"]


def stored_scan(owner, n: int) -> Scan:
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (20 + n % 200, 30, 30)).save(buf, format="PNG")
    scan = Scan(owner=owner, kind="png", width=80, height=60)
    scan.image.save("scan.png", ContentFile(buf.getvalue()), save=False)
    scan.save()
    return scan


def final_answer(plane: str, score: int) -> dict:
    items = items_for(score)
    total = RUBRIC.score(items)
    return {
        "planes": [plane],
        "structures": key_boxes([plane], items),
        "deductions": [{"item": i, "reason": "", "box": None} for i in items],
        "score": total,
        "grade": RUBRIC.grade(total),
        "rubric_version": RUBRIC.version,
    }


def make_campaign(program_admin, instructor, resident, other_resident, name="C1") -> Campaign:
    campaign = Campaign.objects.create(
        name=name, created_by=program_admin, adjudicator=instructor, start_from="blank",
        source="archive", rubric_version=RUBRIC.version,
    )  # fmt: skip
    campaign.readers.set([resident, other_resident])
    return campaign


def add_finals(campaign, owner, count: int, start: int = 0) -> list[Scan]:
    scans = []
    for n in range(start, start + count):
        scan = stored_scan(owner, n)
        CampaignScan.objects.create(
            campaign=campaign, scan=scan, state="agreed",
            final_answer=final_answer(PLANES[n % 3], [10, 8, 6, 3][n % 4]), final_at=timezone.now(),
        )  # fmt: skip
        scans.append(scan)
    return scans


def one_reader_scan(campaign, owner, reader, n: int) -> Scan:
    """A scan only one reader has submitted: no final answer."""
    scan = stored_scan(owner, n)
    cs = CampaignScan.objects.create(campaign=campaign, scan=scan, state="reading")
    ReaderRecord.objects.create(
        campaign_scan=cs, reader=reader, started_from="blank", answer=final_answer("GB", 10),
        submitted_at=timezone.now(),
    )  # fmt: skip
    return scan


@pytest.fixture
def campaign(program_admin, instructor, resident, other_resident):
    return make_campaign(program_admin, instructor, resident, other_resident)


def _freeze(user, **data):
    return api(user).post("/api/dataset-versions/", data, format="json")


def test_a_program_admin_freezes_the_final_records_into_an_immutable_version(
    campaign, program_admin, resident
):
    finals = add_finals(campaign, resident, 60)
    pending = one_reader_scan(campaign, resident, resident, 999)
    response = _freeze(program_admin, name="v1", campaigns=[campaign.pk])
    assert response.status_code == 201, response.content
    version = DatasetVersion.objects.get(name="v1")
    items = {i.scan_id: i for i in version.items.all()}
    assert set(items) == {s.pk for s in finals}  # the one-reader scan is left out
    assert pending.pk not in items
    for plane in PLANES:  # 20 scans of each plane: 14 / 3 / 3
        counts = Counter(i.split for i in items.values() if i.plane_key == plane)
        assert counts == {"train": 14, "val": 3, "test": 3}, (plane, counts)
    assert version.counts["splits"] == {"train": 42, "val": 9, "test": 9}
    assert version.counts["planes"]["GB"]["total"] == 20
    assert sum(r["total"] for r in version.counts["grades"].values()) == 60
    assert len(version.content_hash) == 64
    # the answer is a snapshot: the campaign's record changing later does not reach it
    CampaignScan.objects.filter(scan=finals[0]).update(final_answer=final_answer("GB", 3))
    assert DatasetItem.objects.get(version=version, scan=finals[0]).answer["score"] == 10.0
    with pytest.raises(FrozenError):
        version.name = "v1b"
        version.save()
    with pytest.raises(FrozenError):
        DatasetVersion.objects.filter(pk=version.pk).update(name="v1b")
    with pytest.raises(FrozenError):
        DatasetItem.objects.filter(version=version).update(split="train")
    with pytest.raises(FrozenError):
        version.delete()
    assert AuditLog.objects.filter(action="dataset.freeze").count() == 1


def test_a_scan_with_one_readers_record_is_refused_and_nothing_is_frozen(
    campaign, program_admin, instructor, resident, other_resident
):
    finals = add_finals(campaign, resident, 6)
    pending = one_reader_scan(campaign, resident, other_resident, 500)
    response = _freeze(
        program_admin, name="v1", campaigns=[campaign.pk], scans=[finals[0].pk, pending.pk]
    )
    assert response.status_code == 400
    assert f"scan(s) {pending.pk}" in json.dumps(response.json())
    assert not DatasetVersion.objects.exists() and not DatasetItem.objects.exists()
    assert not AuditLog.objects.filter(action="dataset.freeze").exists()
    # only pending scans in the chosen campaign: nothing final, refused
    empty = make_campaign(program_admin, instructor, resident, other_resident, name="C2")
    one_reader_scan(empty, resident, resident, 501)
    assert _freeze(program_admin, name="v0", campaigns=[empty.pk]).status_code == 400
    assert not DatasetVersion.objects.exists()


@pytest.mark.parametrize("who", ["resident", "instructor"])
def test_only_a_program_admin_sees_or_freezes_versions(who, people, campaign, resident):
    add_finals(campaign, resident, 3)
    user = people[who]
    assert _freeze(user, name="v1", campaigns=[campaign.pk]).status_code == 404
    assert api(user).get("/api/dataset-versions/").status_code == 404
    client = Client()
    client.force_login(user)
    assert client.get("/datasets/").status_code == 404
    assert client.post("/datasets/", {"name": "v1", "campaigns": [campaign.pk]}).status_code == 404
    assert not DatasetVersion.objects.exists()


def test_a_later_version_keeps_every_earlier_test_scan_in_test(campaign, program_admin, resident):
    add_finals(campaign, resident, 60)
    assert _freeze(program_admin, name="v1", campaigns=[campaign.pk]).status_code == 201
    add_finals(campaign, resident, 20, start=60)
    client = Client()
    client.force_login(program_admin)
    page = client.post("/datasets/", {"name": "v2", "campaigns": [campaign.pk], "seed": 33})
    assert page.status_code == 302
    v1, v2 = (
        {i.scan_id: i.split for i in DatasetItem.objects.filter(version__name=name)}
        for name in ("v1", "v2")
    )
    assert len(v2) == 80
    assert all(v2[s] == split for s, split in v1.items())  # test stays test (train stays too)
    new = Counter(split for s, split in v2.items() if s not in v1)
    assert new["test"] >= 2 and new["train"] > new["val"]
    assert Counter(v2.values())["test"] == 12  # 9 kept + 3 new: 15 % of 80


def _validate(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trainer", "validate", "--data",
         str(folder / "annotations.jsonl"), "--check-images"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_export_downloads_as_one_zip_that_the_trainer_validates(
    campaign, program_admin, resident, tmp_path
):
    add_finals(campaign, resident, 30)
    assert _freeze(program_admin, name="v1", campaigns=[campaign.pk]).status_code == 201
    version = DatasetVersion.objects.get(name="v1")
    client = Client()
    client.force_login(program_admin)
    page = client.get(f"/datasets/{version.pk}/")
    assert page.status_code == 200 and version.content_hash.encode() in page.content
    response = client.get(f"/datasets/{version.pk}/export.zip")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    body = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        zf.extractall(tmp_path / "page")
    (top,) = list((tmp_path / "page").iterdir())
    done = _validate(top)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "30 records valid" in done.stdout
    assert len(list((top / "images").iterdir())) == 30  # every image, boxes or not
    manifest = json.loads((top / "manifest.json").read_text())
    assert manifest["content_hash"] == version.content_hash
    assert manifest["counts"]["splits"] == version.counts["splits"]
    for name in ("train.jsonl", "val.jsonl", "test.jsonl", "swift/train.jsonl", "coco/test.json"):
        assert (top / name).is_file(), name
    # the command writes the same export
    out = tmp_path / "cmd.zip"
    call_command("dataset_export", str(version.pk), str(out), stdout=io.StringIO())
    with zipfile.ZipFile(out) as a, zipfile.ZipFile(io.BytesIO(body)) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())
        assert a.read(f"{top.name}/annotations.jsonl") == b.read(f"{top.name}/annotations.jsonl")
    # and the API
    assert api(program_admin).get(f"/api/dataset-versions/{version.pk}/export/").status_code == 200
