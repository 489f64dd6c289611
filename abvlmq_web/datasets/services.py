"""Dataset versions: freeze the final records of chosen campaigns, and export a version.

The rules themselves (the split, the locked test scans, the content hash, the export's files)
live in :mod:`trainer.datasets`, plain Python; here they are fed from the database. Program
admins only. A scan whose final answer is not set (one reader's record, or two that wait for
the adjudicator) never enters a version: named explicitly, the freeze is refused and nothing
is written; left in a chosen campaign, it is left out and the page says so.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from abvlmq_web.accounts.models import User
from abvlmq_web.annotation.models import Campaign, CampaignScan
from abvlmq_web.annotation.selectors import final_records
from abvlmq_web.core.audit import audit_record
from abvlmq_web.core.rubrics import rubric_for_version
from abvlmq_web.datasets.models import DatasetItem, DatasetVersion
from abvlmq_web.review.assessments import as_record, clean_answer
from trainer.datasets import (
    ExportError,
    Item,
    assign_splits,
    content_hash,
    earlier_splits,
    file_sha256,
    manifest_counts,
    plane_key,
    write_export,
)

DEFAULT_SEED = 33


def require_admin(user: User) -> None:
    if not user.is_program_admin:
        raise PermissionDenied("Only program admins freeze dataset versions and start runs.")


def _record_of(cs: CampaignScan) -> tuple[dict, str]:
    """The annotation record (pixels) of a final answer, checked by review's rule under the
    rubric it was scored by; and that rubric's version."""
    answer = cs.final_answer or {}
    version = answer.get("rubric_version") or cs.campaign.rubric_version
    rubric = rubric_for_version(version)
    scan = cs.scan
    assessment, _ = clean_answer(
        rubric=rubric,
        planes=list(answer.get("planes") or []),
        structures=list(answer.get("structures") or []),
        deductions=list(answer.get("deductions") or []),
        image=scan.image.name,
        width=scan.width,
        height=scan.height,
    )
    record = as_record(assessment, image=scan.image.name, width=scan.width, height=scan.height)
    record.pop("meta", None)
    return record, rubric.version


def earlier_version_splits() -> dict[str, str]:
    """Scan id -> split over every version so far (test in any of them wins)."""
    versions: dict[int, dict[str, str]] = {}
    for version_id, scan_id, split in DatasetItem.objects.order_by(
        "version__created_at", "version_id"
    ).values_list("version_id", "scan_id", "split"):
        versions.setdefault(version_id, {})[str(scan_id)] = split
    return earlier_splits(versions.values())


def version_freeze(
    *,
    user: User,
    name: str,
    campaign_ids: list[int],
    seed: int = DEFAULT_SEED,
    scan_ids: list[int] | None = None,
) -> DatasetVersion:
    """Freeze the final records of the campaigns ``campaign_ids`` (only of the scans
    ``scan_ids`` when given: each must have one) into a new version named ``name``."""
    require_admin(user)
    name = (name or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Name the version."
    elif DatasetVersion.objects.filter(name=name).exists():
        errors["name"] = "A version of that name exists; versions are never replaced."
    campaigns = list(Campaign.objects.filter(pk__in=[int(c) for c in campaign_ids or []]))
    if not campaigns:
        errors["campaigns"] = "Choose at least one campaign."
    if errors:
        raise ValidationError(errors)
    finals = list(final_records(campaigns))
    if scan_ids is not None:
        wanted = {int(s) for s in scan_ids}
        have = {cs.scan_id for cs in finals}
        missing = sorted(wanted - have)
        if missing:
            raise ValidationError(
                {
                    "scans": "No final record for scan(s) "
                    + ", ".join(str(s) for s in missing)
                    + " in these campaigns: a scan read by one reader only, or whose two "
                    "records wait for the adjudicator, cannot enter a version."
                }
            )
        finals = [cs for cs in finals if cs.scan_id in wanted]
    latest: dict[int, CampaignScan] = {}
    for cs in finals:  # oldest first: a scan final in two campaigns keeps its latest answer
        if cs.final_answer:
            latest[cs.scan_id] = cs
    if not latest:
        raise ValidationError({"campaigns": "These campaigns have no final records yet."})
    records, rubrics, problems = {}, set(), []
    for scan_id, cs in latest.items():
        try:
            records[scan_id], version = _record_of(cs)
        except ValidationError as exc:
            problems += [f"scan {scan_id}: {m}" for m in exc.messages]
            continue
        rubrics.add(version)
    if problems:
        raise ValidationError({"records": problems[:20]})
    if len(rubrics) > 1:
        raise ValidationError(
            {"campaigns": f"Their records were scored under {len(rubrics)} rubric versions "
             f"({', '.join(sorted(rubrics))}): freeze campaigns of one rubric together."}
        )  # fmt: skip
    splits = assign_splits(
        [(str(s), plane_key(r["planes"])) for s, r in records.items()],
        seed,
        earlier_version_splits(),
    )
    items = []
    for scan_id, record in records.items():
        cs = latest[scan_id]
        items.append(
            Item(str(scan_id), splits[str(scan_id)], record, Path(cs.scan.image.path)).with_hash()
        )
    counts = manifest_counts([dict(i.record) | {"meta": {"split": i.split}} for i in items])
    with transaction.atomic():
        version = DatasetVersion.objects.create(
            name=name[:200],
            content_hash=content_hash(items),
            seed=seed,
            counts=counts,
            campaigns=[{"id": c.pk, "name": c.name} for c in campaigns],
            rubric_version=rubrics.pop(),
            created_by=user,
        )
        DatasetItem.objects.bulk_create(
            [
                DatasetItem(
                    version=version,
                    scan_id=int(i.id),
                    split=i.split,
                    plane_key=plane_key(i.record["planes"]),
                    answer=latest[int(i.id)].final_answer,
                    record=dict(i.record),
                    image_sha256=i.image_sha256,
                    campaign_scan_id=latest[int(i.id)].pk,
                    campaign_id=latest[int(i.id)].campaign_id,
                )
                for i in items
            ]
        )
        audit_record(
            actor=user,
            action="dataset.freeze",
            details={
                "version": version.name, "hash": version.content_hash,
                "scans": len(items), "splits": counts["splits"],
            },
        )  # fmt: skip
    return version


# --------------------------------------------------------------------------- export


def version_items(version: DatasetVersion) -> list[Item]:
    """The version's items for :func:`trainer.datasets.write_export`; the stored images are
    checked against the hashes frozen with them (:class:`ExportError` when one changed)."""
    out, problems = [], []
    for row in version.items.select_related("scan").order_by("id"):
        source = Path(row.scan.image.path)
        if not source.is_file() or file_sha256(source) != row.image_sha256:
            problems.append(f"the stored image of scan {row.scan_id} changed since the freeze")
            continue
        extra = {"campaign": row.campaign_id, "version": version.name}
        out.append(Item(str(row.scan_id), row.split, row.record, source, row.image_sha256, extra))
    if problems:
        raise ExportError(problems)
    return out


def version_export(version: DatasetVersion, out_dir: str | Path) -> dict:
    """Write the version's export (trainer.datasets) into ``out_dir``; returns the manifest."""
    manifest = write_export(
        version_items(version),
        out_dir,
        name=version.name,
        seed=version.seed,
        rubric=rubric_for_version(version.rubric_version),
        extra={"version_id": version.pk, "campaigns": version.campaigns},
    )
    if manifest["content_hash"] != version.content_hash:  # what was frozen is what is written
        raise ExportError([f"the export's hash {manifest['content_hash']} is not the version's"])
    return manifest


def export_folder_name(version: DatasetVersion) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in version.name).strip("-.")
    return f"{safe or 'dataset'}-{version.content_hash[:12]}"


def version_zip(version: DatasetVersion, out: str | Path | None = None) -> Path:
    """The export as one zip (one folder inside, named after the version and its hash).
    Without ``out`` it is kept under the data folder, built once per version: a version never
    changes, so neither does its zip."""
    if out is None:
        folder = Path(settings.VAR_DIR) / "datasets" / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / f"{export_folder_name(version)}.zip"
        if out.is_file():
            return out
    out = Path(out)
    top = export_folder_name(version)
    with tempfile.TemporaryDirectory(prefix="abvlmq-export-") as tmp:
        version_export(version, Path(tmp) / top)
        partial = out.with_name(out.name + ".part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted((Path(tmp) / top).rglob("*")):
                if path.is_file():
                    zf.write(path, str(path.relative_to(tmp)))
        shutil.move(partial, out)
    return out
