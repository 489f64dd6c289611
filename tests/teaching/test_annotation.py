"""Annotation campaigns through the API (issue 33, items 1-3): made from the archive by filter
or by importing files through the upload's intake; two readers' records, compared when both
are in (agreed: the consensus is final; else the adjudicator's); the readers' queue ordered by
the model's doubt; and what is refused, with nothing changed.

Readers are Ian and Olga (instructors), the adjudicator Ada (a third instructor); Pat, the
program admin, makes the campaigns. The browser's part (the editor, the adjudicator's
side-by-side page, the figures shown) is in test_annotation_browser.py.
"""

from __future__ import annotations

import io
import zipfile

import pydicom
import pytest
from django.core import mail
from django.db import connection

from abvlmq_web.accounts.services import user_create
from abvlmq_web.annotation.models import Campaign, CampaignScan, ReaderRecord
from abvlmq_web.annotation.selectors import final_records
from abvlmq_web.competency.models import AuditLog
from abvlmq_web.notifications.models import Notification
from abvlmq_web.scans.models import Analysis, AnalysisEvent, Scan
from scoring.boxes import iou
from scoring.imaging import METADATA_KEYS
from tests.teaching.conftest import PASSWORD, api, items_for, key_boxes, make_analysis
from tests.web import dicoms, images

pytestmark = pytest.mark.django_db


@pytest.fixture
def adjudicator(db):
    return user_create(username="ada", password=PASSWORD, role="instructor", first_name="Ada")


@pytest.fixture
def team(program_admin, instructor, other_instructor, adjudicator):
    return {
        "admin": program_admin,
        "readers": [instructor, other_instructor],
        "adjudicator": adjudicator,
    }


def answer(planes=("GB",), score=10, boxes=None, items=None) -> dict:
    items = items_for(score) if items is None else items
    return {
        "planes": list(planes),
        "structures": boxes if boxes is not None else key_boxes(list(planes), items),
        "deductions": [{"item": i, "reason": ""} for i in items],
    }


def zip_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def import_campaign(user, files: dict[str, bytes], team, *, start_from="blank", name="Phantoms"):
    return api(user).post(
        "/api/annotation/campaigns/import/",
        {
            "name": name,
            "readers": [r.pk for r in team["readers"]],
            "adjudicator": team["adjudicator"].pk,
            "start_from": start_from,
            "files": [images.file("set.zip", zip_of(files))],
        },
        format="multipart",
    )


def archive_campaign(user, team, *, scans=None, filter=None, start_from="model"):
    body = {
        "name": "From the archive",
        "readers": [r.pk for r in team["readers"]],
        "adjudicator": team["adjudicator"].pk,
        "start_from": start_from,
    }
    if scans is not None:
        body["scans"] = scans
    if filter is not None:
        body["filter"] = filter
    return api(user).post("/api/annotation/campaigns/", body, format="json")


def submit(reader, item_id: int, body: dict):
    return api(reader).post(f"/api/annotation/items/{item_id}/record/", body, format="json")


def everything() -> dict:
    return {
        "campaigns": Campaign.objects.count(),
        "items": list(CampaignScan.objects.values_list("pk", "state", "final_answer")),
        "records": list(ReaderRecord.objects.values_list("pk", "answer", "submitted_at")),
        "scans": Scan.objects.count(),
        "analyses": Analysis.objects.count(),
    }


# --------------------------------------------------------------------------- the import


def test_an_admin_imports_phantoms_and_two_readers_agree_or_go_to_the_adjudicator(
    team, tmp_path, settings
):
    settings.MEDIA_ROOT = str(tmp_path)
    phantoms = {f"set/scan{n:02d}.png": images.phantom(index=n, seed=33) for n in range(6)}
    response = import_campaign(team["admin"], phantoms, team)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["counts"] == {"reading": 6, "agreed": 0, "disputed": 0, "adjudicated": 0}
    assert body["source"] == "import" and body["source_detail"]["files"] == 6
    campaign = Campaign.objects.get(pk=body["id"])
    scans = Scan.objects.filter(pk__in=campaign.items.values("scan_id"))
    # through the upload's intake: de-identified PNGs, nobody's scans, their analyses queued
    assert scans.count() == 6 and not scans.filter(owner__isnull=False).exists()
    assert all(s.image.name.startswith("scans/") and "scan0" not in s.image.name for s in scans)
    assert Analysis.objects.filter(scan__in=scans, status="queued").count() == 6
    assert AuditLog.objects.filter(action="annotation.campaign_create").count() == 1

    ian, olga = team["readers"]
    items = list(campaign.items.order_by("id"))
    queue = api(ian).get(f"/api/annotation/campaigns/{campaign.pk}/queue/").json()
    assert [q["id"] for q in queue["reading"]] == [i.pk for i in items]
    # a blank start: the editor opens with nothing, and the record says so
    opened = api(ian).get(f"/api/annotation/items/{items[0].pk}/record/").json()
    assert opened["ai"] is None and opened["correction"] is None
    assert opened["record"]["started_from"] == "blank"
    assert {p["code"] for p in opened["rubric"]["planes"]} >= {"GB", "RKL"}

    moved = key_boxes(["GB"], [])
    moved[0] = {"id": "gallbladder", "box": [310, 430, 650, 620]}  # IoU about 0.9
    far = key_boxes(["GB"], [])
    far[0] = {"id": "gallbladder", "box": [600, 700, 900, 950]}  # IoU 0
    plan = [  # Ian's answer, Olga's, and what must come of them
        (answer(score=10), answer(score=10), "agreed"),
        (answer(score=10), answer(score=9, boxes=moved), "agreed"),  # 1 point, same grade
        (answer(score=8), answer(score=6), "disputed"),  # Excellent and Good
        (answer(planes=["GB"]), answer(planes=["RKL"]), "disputed"),
        (answer(score=10), answer(score=10, boxes=far), "disputed"),
        (answer(score=4), answer(score=2), "disputed"),  # 2 points apart, two grades
    ]
    for item, (a, b, _) in zip(items, plan, strict=True):
        assert submit(ian, item.pk, a).status_code == 201
        assert submit(olga, item.pk, b).status_code == 201
    states = [CampaignScan.objects.get(pk=i.pk).state for i in items]
    assert states == [want for *_, want in plan]

    # the consensus: Olga's lower score (9) and its deduction; the boxes averaged
    consensus = CampaignScan.objects.get(pk=items[1].pk).final_answer
    assert consensus["score"] == 9 and consensus["grade"] == "Excellent"
    assert [d["item"] for d in consensus["deductions"]] == ["GAIN.high"]
    gb = next(s for s in consensus["structures"] if s["id"] == "gallbladder")
    assert gb["box"] == [305, 425, 645, 615]
    reasons = CampaignScan.objects.get(pk=items[4].pk).comparison["reasons"]
    assert reasons == ["the Gallbladder boxes overlap at IoU 0.00"]
    assert CampaignScan.objects.get(pk=items[3].pk).comparison["reasons"] == [
        "the planes differ (GB and RKL)",
        "only one reader boxed the Gallbladder",
        "only one reader boxed the Right kidney",
    ]

    # the adjudicator settles one through the API (the browser test does it on the page)
    ada = team["adjudicator"]
    waiting = api(ada).get(f"/api/annotation/campaigns/{campaign.pk}/queue/").json()
    assert [w["id"] for w in waiting["adjudication"]] == [i.pk for i in items[2:]]
    side = api(ada).get(f"/api/annotation/items/{items[2].pk}/adjudication/").json()
    assert [r["answer"]["score"] for r in side["records"]] == [8, 6]
    chosen = side["records"][1]
    response = api(ada).post(
        f"/api/annotation/items/{items[2].pk}/adjudication/",
        {**{k: chosen["answer"][k] for k in ("planes", "structures", "deductions")},
         "from_record": chosen["id"]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    settled = CampaignScan.objects.get(pk=items[2].pk)
    assert (settled.state, settled.adjudicated_by, settled.final_answer["score"]) == (
        "adjudicated", ada, 6.0,
    )  # fmt: skip
    assert settled.comparison["chose_record"] == chosen["id"]

    # what the datasets app reads: the agreed and the adjudicated, never the disputed
    assert [i.pk for i in final_records()] == [items[0].pk, items[1].pk, items[2].pk]
    assert [i.pk for i in final_records(campaigns=[campaign])][:1] == [items[0].pk]

    figures = api(team["admin"]).get(f"/api/annotation/campaigns/{campaign.pk}/").json()
    f = figures["figures"]
    assert (f["scans"], f["sent_to_adjudication"]) == (6, 4)
    assert f["adjudication_share"] == pytest.approx(4 / 6)
    # grades: Ian E E E E E M (8 counts Excellent, 4 Moderate), Olga E E G E E P
    ian_g = ["Excellent"] * 5 + ["Moderate"]
    olga_g = ["Excellent", "Excellent", "Good", "Excellent", "Excellent", "Poor"]
    po = sum(x == y for x, y in zip(ian_g, olga_g, strict=True)) / 6  # 4 of 6
    pe = (5 * 4 + 0 * 1 + 1 * 0 + 0 * 1) / 36  # Excellent 5x4; the others never both
    assert po == pytest.approx(4 / 6) and pe == pytest.approx(20 / 36)
    assert f["grade_kappa"] == pytest.approx((po - pe) / (1 - pe))
    gallbladder = f["box_iou"]["gallbladder"]
    want = [1.0, iou([300, 420, 640, 610], [310, 430, 650, 620]), 1.0, 0.0, 1.0]
    assert gallbladder["pairs"] == 5 and gallbladder["mean"] == pytest.approx(sum(want) / 5)
    assert f["unmatched_boxes"] == {"right_kidney": 1, "gallbladder": 1}


def test_a_zip_holding_a_non_image_is_refused_and_nothing_is_kept(team, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)
    before = everything()
    files = {
        "a.png": images.phantom(index=1, seed=5),
        "b.png": images.phantom(index=2, seed=5),
        "notes/readme.pdf": images.renamed_pdf(),
    }
    response = import_campaign(team["admin"], files, team)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "unsupported_type"
    assert body["detail"].startswith("set.zip/notes/readme.pdf: ")
    assert everything() == before
    # the two phantoms intake had stored before it met the PDF are gone too
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_an_import_of_a_document_is_refused_with_intakes_words(team, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)
    before = everything()
    response = import_campaign(team["admin"], {"page.png": images.document()}, team)
    assert response.status_code == 400
    assert response.json()["code"] == "not_ultrasound"
    assert "does not look like an ultrasound scan" in response.json()["detail"]
    assert everything() == before


@pytest.mark.slow
def test_an_imported_dicom_with_patient_text_is_stored_de_identified(team, settings):
    settings.ABVLMQ_KEEP_ORIGINALS = True
    files = {
        "DOE_JANE/phantom.dcm": dicoms.encode(dicoms.phantom_dataset(operator="Smith^Rita")),
        "DOE_JANE/vendor.dcm": dicoms.encode(dicoms.vendor_dataset("US1_UNCR.dcm")),
    }
    response = import_campaign(team["admin"], files, team)
    assert response.status_code == 201, response.content
    campaign = Campaign.objects.get(pk=response.json()["id"])
    scans = list(Scan.objects.filter(pk__in=campaign.items.values("scan_id")).order_by("pk"))
    assert [s.kind for s in scans] == ["dicom", "dicom"]
    with connection.cursor() as cur:
        rows = []
        for table in ("scans_scan", "annotation_campaign", "annotation_campaignscan"):
            cur.execute(f"SELECT * FROM {table}")
            rows += [repr(r) for r in cur.fetchall()]
    dump = "\n".join(rows) + repr(response.json())
    for text in ("DOE", "JANE", "MRN", "Elsewhere", "Smith", "BAPTIST"):
        assert text not in dump, text
    for scan in scans:
        assert set(scan.intake) <= METADATA_KEYS
        with scan.original.open("rb") as fh:
            kept = pydicom.dcmread(fh)
        assert kept.get("PatientName") != dicoms.PATIENT and kept.PatientIdentityRemoved == "YES"
    # the vendor file's burned-in header band (name, IDs: rows 0-105) is cropped away
    top = int(scans[1].intake["crop_box"].split(",")[1])
    assert top >= 106


# --------------------------------------------------------------------------- who may


def test_a_resident_or_an_instructor_cannot_make_a_campaign(
    team, resident, instructor, tmp_path, settings
):
    settings.MEDIA_ROOT = str(tmp_path)
    scan = make_analysis(resident, score=8).scan
    before = everything()
    stored = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    for user in (resident, instructor):
        assert archive_campaign(user, team, scans=[scan.pk]).status_code == 404
        files = {"a.png": images.phantom(index=1, seed=5)}
        assert import_campaign(user, files, team).status_code == 404
        client = api(user)
        client.force_login(user)
        assert client.get("/annotation/new/").status_code == 404
    assert everything() == before
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == stored


def test_a_reader_never_sees_the_other_readers_record_before_submitting_hers(team, resident):
    scan = make_analysis(resident, score=8).scan
    campaign_id = archive_campaign(team["admin"], team, scans=[scan.pk]).json()["id"]
    item = CampaignScan.objects.get(campaign_id=campaign_id)
    ian, olga = team["readers"]
    assert submit(ian, item.pk, answer(score=8)).status_code == 201
    record = ReaderRecord.objects.get(reader=ian)
    before = everything()

    # Olga has opened hers but not submitted it: Ian's is not hers to read
    api(olga).get(f"/api/annotation/items/{item.pk}/record/")
    before = everything()
    refused = api(olga).get(f"/api/annotation/records/{record.pk}/")
    assert refused.status_code == 403
    assert "once you have submitted your own" in refused.json()["detail"]
    assert api(olga).get(f"/api/annotation/items/{item.pk}/records/").status_code == 403
    mine = api(olga).get(f"/api/annotation/items/{item.pk}/").json()
    assert "final_answer" not in mine and "comparison" not in mine
    assert everything() == before
    # outsiders learn nothing: 404
    assert api(resident).get(f"/api/annotation/records/{record.pk}/").status_code == 404
    assert api(resident).get(f"/api/annotation/items/{item.pk}/image/").status_code == 404

    assert submit(olga, item.pk, answer(score=8)).status_code == 201
    assert api(olga).get(f"/api/annotation/records/{record.pk}/").status_code == 200
    assert CampaignScan.objects.get(pk=item.pk).state == "agreed"
    # submitted means final
    again = submit(ian, item.pk, answer(score=6))
    assert again.status_code == 400 and "already" in again.json()["errors"][0]


def test_a_record_breaking_the_rubrics_rule_is_refused_in_words(team, resident):
    scan = make_analysis(resident, score=8).scan
    campaign_id = archive_campaign(team["admin"], team, scans=[scan.pk]).json()["id"]
    item = CampaignScan.objects.get(campaign_id=campaign_id)
    ian = team["readers"][0]
    no_boxes = {"planes": ["GB"], "structures": [], "deductions": []}
    response = submit(ian, item.pk, no_boxes)
    assert response.status_code == 400
    assert any("Gallbladder is a key structure" in m for m in response.json()["errors"])
    assert not ReaderRecord.objects.filter(submitted_at__isnull=False).exists()


def test_only_the_adjudicator_settles_and_only_a_disputed_scan(team, resident):
    scan = make_analysis(resident, score=8).scan
    campaign_id = archive_campaign(team["admin"], team, scans=[scan.pk]).json()["id"]
    item = CampaignScan.objects.get(campaign_id=campaign_id)
    ian, olga = team["readers"]
    url = f"/api/annotation/items/{item.pk}/adjudication/"
    body = answer(score=8)
    assert api(team["adjudicator"]).post(url, body, format="json").status_code == 400  # reading
    submit(ian, item.pk, answer(score=8))
    submit(olga, item.pk, answer(score=4))
    before = everything()
    assert api(ian).post(url, body, format="json").status_code == 404
    assert api(team["admin"]).post(url, body, format="json").status_code == 404
    assert everything() == before
    assert api(team["adjudicator"]).post(url, body, format="json").status_code == 201
    assert CampaignScan.objects.get(pk=item.pk).state == "adjudicated"


def test_readers_and_the_adjudicator_are_told_when_named_and_when_a_scan_waits(
    team, resident, client, django_capture_on_commit_callbacks
):
    team["adjudicator"].email = "ada@example.org"
    team["adjudicator"].save(update_fields=["email"])
    agreed, disputed = (make_analysis(resident, score=8).scan for _ in range(2))
    with django_capture_on_commit_callbacks(execute=True):
        response = archive_campaign(team["admin"], team, scans=[agreed.pk, disputed.pk])
    campaign_id = response.json()["id"]
    ian, olga = team["readers"]
    url = f"/annotation/{campaign_id}/"
    for reader in (ian, olga):
        n = Notification.objects.get(user=reader)
        assert (n.kind, n.url) == ("campaign", url)
        assert n.text == (
            f"{team['admin'].display_name} names you a reader of the campaign “From the "
            "archive”: 2 scans to read, from the model's answer."
        )
    named = Notification.objects.get(user=team["adjudicator"])
    assert (named.kind, named.url) == ("campaign", url)
    assert "names you the adjudicator of the campaign “From the archive”" in named.text
    assert [m.to for m in mail.outbox] == [["ada@example.org"]]  # the one with an address
    assert not Notification.objects.filter(user__in=[team["admin"], resident]).exists()

    items = {i.scan_id: i for i in CampaignScan.objects.filter(campaign_id=campaign_id)}
    submit(ian, items[agreed.pk].pk, answer(score=8))
    submit(olga, items[agreed.pk].pk, answer(score=8))
    assert Notification.objects.filter(user=team["adjudicator"]).count() == 1  # agreed: nothing
    submit(ian, items[disputed.pk].pk, answer(score=8))
    with django_capture_on_commit_callbacks(execute=True):
        submit(olga, items[disputed.pk].pk, answer(score=4))
    waiting = Notification.objects.get(user=team["adjudicator"], kind="adjudication")
    assert waiting.url == f"/annotation/scans/{items[disputed.pk].pk}/adjudicate/"
    assert waiting.text.startswith(
        f"Scan #{disputed.pk} of “From the archive” waits for your adjudication: "
    )
    assert "grade" in waiting.text  # the reasons, in words
    assert mail.outbox[-1].to == ["ada@example.org"] and waiting.url in mail.outbox[-1].body
    assert not Notification.objects.filter(user__in=[ian, olga], kind="adjudication").exists()
    # the link opens her adjudication page, and the notifications page lists both
    client.force_login(team["adjudicator"])
    assert client.get(waiting.url).status_code == 200
    page = client.get("/notifications/").content.decode()
    assert "waits for your adjudication" in page and "names you the adjudicator" in page


# --------------------------------------------------------------------------- the archive


def test_a_campaign_from_the_archive_by_filter_starts_from_the_models_answer(team, resident):
    gb = [make_analysis(resident, score=8, planes=("GB",)) for _ in range(2)]
    make_analysis(resident, score=8, planes=("RKL",))
    response = archive_campaign(team["admin"], team, filter={"plane": "GB"})
    assert response.status_code == 201, response.content
    campaign = Campaign.objects.get(pk=response.json()["id"])
    assert sorted(campaign.items.values_list("scan_id", flat=True)) == sorted(a.scan_id for a in gb)
    assert campaign.source_detail == {"filter": {"plane": "GB"}}
    ian = team["readers"][0]
    item = campaign.items.first()
    opened = api(ian).get(f"/api/annotation/items/{item.pk}/record/").json()
    assert opened["record"]["started_from"] == "model"
    assert opened["record"]["started_model"] == "tiny@abc123"
    assert opened["ai"]["planes"] == ["GB"] and opened["ai"]["score"] == 8
    # the reader may see the image though the scan is not of her cohort
    image = api(ian).get(f"/api/annotation/items/{item.pk}/image/")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    empty = archive_campaign(team["admin"], team, filter={"plane": "PAN"})
    assert empty.status_code == 400 and "No scan matches" in empty.json()["scans"][0]


def test_readers_are_two_different_instructors_or_admins_and_not_the_adjudicator(team, resident):
    scan = make_analysis(resident, score=8).scan
    ian, olga = team["readers"]
    before = everything()
    for readers, adjudicator, field in (
        ([ian, ian], team["adjudicator"], "readers"),
        ([ian, olga], ian, "adjudicator"),
        ([ian, resident], team["adjudicator"], "readers"),
    ):
        bad = {**team, "readers": readers, "adjudicator": adjudicator}
        response = archive_campaign(team["admin"], bad, scans=[scan.pk])
        assert response.status_code == 400 and field in response.json(), response.json()
    assert everything() == before


# --------------------------------------------------------------------------- the queue


def test_the_readers_queue_puts_where_the_model_is_least_sure_first_with_the_reason(team, resident):
    sure = make_analysis(resident, score=8)
    flagged = make_analysis(resident, score=6, needs_review=True)
    Analysis.objects.filter(pk=flagged.pk).update(
        result={**flagged.result, "review_reasons": ["the AI is unsure of the grade"]}
    )
    unsure_plane = make_analysis(resident, score=8)
    declined = make_analysis(resident, score=8)
    Analysis.objects.filter(pk=declined.pk).update(abstained=True, ood_score=4.2)
    for a, confidence in ((sure, 0.97), (flagged, 0.9), (unsure_plane, 0.41)):
        AnalysisEvent.objects.create(
            analysis=a, seq=1, type="plane", payload={"type": "plane", "confidence": confidence}
        )
    Analysis.objects.filter(pk=sure.pk).update(ood_score=1.1)
    scans = [a.scan_id for a in (sure, flagged, unsure_plane, declined)]
    campaign_id = archive_campaign(team["admin"], team, scans=scans).json()["id"]
    ian = team["readers"][0]
    url = f"/api/annotation/campaigns/{campaign_id}/queue/"
    as_made = api(ian).get(url).json()["reading"]
    assert sorted(q["scan"] for q in as_made) == sorted(scans)
    ordered = api(ian).get(url + "?order=uncertain").json()["reading"]
    assert [q["scan"] for q in ordered] == [
        declined.scan_id, flagged.scan_id, unsure_plane.scan_id, sure.scan_id,
    ]  # fmt: skip
    why = {q["scan"]: q["model_doubt"] for q in ordered}
    assert why[declined.scan_id][0].startswith("the model declined it: the image is unlike")
    assert "out-of-distribution score 4.20 (1 is a typical training image)" in why[declined.scan_id]
    assert why[flagged.scan_id][0] == (
        "the model flagged it for review (the AI is unsure of the grade)"
    )
    assert why[unsure_plane.scan_id] == ["it named the plane 41% sure"]
    assert ordered[0]["model"] == "tiny@abc123"
    # the page shows the same order, in words
    client = api(ian)
    client.force_login(ian)
    page = client.get(f"/annotation/{campaign_id}/?order=uncertain").content.decode()
    assert page.index(f"#{declined.scan_id}<") < page.index(f"#{sure.scan_id}<")
    assert "It named the plane 41% sure" in page
    # a scan read is off her queue; the other reader's queue is her own
    item = CampaignScan.objects.get(campaign_id=campaign_id, scan_id=declined.scan_id)
    assert submit(ian, item.pk, answer(score=8)).status_code == 201
    assert declined.scan_id not in [q["scan"] for q in api(ian).get(url).json()["reading"]]
    olga = team["readers"][1]
    assert len(api(olga).get(url).json()["reading"]) == 4
    assert api(team["adjudicator"]).get(url).json()["reading"] == []


def test_the_new_campaign_page_imports_files_and_names_a_refused_one(team, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)
    client = api(team["admin"])
    client.force_login(team["admin"])
    assert client.get("/annotation/new/").status_code == 200
    form = {
        "name": "Two phantoms",
        "reader_1": team["readers"][0].pk,
        "reader_2": team["readers"][1].pk,
        "adjudicator": team["adjudicator"].pk,
        "start_from": "model",
        "source": "import",
    }
    files = [
        images.file("one.png", images.phantom(index=1, seed=7)),
        images.file("two.png", images.phantom(index=2, seed=7)),
    ]
    response = client.post("/annotation/new/", {**form, "files": files})
    assert response.status_code == 302, response.content.decode()[-3000:]
    campaign = Campaign.objects.get()
    assert response["Location"] == f"/annotation/{campaign.pk}/"
    assert campaign.items.count() == 2 and campaign.start_from == "model"

    before = everything()
    bad = [images.file("one.png", images.phantom(index=1, seed=8)),
           images.file("letter.png", images.document())]  # fmt: skip
    page = client.post("/annotation/new/", {**form, "files": bad})
    assert page.status_code == 200
    assert "letter.png: " in page.content.decode() and 'id="import-refused"' in (
        page.content.decode()
    )
    assert everything() == before


def test_a_zip_bomb_is_refused_by_the_uploads_size_rule(team, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.ABVLMQ_MAX_UPLOAD_MB = 1
    before = everything()
    files = {"a.png": images.phantom(index=1, seed=5), "zeros.png": b"\0" * (3 * 2**20)}
    response = import_campaign(team["admin"], files, team)  # the zip itself is a few KB
    assert response.status_code == 400
    assert response.json()["code"] == "too_large"
    assert response.json()["detail"].startswith("set.zip/zeros.png: ")
    assert everything() == before
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_the_pages_are_for_the_campaigns_people_only(team, resident, other_resident):
    scan = make_analysis(resident, score=8).scan
    campaign_id = archive_campaign(team["admin"], team, scans=[scan.pk]).json()["id"]
    item = CampaignScan.objects.get(campaign_id=campaign_id)
    outsider = user_create(username="otto", password=PASSWORD, role="instructor")
    ian, olga = team["readers"]
    pages = {
        "list": "/annotation/",
        "campaign": f"/annotation/{campaign_id}/",
        "read": f"/annotation/scans/{item.pk}/read/",
        "adjudicate": f"/annotation/scans/{item.pk}/adjudicate/",
    }
    expected = {  # who gets what: 200 or 404
        team["admin"]: {"list": 200, "campaign": 200, "read": 404, "adjudicate": 404},
        ian: {"list": 200, "campaign": 200, "read": 200, "adjudicate": 404},
        team["adjudicator"]: {"list": 200, "campaign": 200, "read": 404, "adjudicate": 404},
        outsider: {"list": 404, "campaign": 404, "read": 404, "adjudicate": 404},
        resident: {"list": 404, "campaign": 404, "read": 404, "adjudicate": 404},
    }
    for user, want in expected.items():
        client = api(user)
        client.force_login(user)
        got = {k: client.get(url).status_code for k, url in pages.items()}
        assert got == want, user.username
        home = client.get("/notifications/").content.decode()
        assert ('id="nav-annotation"' in home) == (want["list"] == 200), user.username
    # once disputed, the adjudicator's page opens for her alone
    submit(ian, item.pk, answer(score=8))
    submit(olga, item.pk, answer(score=4))
    client = api(team["adjudicator"])
    client.force_login(team["adjudicator"])
    page = client.get(pages["adjudicate"])
    assert page.status_code == 200
    assert "The grades differ (Excellent and Moderate); the scores are 4 points apart" in (
        page.content.decode()
    )
    for user in (ian, team["admin"]):
        client = api(user)
        client.force_login(user)
        assert client.get(pages["adjudicate"]).status_code == 404


def test_a_closed_campaign_takes_no_more_records(team, resident):
    scan = make_analysis(resident, score=8).scan
    campaign_id = archive_campaign(team["admin"], team, scans=[scan.pk]).json()["id"]
    item = CampaignScan.objects.get(campaign_id=campaign_id)
    ian = team["readers"][0]
    assert api(ian).post(f"/api/annotation/campaigns/{campaign_id}/close/").status_code == 404
    closed = api(team["admin"]).post(f"/api/annotation/campaigns/{campaign_id}/close/")
    assert closed.status_code == 200 and closed.json()["closed"]
    refused = submit(ian, item.pk, answer(score=8))
    assert refused.status_code == 400 and refused.json()["errors"] == ["The campaign is closed."]
    assert not ReaderRecord.objects.filter(submitted_at__isnull=False).exists()
