"""The AI's answer and a reviewer's correction as one shape, and the record they export as.

Both are read as :class:`scoring.answer.Assessment` (boxes on the 0-1000 grid), so a
correction is validated by the annotation record check (``scoring.records.check_record``, the
one the trainer's data passes too) before it is saved, and exports in exactly the format the
trainer reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from abvlmq_web.scans.models import Analysis
from scoring.answer import Assessment, Deduction, Structure
from scoring.records import record_from_assessment
from scoring.rubric import Rubric


def ai_assessment(analysis: Analysis) -> Assessment:
    """The AI's answer as stored by the worker (Assessment.to_dict in ``analysis.result``)."""
    r = analysis.result or {}
    return Assessment(
        structures=[Structure(s["id"], tuple(s["box"])) for s in r.get("structures", [])],
        planes=list(r.get("planes") or analysis.planes or []),
        deductions=[
            Deduction(d["item"], d.get("points", 0), d.get("reason") or "", _box(d.get("box")))
            for d in r.get("deductions", [])
        ],
        score=analysis.score,
        grade=analysis.grade or None,
        rubric_version=analysis.rubric_version,
        complete=True,
    )


def _box(value: Any):
    return tuple(round(v) for v in value) if value else None


def assessment_of(
    *, planes: list[str], structures: list[dict], deductions: list[dict], rubric: Rubric
) -> Assessment:
    """A reviewer's assessment; points, reasons left blank and the score come from the rubric."""
    ds = []
    for d in deductions:
        item = rubric.items.get(d["item"])
        points = item.points if item else 0.0
        reason = (d.get("reason") or "").strip() or (item.condition if item else "")
        ds.append(Deduction(d["item"], points, reason, _box(d.get("box"))))
    known = [d.item for d in ds if d.item in rubric.items]
    score = rubric.score(known)
    return Assessment(
        structures=[Structure(s["id"], _box(s["box"])) for s in structures],
        planes=list(planes),
        deductions=ds,
        score=score,
        grade=rubric.grade(score),
        rubric_version=rubric.version,
        complete=True,
    )


def as_record(
    assessment: Assessment, *, image: str, width: int, height: int, meta: dict | None = None
) -> dict:
    return record_from_assessment(
        assessment, image=image, width=width, height=height, meta=meta or {}
    )


@dataclass(frozen=True)
class Comparison:
    """How a correction differs from the AI's answer."""

    planes_agree: bool
    kept: tuple[str, ...]  # items both flagged
    removed: tuple[str, ...]  # the AI flagged, the reviewer struck out
    added: tuple[str, ...]  # the reviewer added, the AI missed

    @property
    def confirmed(self) -> bool:
        return self.planes_agree and not self.removed and not self.added


def compare(ai_planes, ai_items, planes, items) -> Comparison:
    ai, rev = list(dict.fromkeys(ai_items)), list(dict.fromkeys(items))
    return Comparison(
        planes_agree=set(ai_planes) == set(planes),
        kept=tuple(i for i in ai if i in rev),
        removed=tuple(i for i in ai if i not in rev),
        added=tuple(i for i in rev if i not in ai),
    )


def readable_problems(
    *, rubric: Rubric, planes: list[str], structures: list[dict], deductions: list[dict]
) -> list[str]:
    """What is wrong with a reviewer's assessment, in words a reviewer reads (names and the
    rubric's wording, never list indexes or raw ids alone). The record check
    (``scoring.records.check_record``) still runs after this one, as the backstop for anything
    it does not cover."""
    problems: list[str] = []
    known = [p for p in planes if p in rubric.planes]
    for p in planes:
        if p not in rubric.planes:
            problems.append(f"The plane {p!r} is not in the rubric; choose another.")
    if not planes:
        problems.append("Choose a plane.")
    if len(set(planes)) != len(planes):
        problems.append("The same plane is chosen twice; choose a different second plane.")
    if len(known) > 1 and any(not rubric.planes[p].standard for p in known):
        problems.append("A non-standard image cannot also carry a standard plane.")
    plane_words = " + ".join(f"{rubric.planes[p].name} ({p})" for p in known) or "no plane"
    standard = any(rubric.planes[p].standard for p in known)
    allowed = set(rubric.structures_for(known)) if standard else set(rubric.structures)

    def sname(sid: str) -> str:
        s = rubric.structures.get(sid)
        return s.name if s else sid

    boxed = set()
    for s in structures:
        sid = str(s.get("id", ""))
        if sid not in rubric.structures:
            problems.append(f"The structure {sid!r} is not in the rubric; delete its box.")
        elif sid not in allowed:
            problems.append(
                f"The {sname(sid)} box: {sname(sid)} is not a key structure of {plane_words}; "
                "delete the box or change the plane."
            )
        else:
            boxed.add(sid)
    applicable = {i.id for i in rubric.items_for(known)}
    seen: set[str] = set()
    groups: dict[str, str] = {}
    for d in deductions:
        iid = str(d.get("item", ""))
        item = rubric.items.get(iid)
        if item is None:
            problems.append(f"The unknown deduction item {iid!r} is not in the rubric; remove it.")
            continue
        if iid in seen:
            problems.append(f"“{item.condition}” is listed twice; remove one.")
            continue
        seen.add(iid)
        if iid not in applicable:
            problems.append(
                f"“{item.condition}” does not apply to {plane_words}; "
                "remove it or change the plane."
            )
            continue
        if item.group:
            if item.group in groups:
                other = rubric.items[groups[item.group]].condition
                problems.append(f"“{other}” and “{item.condition}” exclude each other; keep one.")
            else:
                groups[item.group] = iid
        if item.kind == "missing" and item.structure in boxed:
            problems.append(
                f"“{item.condition}”: a structure that is not displayed cannot have a box; "
                f"delete the {sname(item.structure)} box or remove this deduction."
            )
    return problems
