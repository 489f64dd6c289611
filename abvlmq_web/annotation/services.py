"""Writes on annotation campaigns: making one (from the archive, or by importing files through
the upload's intake), a reader's record (opened, then submitted), the comparison when both are
in (agreed: the consensus is the final answer; else disputed), the adjudicator's final answer,
and closing a campaign. Every write of a program admin or an adjudicator is audited. The
readers and the adjudicator are notified when a campaign names them, the adjudicator again
for each scan sent to her (``notifications.notify``).

An import runs every file through ``scans.services.scan_upload``, the upload's own intake: a
DICOM is stored as its de-identified pixels (no tag kept), burned-in text inside the sector is
masked, a file that is no image, no DICOM or no ultrasound is refused with intake's own message
(named by its file). One refused file refuses the whole import: no campaign, no scan, no file
is kept. Imported scans belong to no one (``owner`` None, as a received scan in the inbox
before it is claimed), so they count in no resident's work or quota; their analyses are queued
like any upload's, so the readers can start from the model's answer and the queue can be
ordered by the model's doubt.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import PurePosixPath

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from abvlmq_web.accounts.models import User
from abvlmq_web.annotation.agreement import compare, consensus_parts
from abvlmq_web.annotation.models import Campaign, CampaignScan, ReaderRecord, Start
from abvlmq_web.annotation.selectors import (
    ArchiveFilter,
    archive_scans,
    eligible_people,
    is_reader,
    submitted_records,
)
from abvlmq_web.cine.models import Clip
from abvlmq_web.core.audit import audit_record
from abvlmq_web.core.rubrics import active_rubric, rubric_for_version
from abvlmq_web.notifications.models import Kind
from abvlmq_web.notifications.services import notify
from abvlmq_web.review.assessments import ai_assessment, clean_answer
from abvlmq_web.scans.models import Analysis, Scan
from abvlmq_web.scans.services import intake_limits, scan_upload
from scoring.imaging import IntakeError
from scoring.rubric import Rubric

State = CampaignScan.State
MAX_IMPORT_FILES = 5000
IMPORT_BYTES_FACTOR = 20  # an import's files together: at most this many uploads' worth
# Never images, always skipped in a zip or a folder: a Mac's resource forks and hidden files,
# and a DICOM folder's index (a DICOMDIR holds no pixels).
SKIPPED_NAMES = ("DICOMDIR",)


class ImportRefused(Exception):
    """An import refused because of one of its files: ``code`` is intake's (``unsupported_type``,
    ``not_ultrasound``, ...), ``message`` says which file and why; ``server_fault`` when the
    server could not check it (try again later)."""

    def __init__(self, code: str, message: str, *, server_fault: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.server_fault = server_fault


def _check_people(readers: list[User], adjudicator: User | None) -> None:
    problems: dict[str, list[str]] = {}
    eligible = set(eligible_people().values_list("pk", flat=True))
    if len(readers) != 2 or len({r.pk for r in readers}) != 2:
        problems["readers"] = ["Name two different readers."]
    elif any(r.pk not in eligible for r in readers):
        problems["readers"] = ["Readers are instructors or program admins."]
    if adjudicator is None:
        problems["adjudicator"] = ["Name the adjudicator."]
    elif adjudicator.pk not in eligible:
        problems["adjudicator"] = ["The adjudicator is an instructor or a program admin."]
    elif any(r.pk == adjudicator.pk for r in readers):
        problems["adjudicator"] = ["The adjudicator is not one of the two readers."]
    if problems:
        raise ValidationError(problems)


def _check_campaign(*, user: User, name: str, readers, adjudicator, start_from: str) -> str:
    if not user.is_program_admin:
        raise PermissionDenied("Only program admins make annotation campaigns.")
    name = (name or "").strip()
    problems: dict[str, list[str]] = {}
    if not name:
        problems["name"] = ["Give the campaign a name."]
    if start_from not in Start.values:
        problems["start_from"] = ["Start from the model's answer or from a blank image."]
    if problems:
        raise ValidationError(problems)
    _check_people(list(readers), adjudicator)
    return name[:200]


@transaction.atomic
def campaign_create(
    *,
    user: User,
    name: str,
    readers: list[User],
    adjudicator: User,
    start_from: str,
    scans: list[Scan],
    source: str = Campaign.Source.ARCHIVE,
    source_detail: dict | None = None,
) -> Campaign:
    """A campaign of ``scans`` (at least one; each once) read by ``readers`` (two instructors
    or program admins), disputes settled by ``adjudicator`` (a third one)."""
    name = _check_campaign(
        user=user, name=name, readers=readers, adjudicator=adjudicator, start_from=start_from
    )
    unique = list({s.pk: s for s in scans}.values())
    if not unique:
        raise ValidationError({"scans": ["No scan matches: choose at least one."]})
    campaign = Campaign.objects.create(
        name=name,
        created_by=user,
        adjudicator=adjudicator,
        start_from=start_from,
        source=source,
        source_detail=dict(source_detail or {}),
        rubric_version=active_rubric().version,
    )
    campaign.readers.set(readers)
    CampaignScan.objects.bulk_create([CampaignScan(campaign=campaign, scan=s) for s in unique])
    audit_record(
        actor=user,
        action="annotation.campaign_create",
        details={
            "campaign": campaign.pk,
            "name": name,
            "scans": len(unique),
            "source": source,
            "readers": [r.username for r in readers],
            "adjudicator": adjudicator.username,
            "start_from": start_from,
        },
    )
    url = reverse("annotation-campaign", args=[campaign.pk])
    starts = "the model's answer" if start_from == Start.MODEL else "a blank image"
    for reader in readers:
        notify(
            user=reader, kind=Kind.CAMPAIGN, url=url,
            text=f"{user.display_name} names you a reader of the campaign “{name}”: "
            f"{len(unique)} scan{'s' if len(unique) != 1 else ''} to read, from {starts}.",
        )  # fmt: skip
    notify(
        user=adjudicator, kind=Kind.CAMPAIGN, url=url,
        text=f"{user.display_name} names you the adjudicator of the campaign “{name}” "
        f"({len(unique)} scan{'s' if len(unique) != 1 else ''}): the scans its two readers "
        "disagree on will wait for you.",
    )  # fmt: skip
    return campaign


def campaign_from_archive(
    *,
    user: User,
    name: str,
    readers: list[User],
    adjudicator: User,
    start_from: str,
    spec: ArchiveFilter,
) -> Campaign:
    """A campaign of the archived scans ``spec`` selects (the filter is kept with it)."""
    if not user.is_program_admin:
        raise PermissionDenied("Only program admins make annotation campaigns.")
    return campaign_create(
        user=user,
        name=name,
        readers=readers,
        adjudicator=adjudicator,
        start_from=start_from,
        scans=archive_scans(spec),
        source=Campaign.Source.ARCHIVE,
        source_detail={"filter": spec.as_dict()},
    )


def _skipped(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return (
        "__MACOSX" in path.parts
        or any(p.startswith(".") for p in path.parts)
        or path.name in SKIPPED_NAMES
    )


def import_members(files: list[tuple[str, bytes]]) -> Iterator[tuple[str, bytes]]:
    """The files an import holds, one at a time, a zip opened into its members (folders
    flattened; hidden files, a Mac's ``__MACOSX`` and a DICOMDIR skipped). A member is read to
    the upload's size limit at most (one over it is refused by intake's size rule), and the
    import to ``MAX_IMPORT_FILES`` files and ``IMPORT_BYTES_FACTOR`` times the upload limit in
    all, so a zip bomb can fill neither memory nor the afternoon."""
    limits = intake_limits()
    budget = limits.max_bytes * IMPORT_BYTES_FACTOR
    count = 0

    def take(name: str, data: bytes) -> tuple[str, bytes]:
        nonlocal budget, count
        count += 1
        budget -= len(data)
        if count > MAX_IMPORT_FILES or budget < 0:
            raise ImportRefused(
                "too_large",
                f"{name}: an import holds at most {MAX_IMPORT_FILES} files and "
                f"{limits.max_bytes * IMPORT_BYTES_FACTOR // 2**20} MB; split it in several.",
            )
        return name, data

    for name, data in files:
        if _skipped(name):
            continue
        if not zipfile.is_zipfile(BytesIO(data)):
            yield take(name, data)
            continue
        try:
            archive = zipfile.ZipFile(BytesIO(data))
            infos = [i for i in archive.infolist() if not i.is_dir() and not _skipped(i.filename)]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, OSError) as exc:
            raise ImportRefused("corrupt", f"{name}: the zip cannot be read ({exc}).") from None
        for info in infos:
            member = f"{name}/{info.filename}"
            try:
                limits.check_size(info.file_size)
                with archive.open(info) as fh:
                    content = fh.read(limits.max_bytes + 1)
            except IntakeError as exc:
                raise ImportRefused(exc.code, f"{member}: {exc.message}") from None
            except (zipfile.BadZipFile, RuntimeError, OSError, EOFError) as exc:
                raise ImportRefused("corrupt", f"{member}: cannot be read ({exc}).") from None
            yield take(member, content)


def _stored_files(scan: Scan) -> list:
    """Every file stored for ``scan``: its image, its original, a clip's video and frames."""
    files = [scan.image, scan.original]
    clip = Clip.objects.filter(scan=scan).prefetch_related("sampled").first()
    if clip is not None:
        files += [clip.video, *(f.image for f in clip.sampled.all())]
    return [f for f in files if f]


def campaign_import(
    *,
    user: User,
    name: str,
    readers: list[User],
    adjudicator: User,
    start_from: str,
    files: list[tuple[str, bytes]],
) -> Campaign:
    """A campaign of imported files (images, DICOMs, zips of them), each through the upload's
    intake. Raises ``ImportRefused`` (and keeps nothing: no campaign, no scan, no stored file)
    when any file is refused; ``ValidationError`` for the campaign's own fields."""
    _check_campaign(
        user=user, name=name, readers=readers, adjudicator=adjudicator, start_from=start_from
    )
    stored: list = []  # the files intake wrote, to delete if the import is refused
    try:
        with transaction.atomic():
            scans: list[Scan] = []
            kinds: dict[str, int] = {}
            for member, data in import_members(files):
                try:
                    scan = scan_upload(user=None, file=BytesIO(data))
                except IntakeError as exc:
                    raise ImportRefused(
                        exc.code, f"{member}: {exc.message}", server_fault=exc.server_fault
                    ) from None
                stored += _stored_files(scan)
                scans.append(scan)
                kinds[scan.kind] = kinds.get(scan.kind, 0) + 1
            if not scans:
                raise ValidationError(
                    {"files": ["Choose the images, the DICOMs or a zip of them."]}
                )
            return campaign_create(
                user=user,
                name=name,
                readers=readers,
                adjudicator=adjudicator,
                start_from=start_from,
                scans=scans,
                source=Campaign.Source.IMPORT,
                source_detail={"files": len(scans), "kinds": kinds},
            )
    except BaseException:
        for f in stored:  # the rows went with the transaction; their files go too
            f.storage.delete(f.name)
        raise


# --------------------------------------------------------------------------- a reader's record


def _rubric(campaign: Campaign) -> Rubric:
    return rubric_for_version(campaign.rubric_version)


def model_answer(scan: Scan) -> tuple[dict | None, str]:
    """The model's answer of ``scan`` as an answer dict, and the model's id; (None, "") when
    there is none to start from (not assessed yet, failed, declined, not a scan)."""
    analysis = getattr(scan, "analysis", None)
    if analysis is None or analysis.status != Analysis.Status.DONE or analysis.abstained:
        return None, ""
    ai = ai_assessment(analysis)
    if not ai.planes:
        return None, ""
    return (
        {
            "planes": list(ai.planes),
            "structures": [{"id": s.id, "box": list(s.box)} for s in ai.structures],
            "deductions": [
                {"item": d.item, "reason": d.reason, "box": list(d.box) if d.box else None}
                for d in ai.deductions
            ],
            "score": ai.score,
            "grade": ai.grade,
            "rubric_version": ai.rubric_version,
        },
        analysis.model_id,
    )


def _require_reader(reader: User, item: CampaignScan) -> None:
    if not is_reader(reader, item.campaign):
        raise PermissionDenied("Only the campaign's two readers read its scans.")


@transaction.atomic
def record_open(*, reader: User, item: CampaignScan) -> ReaderRecord:
    """The reader's record of the scan, made the first time she opens it: it records what her
    editor starts from (the model's answer when the campaign says so and the model has one to
    give, else a blank image) and which model gave it."""
    _require_reader(reader, item)
    record = ReaderRecord.objects.filter(campaign_scan=item, reader=reader).first()
    if record is not None:
        return record
    started, model = Start.BLANK, ""
    if item.campaign.start_from == Start.MODEL:
        answer, model_id = model_answer(item.scan)
        if answer is not None:
            started, model = Start.MODEL, model_id
    record, _ = ReaderRecord.objects.get_or_create(
        campaign_scan=item,
        reader=reader,
        defaults={"started_from": started, "started_model": model},
    )
    return record


def answer_of(assessment, clean_structures: list[dict]) -> dict:
    """An answer dict (models.py) of a validated assessment."""
    return {
        "planes": list(assessment.planes),
        "structures": clean_structures,
        "deductions": [
            {"item": d.item, "reason": d.reason, "box": list(d.box) if d.box else None}
            for d in assessment.deductions
        ],
        "score": assessment.score,
        "grade": assessment.grade,
        "rubric_version": assessment.rubric_version,
    }


def validated_answer(
    *, item: CampaignScan, planes: list[str], structures: list[dict], deductions: list[dict]
) -> dict:
    """The answer checked by review's rule (``clean_answer``) under the campaign's rubric."""
    scan = item.scan
    assessment, clean = clean_answer(
        rubric=_rubric(item.campaign),
        planes=list(planes),
        structures=structures,
        deductions=deductions,
        image=scan.image.name,
        width=scan.width,
        height=scan.height,
    )
    return answer_of(assessment, clean)


@transaction.atomic
def record_submit(
    *,
    reader: User,
    item: CampaignScan,
    planes: list[str],
    structures: list[dict],
    deductions: list[dict],
) -> ReaderRecord:
    """Submit the reader's answer (validated by review's rule). Once submitted it is final.
    When it is the second record of the scan, the two are compared (``settle``)."""
    _require_reader(reader, item)
    item = (
        CampaignScan.objects.select_for_update().select_related("campaign", "scan").get(pk=item.pk)
    )
    if item.campaign.closed:
        raise ValidationError("The campaign is closed.")
    record = record_open(reader=reader, item=item)
    if record.submitted:
        raise ValidationError("You have submitted your record of this scan already.")
    record.answer = validated_answer(
        item=item, planes=planes, structures=structures, deductions=deductions
    )
    record.submitted_at = timezone.now()
    record.save(update_fields=["answer", "submitted_at"])
    settle(item)
    return record


def settle(item: CampaignScan) -> CampaignScan:
    """With both records in, compare them (``agreement.compare``): agreed, the consensus is
    the final answer at once; else the scan waits for the adjudicator. Does nothing before."""
    records = submitted_records(item)
    if item.state != State.READING or len(records) < 2:
        return item
    rubric = _rubric(item.campaign)
    names = {sid: s.name for sid, s in rubric.structures.items()}
    first, second = records[0].answer, records[1].answer
    comparison = compare(first, second, names=names)
    item.comparison = comparison
    if comparison["agree"]:
        planes, structures, deductions = consensus_parts(first, second)
        try:
            item.final_answer = validated_answer(
                item=item, planes=planes, structures=structures, deductions=deductions
            )
        except ValidationError as exc:  # the consensus itself breaks the rule: a person decides
            comparison["agree"] = False
            comparison["reasons"] = [f"their consensus is not valid: {'; '.join(exc.messages)}"]
        else:
            item.state = State.AGREED
            item.final_at = timezone.now()
    if not comparison["agree"]:
        item.state = State.DISPUTED
    item.save(update_fields=["comparison", "final_answer", "state", "final_at"])
    if item.state == State.DISPUTED:
        campaign = item.campaign
        reasons = "; ".join(comparison.get("reasons") or [])
        notify(
            user=campaign.adjudicator, kind=Kind.ADJUDICATION, key=f"adjudicate:{item.pk}",
            url=reverse("annotation-adjudicate", args=[item.pk]),
            text=f"Scan #{item.scan_id} of “{campaign.name}” waits for your adjudication"
            + (f": {reasons}." if reasons else "."),
        )  # fmt: skip
    return item


# --------------------------------------------------------------------------- adjudication


@transaction.atomic
def adjudicate(
    *,
    user: User,
    item: CampaignScan,
    planes: list[str],
    structures: list[dict],
    deductions: list[dict],
    from_record: int | None = None,
) -> CampaignScan:
    """The adjudicator's final answer for a disputed scan (validated by the same rule):
    one reader's record as it stands, or her own edit. Audited."""
    item = (
        CampaignScan.objects.select_for_update().select_related("campaign", "scan").get(pk=item.pk)
    )
    if user.pk != item.campaign.adjudicator_id:
        raise PermissionDenied("Only the campaign's adjudicator settles its disputes.")
    if item.state != State.DISPUTED:
        raise ValidationError("This scan is not waiting for adjudication.")
    if item.campaign.closed:
        raise ValidationError("The campaign is closed.")
    answer = validated_answer(
        item=item, planes=planes, structures=structures, deductions=deductions
    )
    chose = None
    if from_record is not None:
        record = item.records.filter(pk=from_record, submitted_at__isnull=False).first()
        if record is None:
            raise ValidationError({"from_record": ["Not a submitted record of this scan."]})
        keys = ("planes", "structures", "deductions", "score")
        if all(record.answer.get(k) == answer.get(k) for k in keys):
            chose = record.pk
    item.final_answer = answer
    item.final_at = timezone.now()
    item.adjudicated_by = user
    item.state = State.ADJUDICATED
    item.comparison = {**item.comparison, "chose_record": chose}
    item.save(update_fields=["final_answer", "final_at", "adjudicated_by", "state", "comparison"])
    audit_record(
        actor=user,
        action="annotation.adjudicate",
        details={
            "campaign": item.campaign_id,
            "campaign_scan": item.pk,
            "scan": item.scan_id,
            "chose_record": chose,
            "score": answer["score"],
        },
    )
    return item


@transaction.atomic
def campaign_close(*, user: User, campaign: Campaign) -> Campaign:
    """No more records or adjudications; the final answers stay."""
    if not user.is_program_admin:
        raise PermissionDenied("Only program admins close campaigns.")
    campaign.closed = True
    campaign.save(update_fields=["closed"])
    audit_record(actor=user, action="annotation.campaign_close", details={"campaign": campaign.pk})
    return campaign
