"""The annotation record: one image with its planes, boxed structures, deductions and score.

The same JSON object (one per line of a ``.jsonl`` file) carries training data, instructor
corrections and exports::

    {"image": "images/000123.png", "width": 512, "height": 512, "planes": ["GB"],
     "structures": [{"id": "gallbladder", "box": [x1, y1, x2, y2]},
                    {"id": "right_lobe", "box": [x1, y1, x2, y2]}],
     "deductions": [{"item": "ATT.mild", "box": null}], "score": 8.0, "grade": "Excellent",
     "meta": {...}}

Boxes here are in pixels; the answer text uses the 0-1000 grid. ``check_record`` lists every
problem of a record against a rubric, the rubric's rule for key structures included (each key
structure of a standard plane is boxed or carries its "not displayed" deduction, so no record
scores a structure it leaves out as perfect); nothing here raises on bad data. Plain Python.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scoring.answer import Answer, Assessment, Deduction, Structure
from scoring.boxes import from_norm, to_norm
from scoring.model_input import Placement
from scoring.rubric import Rubric

PixelBox = tuple[int, int, int, int]

REQUIRED = ("image", "width", "height", "planes", "structures", "deductions", "score")
OPTIONAL = ("grade", "meta")


@dataclass(frozen=True)
class BoxedStructure:
    id: str
    box: PixelBox


@dataclass(frozen=True)
class AppliedItem:
    item: str
    box: PixelBox | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Record:
    image: str
    width: int
    height: int
    planes: tuple[str, ...]
    structures: tuple[BoxedStructure, ...]
    deductions: tuple[AppliedItem, ...]
    score: float
    grade: str
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def item_ids(self) -> list[str]:
        return [d.item for d in self.deductions]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "image": self.image,
            "width": self.width,
            "height": self.height,
            "planes": list(self.planes),
            "structures": [{"id": s.id, "box": list(s.box)} for s in self.structures],
            "deductions": [
                {"item": d.item, "box": list(d.box) if d.box else None}
                | ({"reason": d.reason} if d.reason else {})
                for d in self.deductions
            ],
            "score": self.score,
            "grade": self.grade,
        }
        if self.meta:
            out["meta"] = dict(self.meta)
        return out


def _pixel_box(value: Any, width: int, height: int, what: str, problems: list[str]):
    if (
        not isinstance(value, list | tuple)
        or len(value) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        problems.append(f"{what}: box must be [x1, y1, x2, y2], got {value!r}")
        return None
    x1, y1, x2, y2 = (round(float(v)) for v in value)
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        problems.append(f"{what}: box {list(value)} is empty or outside the {width}x{height} image")
        return None
    return (x1, y1, x2, y2)


def check_record(data: Any, rubric: Rubric) -> tuple[Record | None, list[str]]:
    """Validate one record against ``rubric``: the record (None if unusable) and its problems."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        return None, [f"a record must be a JSON object, got {type(data).__name__}"]
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        return None, [f"missing key(s): {', '.join(missing)}"]
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        problems.append(f"unknown key(s): {', '.join(unknown)}")
    image, width, height = data["image"], data["width"], data["height"]
    if not isinstance(image, str) or not image:
        problems.append("image must be a non-empty path")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
        return None, [
            *problems,
            f"width and height must be positive integers, got {width}x{height}",
        ]
    planes = data["planes"]
    if not isinstance(planes, list) or not all(isinstance(p, str) for p in planes):
        return None, [*problems, f"planes must be a list of codes, got {planes!r}"]
    problems += rubric.check_planes(planes)
    known_planes = [p for p in planes if p in rubric.planes]
    standard = any(rubric.planes[p].standard for p in known_planes)
    allowed = set(rubric.structures_for(known_planes)) if standard else set(rubric.structures)

    structures: list[BoxedStructure] = []
    if not isinstance(data["structures"], list):
        problems.append("structures must be a list")
    for n, s in enumerate(data["structures"] if isinstance(data["structures"], list) else []):
        sid = s.get("id") if isinstance(s, Mapping) else None
        if sid not in rubric.structures:
            problems.append(f"structures[{n}]: unknown structure {sid!r}")
            continue
        if sid not in allowed:
            problems.append(f"structures[{n}]: {sid!r} is not a key structure of {planes}")
        box = _pixel_box(s.get("box"), width, height, f"structures[{n}] ({sid})", problems)
        if box:
            structures.append(BoxedStructure(sid, box))

    items: list[AppliedItem] = []
    if not isinstance(data["deductions"], list):
        problems.append("deductions must be a list")
    for n, d in enumerate(data["deductions"] if isinstance(data["deductions"], list) else []):
        iid = d.get("item") if isinstance(d, Mapping) else None
        if not isinstance(iid, str):
            problems.append(f"deductions[{n}]: item id missing")
            continue
        box = None
        if d.get("box") is not None:
            box = _pixel_box(d["box"], width, height, f"deductions[{n}] ({iid})", problems)
        reason = d.get("reason")
        items.append(AppliedItem(iid, box, reason if isinstance(reason, str) else None))
    problems += rubric.check_deductions(known_planes, [i.item for i in items])
    boxed = {s.id for s in structures}
    for i in items:
        item = rubric.items.get(i.item)
        if item and item.kind == "missing" and item.structure in boxed:
            problems.append(f"{i.item}: a structure that is not displayed cannot have a box")
    for sid, item_id in rubric.unaccounted(known_planes, boxed, [i.item for i in items]):
        problems.append(
            f"{sid} ({rubric.structures[sid].name}) is a key structure of "
            f"{'/'.join(known_planes)} but is neither boxed nor deducted as not displayed "
            f"({item_id}, -{rubric.items[item_id].points:g})"
        )

    score = data["score"]
    valid_items = [i.item for i in items if i.item in rubric.items]
    expected = rubric.score(valid_items)
    if isinstance(score, bool) or not isinstance(score, int | float) or math.isnan(score):
        problems.append(f"score must be a number, got {score!r}")
        score = expected
    elif not math.isclose(float(score), expected, abs_tol=1e-6):
        problems.append(f"score {score:g} disagrees with the rubric's {expected:g} for its items")
    grade = rubric.grade(expected)
    if data.get("grade") is not None and data["grade"] != grade:
        problems.append(f"grade {data['grade']!r} disagrees with the rubric's {grade!r}")
    meta = data.get("meta") or {}
    if not isinstance(meta, Mapping):
        problems.append("meta must be an object")
        meta = {}
    record = Record(
        image=image if isinstance(image, str) else "",
        width=width,
        height=height,
        planes=tuple(planes),
        structures=tuple(structures),
        deductions=tuple(items),
        score=float(expected),
        grade=grade,
        meta=dict(meta),
    )
    return record, problems


def record_to_answer(record: Record, rubric: Rubric) -> Answer:
    """The answer the model should give for ``record``: boxes on the 0-1000 grid of the square
    the model reads the image on (:mod:`scoring.model_input`; a square image's own grid)."""
    place = Placement(record.width, record.height)

    def norm(box):
        if place.square:
            return to_norm(box, place.width, place.height)
        return to_norm(place.to_square_pixels(box), place.side, place.side)

    return Answer(
        structures=tuple(Structure(s.id, norm(s.box)) for s in record.structures),
        planes=record.planes,
        deductions=tuple(
            Deduction(
                d.item,
                rubric.items[d.item].points,
                d.reason or rubric.items[d.item].condition,
                norm(d.box) if d.box else None,
            )
            for d in record.deductions
        ),
    )


def record_from_assessment(
    assessment: Assessment, *, image: str, width: int, height: int, meta: Mapping | None = None
) -> dict[str, Any]:
    """A record (as a dict) of a model's or an instructor's assessment, boxes in pixels."""

    def px(box) -> list[int]:
        return [round(v) for v in from_norm(box, width, height)]

    return {
        "image": image,
        "width": width,
        "height": height,
        "planes": list(assessment.planes),
        "structures": [{"id": s.id, "box": px(s.box)} for s in assessment.structures],
        "deductions": [
            {"item": d.item, "box": px(d.box) if d.box else None, "reason": d.reason}
            for d in assessment.deductions
        ],
        "score": assessment.score,
        "grade": assessment.grade,
        "meta": dict(meta or {}),
    }
