"""People, analyses and corrections for the teaching tests.

The people are the web tests' own (tests/web/conftest.py): cohort A has Rita (resident),
Rhys (her peer) and Ian (their instructor); Olga instructs cohort B; Pat is the program admin.
Analyses are built directly (no model run): ``make_analysis`` stores a finished analysis with
the given planes and deduction items, scored by the rubric, at a given time.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from abvlmq_web.review.services import correction_create
from abvlmq_web.scans.models import Analysis, Scan
from scoring.answer import Assessment, Deduction, Structure
from scoring.rubric import Rubric, default_rubric
from tests.web.conftest import *  # noqa: F403  the people, cohorts and the scripted engine
from tests.web.conftest import PASSWORD, api, log_dir  # noqa: F401
from tests.web.test_browser import browser  # noqa: F401  Chromium, headless

# Deduction items that add up to 0..10 points on any standard plane (no two share a group).
ITEMS_FOR_POINTS = {
    0: [],
    1: ["GAIN.high"],
    2: ["ATT.mild"],
    3: ["ATT.mild", "GAIN.high"],
    4: ["ATT.moderate"],
    5: ["ATT.moderate", "GAIN.high"],
    6: ["ATT.severe"],
    7: ["ATT.severe", "GAIN.high"],
    8: ["ATT.severe", "GAIN.high", "DEPTH.wrong"],
    9: ["ATT.severe", "GAIN.high", "DEPTH.wrong", "FOCUS.misplaced"],
    10: ["ATT.severe", "GAIN.high", "DEPTH.wrong", "FOCUS.misplaced", "NOISE.artefact"],
}
GB_BOXES = [
    {"id": "gallbladder", "box": [300, 420, 640, 610]},
    {"id": "right_lobe", "box": [120, 150, 880, 700]},
]
T0 = dt.datetime(2030, 1, 1, 9, 0, tzinfo=dt.UTC)


def items_for(score: int) -> list[str]:
    return list(ITEMS_FOR_POINTS[10 - score])


def _png(width: int = 80, height: int = 60) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (40, 40, 40)).save(buf, format="PNG")
    return buf.getvalue()


_PNG = _png()


def key_boxes(planes, items, rubric: Rubric | None = None) -> list[dict]:
    """A box for each key structure of ``planes`` that ``items`` do not deduct as not
    displayed (the rubric's rule: each is one or the other); the gallbladder plane's are
    GB_BOXES."""
    rubric = rubric or default_rubric()
    known = {b["id"]: b for b in GB_BOXES}
    missing = {rubric.items[i].structure for i in items if rubric.items[i].kind == "missing"}
    out = []
    for n, sid in enumerate(
        rubric.structures_for([p for p in planes if rubric.planes[p].standard])
    ):
        if sid not in missing:
            out.append(known.get(sid, {"id": sid, "box": [100 + 40 * n, 100, 300 + 40 * n, 400]}))
    return out


def make_analysis(
    owner,
    *,
    score: int | None = None,
    items: list[str] | None = None,
    planes=("GB",),
    structures: list[dict] | None = None,
    at: dt.datetime | None = None,
    needs_review: bool = False,
    model_id: str = "tiny@abc123",
    rubric: Rubric | None = None,
    assignment=None,
) -> Analysis:
    """A finished analysis of a new scan of ``owner``: give ``score`` (the items follow) or the
    ``items`` themselves."""
    rubric = rubric or default_rubric()
    items = items if items is not None else items_for(score if score is not None else 10)
    if structures is None:
        structures = key_boxes(planes, items, rubric)
    assessment = Assessment(
        structures=[Structure(s["id"], tuple(s["box"])) for s in structures],
        planes=list(planes),
        deductions=[Deduction(i, rubric.items[i].points, rubric.items[i].condition) for i in items],
        rubric_version=rubric.version,
        complete=True,
        needs_review=needs_review,
    )
    assessment.score = rubric.score(items)
    assessment.grade = rubric.grade(assessment.score)
    scan = Scan(owner=owner, assignment=assignment, kind="png", width=80, height=60)
    scan.image.save("scan.png", ContentFile(_PNG), save=False)
    scan.save()
    when = at or timezone.now()
    Scan.objects.filter(pk=scan.pk).update(created_at=when)
    return Analysis.objects.create(
        scan=scan,
        status=Analysis.Status.DONE,
        model_id=model_id,
        rubric_version=rubric.version,
        planes=list(planes),
        score=assessment.score,
        grade=assessment.grade,
        needs_review=needs_review,
        result=assessment.to_dict(),
        started_at=when,
        finished_at=when,
    )


def correct(analysis, reviewer, *, items=None, planes=None, structures=None, note=""):
    """A correction of ``analysis`` by ``reviewer``: its AI answer with the changes given."""
    result = analysis.result
    return correction_create(
        reviewer=reviewer,
        analysis=analysis,
        planes=list(planes if planes is not None else result["planes"]),
        structures=structures
        if structures is not None
        else [{"id": s["id"], "box": s["box"]} for s in result["structures"]]
        if planes is None
        # a relabelled plane: the boxes of the new plane's key structures (the rubric's rule)
        else key_boxes(planes, items if items is not None else []),
        deductions=[
            {"item": i, "reason": f"instructor: {i}"}
            for i in (items if items is not None else [d["item"] for d in result["deductions"]])
        ],
        note=note,
    )


def days(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


@pytest.fixture
def analysis(resident, cohort):
    """Rita's gallbladder scan the AI scored 6 (Good): incomplete gallbladder, mild shadow."""
    return make_analysis(
        resident, items=["GB.gallbladder.incomplete", "ATT.mild"], needs_review=False
    )
