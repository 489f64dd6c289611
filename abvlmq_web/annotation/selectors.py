"""Reads on annotation campaigns: who sees what, the readers' queue (in the campaign's order
or where the model is least sure, with the reason in words), the adjudicator's queue, the
agreement figures, the archive filter a campaign is made from, and ``final_records`` (what the
datasets app freezes into versions).

Who sees a campaign: its two readers, its adjudicator and program admins; anyone else gets a
404. Who sees a reader's record: its reader always; anyone else only once it is submitted, and
the other reader only once she has submitted her own on that scan (``record_readable``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.http import Http404

from abvlmq_web.accounts.models import Role, User
from abvlmq_web.annotation.agreement import Figures, figures
from abvlmq_web.annotation.models import Campaign, CampaignScan, ReaderRecord
from abvlmq_web.core.constants import NOT_ULTRASOUND_MODEL
from abvlmq_web.review.selectors import with_reviewed
from abvlmq_web.scans.models import Analysis, AnalysisEvent, Scan

State = CampaignScan.State


def final_records(campaigns: Iterable[Campaign] | QuerySet | None = None) -> QuerySet:
    """Campaign scans whose final answer is set (agreed or adjudicated), their scans joined,
    oldest first; only of ``campaigns`` when given. The datasets app reads these."""
    items = CampaignScan.objects.filter(final_answer__isnull=False).select_related(
        "scan", "campaign"
    )
    if campaigns is not None:
        items = items.filter(campaign__in=campaigns)
    return items.order_by("final_at", "id")


def campaigns_for(*, user: User) -> QuerySet[Campaign]:
    """Program admins see every campaign; a reader or adjudicator sees hers."""
    campaigns = Campaign.objects.all()
    if not user.is_program_admin:
        campaigns = campaigns.filter(Q(readers=user) | Q(adjudicator=user)).distinct()
    return campaigns.select_related("created_by", "adjudicator").prefetch_related("readers")


def campaign_for(*, user: User, campaign_id: int) -> Campaign:
    campaign = campaigns_for(user=user).filter(pk=campaign_id).first()
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign


def item_for(*, user: User, item_id: int) -> CampaignScan:
    """A campaign scan of a campaign ``user`` sees; 404 otherwise."""
    item = (
        CampaignScan.objects.filter(campaign__in=campaigns_for(user=user), pk=item_id)
        .select_related("scan", "scan__analysis", "campaign", "campaign__adjudicator")
        .first()
    )
    if item is None:
        raise Http404("No such scan in your campaigns.")
    return item


def is_reader(user: User, campaign: Campaign) -> bool:
    return campaign.readers.filter(pk=user.pk).exists()


def readers_of(campaign: Campaign) -> list[User]:
    """The two readers, in a fixed order (by id): "reader 1" and "reader 2" on every page."""
    return sorted(campaign.readers.all(), key=lambda u: u.pk)


def record_readable(*, user: User, record: ReaderRecord) -> bool:
    """May ``user`` (who sees the campaign) read ``record``? Her own, always. Someone else's
    only once it is submitted, and a reader of the campaign only once she has submitted her
    own on the same scan: a reader never sees the other's record before hers is in."""
    if record.reader_id == user.pk:
        return True
    if not record.submitted:
        return False
    if is_reader(user, record.campaign_scan.campaign):
        return ReaderRecord.objects.filter(
            campaign_scan=record.campaign_scan, reader=user, submitted_at__isnull=False
        ).exists()
    return True


def submitted_records(item: CampaignScan) -> list[ReaderRecord]:
    """The submitted records of a scan, the first submitted first."""
    return list(
        item.records.filter(submitted_at__isnull=False)
        .select_related("reader")
        .order_by("submitted_at", "id")
    )


# --------------------------------------------------------------------------- the model's doubt


@dataclass
class Doubt:
    """How unsure the model was of a scan, for the readers' queue: ``rank`` sorts the least
    sure first; ``reasons`` say why, in words."""

    rank: tuple
    reasons: list[str] = field(default_factory=list)
    model: str = ""

    @property
    def summary(self) -> str:
        return "; ".join(self.reasons)


def _plane_confidences(scan_ids: list[int]) -> dict[int, float]:
    out: dict[int, float] = {}
    for scan_id, payload in AnalysisEvent.objects.filter(
        analysis__scan_id__in=scan_ids, type="plane"
    ).values_list("analysis__scan_id", "payload"):
        value = (payload or {}).get("confidence")
        if isinstance(value, int | float):
            out[scan_id] = float(value)
    return out


def doubt_of(analysis: Analysis | None, plane_confidence: float | None) -> Doubt:
    """The model's doubt about one scan from its stored assessment: declined (unlike its
    training images) first, then flagged for review, then the lowest of its plane confidence
    and its grade's trust, the less typical image (out-of-distribution score) first on a tie;
    scans it has not assessed last."""
    if analysis is None or analysis.status != Analysis.Status.DONE:
        failed = analysis is not None and analysis.status == Analysis.Status.FAILED
        why = "the model's assessment failed" if failed else "the model has not assessed it yet"
        return Doubt(rank=(3, 1.0, 0.0), reasons=[why])
    if analysis.model_id == NOT_ULTRASOUND_MODEL:
        return Doubt(rank=(3, 1.0, 0.0), reasons=["the model did not assess it"])
    result = analysis.result or {}
    ood = analysis.ood_score
    reasons: list[str] = []
    if analysis.abstained:
        reasons.append("the model declined it: the image is unlike the scans it was trained on")
    elif analysis.needs_review:
        said = [str(r) for r in result.get("review_reasons") or [] if isinstance(r, str)]
        reasons.append(
            "the model flagged it for review" + (f" ({'; '.join(said)})" if said else "")
        )
    sure = []
    if plane_confidence is not None and not analysis.abstained:
        sure.append(plane_confidence)
        reasons.append(f"it named the plane {plane_confidence:.0%} sure")
    trust = result.get("grade_trust")
    if isinstance(trust, int | float) and not analysis.abstained:
        sure.append(float(trust))
        reasons.append(f"it trusts its grade {float(trust):.0%}")
    if ood is not None:
        reasons.append(f"out-of-distribution score {ood:.2f} (1 is a typical training image)")
    group = 0 if analysis.abstained else 1 if analysis.needs_review else 2
    return Doubt(
        rank=(group, min(sure) if sure else 1.0, -(ood or 0.0)),
        reasons=reasons,
        model=analysis.model_id,
    )


def with_doubt(items: list[CampaignScan]) -> list[CampaignScan]:
    """Each item carrying ``doubt`` (its scan's analysis read by ``doubt_of``)."""
    confidences = _plane_confidences([i.scan_id for i in items])
    for item in items:
        analysis = getattr(item.scan, "analysis", None)
        item.doubt = doubt_of(analysis, confidences.get(item.scan_id))
    return items


ORDERS = ("campaign", "uncertain")


def reader_queue(*, user: User, campaign: Campaign, order: str = "campaign") -> list:
    """The scans ``user`` (a reader) has still to submit, in the campaign's order or, with
    ``order="uncertain"``, where the model is least sure first (``doubt_of``); each carries
    ``doubt`` and ``mine`` (her record, or None before she opened it)."""
    if not is_reader(user, campaign) or campaign.closed:
        return []
    done = ReaderRecord.objects.filter(
        reader=user, campaign_scan__campaign=campaign, submitted_at__isnull=False
    ).values("campaign_scan_id")
    items = list(
        campaign.items.exclude(pk__in=done)
        .filter(state=State.READING)
        .select_related("scan", "scan__analysis")
        .order_by("id")
    )
    mine = {
        r.campaign_scan_id: r
        for r in ReaderRecord.objects.filter(reader=user, campaign_scan__in=items)
    }
    for item in items:
        item.mine = mine.get(item.pk)
    with_doubt(items)
    if order == "uncertain":
        items.sort(key=lambda i: (i.doubt.rank, i.pk))
    return items


def adjudication_queue(*, campaign: Campaign) -> list[CampaignScan]:
    """The disputed scans, waiting for the adjudicator, oldest first."""
    return list(campaign.items.filter(state=State.DISPUTED).select_related("scan").order_by("id"))


# --------------------------------------------------------------------------- figures


def state_counts(campaign: Campaign) -> dict[str, int]:
    counts = dict.fromkeys(State.values, 0)
    for state in campaign.items.values_list("state", flat=True):
        counts[state] += 1
    return counts


def _double_reads(items: QuerySet) -> dict[int, list[tuple[dict, dict, bool]]]:
    """Per campaign: (first reader's answer, second's, sent to adjudication) of every scan
    both readers submitted; "first" is the reader with the lower id, the same on every scan."""
    by_item: dict[int, list[ReaderRecord]] = defaultdict(list)
    records = ReaderRecord.objects.filter(
        campaign_scan__in=items, submitted_at__isnull=False
    ).order_by("reader_id")
    for r in records:
        by_item[r.campaign_scan_id].append(r)
    out: dict[int, list[tuple[dict, dict, bool]]] = defaultdict(list)
    for item in items.exclude(state=State.READING):
        pair = by_item.get(item.pk, [])
        if len(pair) == 2:
            sent = item.state in (State.DISPUTED, State.ADJUDICATED)
            out[item.campaign_id].append((pair[0].answer, pair[1].answer, sent))
    return out


def campaign_figures(campaign: Campaign) -> Figures:
    """The inter-rater figures of the campaign's two readers (agreement.figures)."""
    return figures(_double_reads(campaign.items.all()).get(campaign.pk, []))


@dataclass
class PairFigures:
    readers: tuple[str, str]
    campaigns: int
    figures: Figures


def figures_by_pair(campaigns: QuerySet[Campaign]) -> tuple[list[PairFigures], Figures]:
    """The figures per reader pair (over every campaign the two read together) and overall
    (every double-read scan of ``campaigns``)."""
    campaigns = list(campaigns.prefetch_related("readers"))
    reads = _double_reads(CampaignScan.objects.filter(campaign__in=campaigns))
    pairs: dict[tuple[int, ...], list] = defaultdict(list)
    names: dict[tuple[int, ...], tuple[str, str]] = {}
    count: dict[tuple[int, ...], int] = defaultdict(int)
    for c in campaigns:
        readers = readers_of(c)
        key = tuple(u.pk for u in readers)
        names[key] = tuple(u.display_name for u in readers)  # type: ignore[assignment]
        count[key] += 1
        pairs[key] += reads.get(c.pk, [])
    rows = [PairFigures(names[k], count[k], figures(v)) for k, v in pairs.items()]
    rows.sort(key=lambda p: p.readers)
    return rows, figures([r for v in pairs.values() for r in v])


# --------------------------------------------------------------------------- the archive


@dataclass(frozen=True)
class ArchiveFilter:
    """Which archived scans a campaign is made of. ``source``: "upload" (a resident's upload),
    "dicom" (received from a scanner), "import" (imported for an earlier campaign), "" any;
    plane and grade as reviewed (a correction in force over the model's answer)."""

    uploader: int | None = None
    plane: str = ""
    grade: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    source: str = ""
    flagged: bool = False  # only scans the model flagged for review (or declined)
    limit: int | None = None
    scans: tuple[int, ...] = ()  # only these (by id)

    def as_dict(self) -> dict:
        return {
            k: (v.isoformat() if isinstance(v, dt.date) else v)
            for k, v in self.__dict__.items()
            if v not in (None, "", False, ())
        }


SOURCES = ("upload", "dicom", "import")


def archive_scans(spec: ArchiveFilter) -> list[Scan]:
    """The archived ultrasound scans ``spec`` selects, newest first: residents' scans (uploaded
    or received and claimed) and scans imported for earlier campaigns; never a scan still
    waiting in the inbox."""
    imported = CampaignScan.objects.filter(campaign__source=Campaign.Source.IMPORT).values(
        "scan_id"
    )
    scans = (
        Scan.objects.filter(is_ultrasound=True)
        .filter(Q(owner__isnull=False) | Q(pk__in=imported))
        .select_related("analysis", "owner")
        .order_by("-created_at", "-id")
    )
    if spec.scans:
        scans = scans.filter(pk__in=spec.scans)
    if spec.uploader:
        scans = scans.filter(owner_id=spec.uploader)
    if spec.since:
        scans = scans.filter(created_at__date__gte=spec.since)
    if spec.until:
        scans = scans.filter(created_at__date__lte=spec.until)
    if spec.source == "dicom":
        scans = scans.filter(inbox__isnull=False)
    elif spec.source == "upload":
        scans = scans.filter(owner__isnull=False, inbox__isnull=True)
    elif spec.source == "import":
        scans = scans.filter(pk__in=imported)
    if spec.flagged:
        scans = scans.filter(analysis__needs_review=True)
    rows = with_reviewed(scans)
    if spec.plane:
        rows = [s for s in rows if s.reviewed and spec.plane in s.reviewed.planes]
    if spec.grade:
        rows = [s for s in rows if s.reviewed and s.reviewed.grade == spec.grade]
    return rows[: spec.limit] if spec.limit else rows


def uploaders() -> QuerySet[User]:
    """Everyone with a scan in the archive, for the filter's choices."""
    return User.objects.filter(scans__isnull=False).distinct().order_by("username")


def eligible_people() -> QuerySet[User]:
    """Who can read or adjudicate: instructors and program admins (residents do not)."""
    return User.objects.filter(
        is_active=True, role__in=[Role.INSTRUCTOR, Role.PROGRAM_ADMIN]
    ).order_by("username")
