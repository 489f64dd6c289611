"""Teaching examples for remediation: published ones, and the best scans a user may see."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from abvlmq_web.accounts.models import User
from abvlmq_web.accounts.selectors import visible_cohorts
from abvlmq_web.core.constants import NOT_ULTRASOUND_MODEL
from abvlmq_web.core.rubrics import active_rubric
from abvlmq_web.progress.models import TeachingExample
from abvlmq_web.review.selectors import effective_results, latest_corrections
from abvlmq_web.scans.models import Analysis
from abvlmq_web.scans.selectors import scan_visible, scans_for


@dataclass(frozen=True)
class Example:
    scan_id: int
    width: int
    height: int
    score: float | None
    grade: str
    structures: list[dict]  # {"id", "name", "box" (0-1000)}
    published: bool


def _structures_of(analysis: Analysis) -> list[dict]:
    rubric = active_rubric()
    c = latest_corrections([analysis.pk]).get(analysis.pk)
    raw = c.structures if c else (analysis.result or {}).get("structures", [])
    return [
        {
            "id": s["id"],
            "name": rubric.structures[s["id"]].name if s["id"] in rubric.structures else s["id"],
            "box": s["box"],
            "w": s["box"][2] - s["box"][0],
            "h": s["box"][3] - s["box"][1],
        }
        for s in raw
    ]


def published_examples(*, user: User):
    return TeachingExample.objects.filter(
        Q(cohort__isnull=True) | Q(cohort__in=visible_cohorts(user=user))
    ).select_related("scan", "scan__analysis")


def example_image_visible(*, user: User, scan_id: int) -> bool:
    return (
        scan_visible(user=user, scan_id=scan_id)
        or published_examples(user=user).filter(scan_id=scan_id).exists()
    )


def excellent_example(*, user: User, plane: str, exclude_scan: int | None = None) -> Example | None:
    """An example of ``plane`` assessed Excellent (as reviewed): a published one first, else
    the best of the scans ``user`` may see."""
    top = active_rubric().grades[-1].name
    candidates: list[tuple[bool, Analysis]] = [
        (True, e.scan.analysis) for e in published_examples(user=user).filter(plane=plane)
    ]
    own = (
        Analysis.objects.filter(scan__in=scans_for(user=user), status=Analysis.Status.DONE)
        .exclude(model_id=NOT_ULTRASOUND_MODEL)
        .select_related("scan")
        .order_by("-score", "-id")[:200]
    )
    candidates += [(False, a) for a in own]
    effective = effective_results(a for _, a in candidates)
    ranked = [
        (published, a) for published, a in candidates
        if a.scan_id != exclude_scan and plane in effective[a.pk].planes
        and effective[a.pk].grade == top
    ]  # fmt: skip
    if not ranked:
        return None
    ranked.sort(key=lambda pa: (not pa[0], -(effective[pa[1].pk].score or 0)))
    published, a = ranked[0]
    e = effective[a.pk]
    return Example(
        a.scan_id, a.scan.width, a.scan.height, e.score, e.grade, _structures_of(a), published
    )


def example_library(*, user: User) -> list[tuple[str, str, list[Example]]]:
    """The published examples ``user`` may see, by standard plane in the rubric's order:
    (code, name, examples), the Excellent ones (as reviewed) only, best first."""
    rubric = active_rubric()
    top = rubric.grades[-1].name
    rows = list(published_examples(user=user))
    effective = effective_results(e.scan.analysis for e in rows)
    by_plane: dict[str, list[Example]] = {}
    seen: set[tuple[str, int]] = set()
    for e in rows:
        a = e.scan.analysis
        r = effective[a.pk]
        if r.grade != top or e.plane not in r.planes or (e.plane, a.scan_id) in seen:
            continue
        seen.add((e.plane, a.scan_id))
        by_plane.setdefault(e.plane, []).append(
            Example(
                a.scan_id, a.scan.width, a.scan.height, r.score, r.grade, _structures_of(a), True
            )
        )
    out = []
    for code in rubric.standard_planes:
        examples = sorted(by_plane.get(code, []), key=lambda x: -(x.score or 0))
        out.append((code, rubric.planes[code].name, examples))
    return out
