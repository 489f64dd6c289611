"""The AI's answer and a reviewer's correction as one shape, and the record they export as.

Both are read as :class:`scoring.answer.Assessment` (boxes on the 0-1000 grid), so a
correction is validated by the annotation record check (``scoring.records.check_record``, the
one the trainer's data passes too) before it is saved, and exports in exactly the format the
trainer reads. ``clean_answer`` is that validation (an annotation campaign's readers pass the
same one); ``rubric_options`` is what the box editor offers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from abvlmq_web.core.rubrics import rubric_for_version
from abvlmq_web.scans.models import Analysis
from scoring.answer import Assessment, Deduction, Structure
from scoring.boxes import is_valid_norm
from scoring.records import check_record, record_from_assessment
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
    """How a correction differs from the AI's answer.

    Of the AI's deductions the correction drops, ``removed`` are those the reviewer struck out
    and ``dropped`` those that no longer apply to the plane she chose (the editor takes them out
    by itself). The boxes: ``boxes_added``, ``boxes_moved`` (the same structure, another box),
    ``boxes_removed`` (deleted by the reviewer) and ``boxes_dropped`` (not a key structure of
    the chosen plane). Structure ids, in the answers' order. The box and plane fields are only
    filled when :func:`compare` is given the rubric and the boxes."""

    planes_agree: bool
    kept: tuple[str, ...]  # items both flagged
    removed: tuple[str, ...]  # the AI flagged, the reviewer struck out
    added: tuple[str, ...]  # the reviewer added, the AI missed
    dropped: tuple[str, ...] = ()  # the AI flagged; no longer applies to the chosen plane
    boxes_added: tuple[str, ...] = ()
    boxes_moved: tuple[str, ...] = ()
    boxes_removed: tuple[str, ...] = ()
    boxes_dropped: tuple[str, ...] = ()

    @property
    def confirmed(self) -> bool:
        """Nothing changed: the plane, every deduction and every box as the AI gave them. Any
        change at all is a correction (issue 32: a moved box is not a confirmation)."""
        return self.planes_agree and not any(
            (
                self.removed, self.added, self.dropped, self.boxes_added, self.boxes_moved,
                self.boxes_removed, self.boxes_dropped,
            )
        )  # fmt: skip

    def summary(self, rubric: Rubric) -> str:
        """What the reviewer changed, in one line of words ("moved 2 boxes, added 'Splenic vein
        not displayed'"); "kept the AI's answer" when nothing changed."""

        def said(item: str) -> str:
            it = rubric.items.get(item)
            return f"“{it.condition if it else item}”"

        def count(n: int, what: str) -> str:
            return f"{n} {what}{'' if n == 1 else 'es' if what.endswith('x') else 's'}"

        parts = []
        if not self.planes_agree:
            parts.append("changed the plane")
        for n, verb in (
            (len(self.boxes_moved), "moved"),
            (len(self.boxes_added), "added"),
            (len(self.boxes_removed), "deleted"),
        ):
            if n:
                parts.append(f"{verb} {count(n, 'box')}")
        parts += [f"added {said(i)}" for i in self.added]
        parts += [f"struck out {said(i)}" for i in self.removed]
        if self.dropped:
            parts.append(f"took out {count(len(self.dropped), 'deduction')} the new plane has not")
        return ", ".join(parts) if parts else "kept the AI's answer"


MOVED = 5  # a box counts as moved when a corner moves more than this on the 0-1000 grid


def _moved(a, b) -> bool:
    return max(abs(float(x) - float(y)) for x, y in zip(a, b, strict=True)) > MOVED


def compare(
    ai_planes,
    ai_items,
    planes,
    items,
    *,
    rubric: Rubric | None = None,
    ai_boxes: dict[str, Any] | None = None,
    boxes: dict[str, Any] | None = None,
) -> Comparison:
    """``ai_boxes``/``boxes``: structure id -> box (the same grid on both sides)."""
    ai, rev = list(dict.fromkeys(ai_items)), list(dict.fromkeys(items))
    gone = [i for i in ai if i not in rev]
    dropped: list[str] = []
    if rubric is not None:
        applicable = {i.id for i in rubric.items_for([p for p in planes if p in rubric.planes])}
        dropped = [i for i in gone if i not in applicable]
    changes: dict[str, tuple[str, ...]] = {}
    if rubric is not None and ai_boxes is not None and boxes is not None:
        known = [p for p in planes if p in rubric.planes]
        standard = any(rubric.planes[p].standard for p in known)
        allowed = set(rubric.structures_for(known)) if standard else set(rubric.structures)
        lost = [s for s in ai_boxes if s not in boxes]
        changes = {
            "boxes_added": tuple(s for s in boxes if s not in ai_boxes),
            "boxes_moved": tuple(
                s for s in boxes if s in ai_boxes and _moved(ai_boxes[s], boxes[s])
            ),
            "boxes_removed": tuple(s for s in lost if s in allowed),
            "boxes_dropped": tuple(s for s in lost if s not in allowed),
        }
    return Comparison(
        planes_agree=set(ai_planes) == set(planes),
        kept=tuple(i for i in ai if i in rev),
        removed=tuple(i for i in gone if i not in dropped),
        added=tuple(i for i in rev if i not in ai),
        dropped=tuple(dropped),
        **changes,
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
    for sid, item_id in rubric.unaccounted(known, boxed, seen):
        item = rubric.items[item_id]
        problems.append(
            f"The {sname(sid)} is a key structure of {plane_words}: draw its box, or add "
            f"“{item.condition}” (−{item.points:g})."
        )
    return problems


def rubric_options(version: str) -> dict:
    """What the box editor offers: planes with their key structures and items, bands, points."""
    rubric = rubric_for_version(version)
    return {
        "version": rubric.version,
        "max_score": rubric.max_score,
        "grades": [{"name": g.name, "min": g.min} for g in rubric.grades],
        "structures": {sid: s.name for sid, s in rubric.structures.items()},
        "planes": [
            {
                "code": p.code,
                "name": p.name,
                "standard": p.standard,
                "structures": list(p.structures),
            }
            for p in rubric.planes.values()
        ],
        "items": [
            {
                "id": i.id,
                "kind": i.kind,
                "plane": i.plane,
                "condition": i.condition,
                "points": i.points,
                "tip": i.tip,
                "group": i.group,
                "structure": i.structure,
            }
            for i in rubric.items.values()
        ],
    }


def _clean_box(value, where: str, problems: list[str]):
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 4:
        problems.append(f"{where}: a box is four numbers [x1, y1, x2, y2] on the 0-1000 grid.")
        return None
    try:
        box = [round(float(v)) for v in value]
    except (TypeError, ValueError):
        problems.append(f"{where}: its corners must be numbers.")
        return None
    if not is_valid_norm(box):
        problems.append(f"{where} is empty or outside the image; redraw it.")
        return None
    return box


def clean_answer(
    *,
    rubric: Rubric,
    planes: list[str],
    structures: list[dict],
    deductions: list[dict],
    image: str,
    width: int,
    height: int,
) -> tuple[Assessment, list[dict]]:
    """A person's whole assessment of an image (planes, boxes on the 0-1000 grid, deduction
    items with reasons), checked in words a reviewer reads (``readable_problems``: every key
    structure boxed or deducted, ...) and then by the annotation record check
    (``scoring.records.check_record``, the one the trainer's data passes too). Raises
    ``ValidationError`` listing every problem; returns the assessment, scored by ``rubric``,
    and its boxes as ``[{"id", "box"}]`` (whole grid units)."""
    problems: list[str] = []
    clean_structures = []
    names = {sid: d.name for sid, d in rubric.structures.items()}
    for s in structures:
        where = f"The {names.get(s.get('id'), s.get('id'))} box"
        box = _clean_box(s.get("box"), where, problems)
        if box is not None:
            clean_structures.append({"id": str(s.get("id", "")), "box": box})
    clean_deductions = []
    for d in deductions:
        item = rubric.items.get(str(d.get("item", "")))
        where = f"The region of “{item.condition if item else d.get('item')}”"
        clean_deductions.append(
            {
                "item": str(d.get("item", "")),
                "reason": str(d.get("reason") or "").strip()[:500],
                "box": _clean_box(d.get("box"), where, problems),
            }
        )
    problems += readable_problems(
        rubric=rubric, planes=list(planes), structures=clean_structures, deductions=clean_deductions
    )
    if problems:
        raise ValidationError(problems)
    assessment = assessment_of(
        planes=list(planes), structures=clean_structures, deductions=clean_deductions, rubric=rubric
    )
    record = as_record(assessment, image=image, width=width, height=height)
    _, problems = check_record(record, rubric)
    if problems:
        raise ValidationError(problems)
    return assessment, clean_structures
