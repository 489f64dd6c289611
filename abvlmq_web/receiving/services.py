"""Writes of the receiving app: a received instance becomes a scan; the inbox is claimed,
assigned and purged; residents register the names they use on the scanner.

A received instance goes through ``scans.services.scan_upload``, the upload's own intake
(type sniffed, limits, DICOM decoded, crop to the sector, text masked, tags never stored), so
every rule that holds for an upload holds for it. Before that, its Operators' and Performing
Physician's Name are read once to find the resident (``matching``); they are kept nowhere.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from io import BytesIO

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from PIL import Image
from pydicom.dataset import Dataset

from abvlmq_web.accounts.models import User
from abvlmq_web.accounts.selectors import visible_users
from abvlmq_web.competency.models import AuditLog
from abvlmq_web.core.audit import audit_record
from abvlmq_web.core.permissions import is_reviewer
from abvlmq_web.core.rubrics import rubric_for_version
from abvlmq_web.receiving.matching import header_names, name_key
from abvlmq_web.receiving.models import InboxEntry, ScannerName
from abvlmq_web.scans.models import Scan
from abvlmq_web.scans.services import intake_limits, scan_upload


@dataclass(frozen=True)
class Received:
    scan: Scan
    resident: User | None  # None: no registered name matched; the scan waits in the inbox


def intake_max_bytes() -> int:
    return intake_limits().max_bytes


def resident_for_names(names: list[str]) -> User | None:
    """The one active resident whose registered names include one of ``names``; None when no
    resident or more than one matched (a scan is never given to a guess)."""
    keys = {name_key(n) for n in names} - {""}
    if not keys:
        return None
    owners = set(
        ScannerName.objects.filter(
            key__in=keys, resident__is_active=True, resident__role="resident"
        ).values_list("resident_id", flat=True)
    )
    if len(owners) != 1:
        return None
    return User.objects.get(pk=owners.pop())


@transaction.atomic
def instance_receive(*, data: bytes, source: str) -> Received:
    """Match, then take in one DICOM instance as a scan. Raises IntakeError for refusals."""
    resident = resident_for_names(header_names(data))  # the names are used here and dropped
    scan = scan_upload(user=resident, file=BytesIO(data))  # the upload's intake, unchanged
    if resident is None:
        InboxEntry.objects.create(scan=scan, source=source)
    return Received(scan=scan, resident=resident)


# --------------------------------------------------------------------------- the inbox


def _entry_for_update(entry_id: int) -> InboxEntry:
    entry = (
        InboxEntry.objects.select_for_update()
        .select_related("scan")
        .filter(pk=entry_id, scan__owner__isnull=True)
        .first()
    )
    if entry is None:
        raise Http404("No such scan in the inbox (it may have been claimed).")
    return entry


def _give(entry: InboxEntry, resident: User) -> Scan:
    scan = entry.scan
    scan.owner = resident
    scan.save(update_fields=["owner"])
    entry.delete()
    return scan


@transaction.atomic
def inbox_claim(*, user: User, entry_id: int) -> Scan:
    """A resident takes a scan from the inbox as her own."""
    if not user.is_resident:
        raise PermissionDenied("Only residents claim scans; instructors assign them.")
    entry = _entry_for_update(entry_id)
    scan = _give(entry, user)
    audit_record(actor=user, action="inbox.claim", subject=user, details={"scan": scan.pk})
    return scan


@transaction.atomic
def inbox_assign(*, user: User, entry_id: int, resident_id: int) -> Scan:
    """An instructor (or program admin) gives an inbox scan to a resident she follows."""
    if not is_reviewer(user):
        raise PermissionDenied("Only instructors and program admins assign inbox scans.")
    resident = (
        visible_users(user=user).filter(pk=resident_id, role="resident", is_active=True).first()
    )
    if resident is None:
        raise ValidationError({"resident": "Not a resident you follow."})
    entry = _entry_for_update(entry_id)
    scan = _give(entry, resident)
    audit_record(actor=user, action="inbox.assign", subject=resident, details={"scan": scan.pk})
    return scan


def _files_of(scan: Scan) -> list:
    files = [scan.image, scan.original]
    clip = getattr(scan, "clip", None)  # a cine clip: the video and its sampled frames
    if clip is not None:
        files += [clip.video, *(frame.image for frame in clip.sampled.all())]
    return files


def inbox_purge(*, max_age: dt.timedelta | None = None, now: dt.datetime | None = None) -> int:
    """Delete unclaimed scans received more than ``max_age`` ago (default: the setting), their
    files included; one audit entry says how many went. Returns the number deleted."""
    if max_age is None:
        max_age = dt.timedelta(days=settings.ABVLMQ_INBOX_MAX_AGE_DAYS)
    cutoff = (now or timezone.now()) - max_age
    with transaction.atomic():
        scans = list(
            Scan.objects.select_for_update().filter(
                owner__isnull=True, inbox__received_at__lt=cutoff
            )
        )
        if not scans:
            return 0
        ids = [s.pk for s in scans]
        files = [f for s in scans for f in _files_of(s) if f]
        Scan.objects.filter(pk__in=ids).delete()  # the entry and analysis go with it
        AuditLog.objects.create(
            actor=None,
            actor_name="inbox purge",
            action="inbox.purge",
            details={
                "deleted": len(ids),
                "scans": ids,
                "older_than_days": max_age.total_seconds() / 86400,
            },
        )
        transaction.on_commit(lambda: [f.storage.delete(f.name) for f in files])
    return len(ids)


# --------------------------------------------------------------------------- scanner names


@transaction.atomic
def scanner_name_add(*, resident: User, name: str) -> ScannerName:
    if not resident.is_resident:
        raise PermissionDenied("Only residents register scanner names.")
    key = name_key(name)
    if not key:
        raise ValidationError({"name": "Enter the name as you type it on the scanner."})
    taken = ScannerName.objects.filter(key=key).first()
    if taken is not None:
        if taken.resident_id == resident.pk:
            return taken
        raise ValidationError(
            {"name": "Another resident has registered this name: ask your instructor."}
        )
    return ScannerName.objects.create(resident=resident, name=name.strip(), key=key)


@transaction.atomic
def scanner_name_remove(*, resident: User, name_id: int) -> None:
    deleted, _ = ScannerName.objects.filter(pk=name_id, resident=resident).delete()
    if not deleted:
        raise Http404("No such name.")


# --------------------------------------------------------------------------- results as DICOM


def scan_dicom_export(*, scan: Scan) -> tuple[Dataset, Dataset]:
    """(the de-identified image, the SR of its finished assessment) as DICOM data sets.
    Raises ValidationError when the analysis has not finished with a result."""
    from abvlmq_web.receiving.report import Uids, image_dataset, structured_report

    analysis = scan.analysis
    if analysis.status != analysis.Status.DONE or not analysis.result:
        raise ValidationError("The assessment has not finished; there is nothing to export.")
    uids = Uids.for_scan(f"{scan.pk}:{scan.created_at.isoformat()}")
    with scan.image.open("rb") as fh:
        image = image_dataset(Image.open(fh).convert("RGB"), uids, scan.created_at)
    sr = structured_report(
        image=image,
        result=analysis.result,
        rubric=rubric_for_version(analysis.rubric_version),
        uids=uids,
        model_id=analysis.model_id,
        when=analysis.finished_at or timezone.now(),
    )
    return image, sr
