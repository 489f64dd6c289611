"""The model's answer: one grammar, rendered for training and parsed back for inference.

Three sections in the paper's order (detection -> plane -> scoring)::

    Structures:
    <|object_ref_start|>Gallbladder<|object_ref_end|><|box_start|>(120,340),(560,610)<|box_end|>
    Plane: GB
    Deductions:
    1. GB.gallbladder.incomplete (-2): Gallbladder displayed incompletely <|box_start|>..
    2. ATT.mild (-2): Acoustic attenuation over less than 1/4 of the sector
    Score: 6

``Structures: none`` and ``Deductions: none`` stand for empty sections. Boxes are on the 0-1000
grid. The parser is incremental (:class:`AnswerParser` takes text in chunks of any size and emits
each event as soon as its line is complete) and tolerant: malformed text gives error events and a
partial :class:`Assessment`, never an exception. The score is computed by the rubric from the
parsed deductions; a stated score that disagrees is reported, not trusted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scoring.boxes import NormBox, is_valid_norm
from scoring.events import (
    DeductionEvent,
    ErrorEvent,
    Event,
    PlaneEvent,
    ScoreEvent,
    StructureEvent,
    error_event,
)
from scoring.rubric import Rubric, default_rubric

REF_START, REF_END = "<|object_ref_start|>", "<|object_ref_end|>"
BOX_START, BOX_END = "<|box_start|>", "<|box_end|>"

STRUCTURES_HEADER = "Structures:"
PLANE_PREFIX = "Plane:"
DEDUCTIONS_HEADER = "Deductions:"
SCORE_PREFIX = "Score:"
NONE = "none"


# ------------------------------------------------------------------ data


@dataclass(frozen=True)
class Structure:
    id: str
    box: NormBox
    confidence: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Deduction:
    item: str
    points: float
    reason: str
    box: NormBox | None = None
    confidence: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Answer:
    """What the model says about one image, without anything derived from it."""

    structures: tuple[Structure, ...]
    planes: tuple[str, ...]
    deductions: tuple[Deduction, ...]


@dataclass
class Assessment:
    """A parsed answer, with the rubric's score and what went wrong on the way."""

    structures: list[Structure] = field(default_factory=list)
    planes: list[str] = field(default_factory=list)
    deductions: list[Deduction] = field(default_factory=list)
    stated_score: float | None = None
    score: float | None = None  # None when the answer never reached its score line
    grade: str | None = None
    errors: list[ErrorEvent] = field(default_factory=list)
    rubric_version: str = ""
    complete: bool = False
    needs_review: bool = False
    plane_confidence: float | None = None
    # Out-of-distribution score of the image (scoring.ood; None when the checkpoint has no
    # statistics) and whether the model declined to assess it because of that score.
    ood_score: float | None = None
    abstained: bool = False
    # why an instructor should look, in words (scoring.stream.mark_for_review); empty if not
    review_reasons: list[str] = field(default_factory=list)
    grade_trust: float | None = None  # the probability the grade is right, when fitted
    # boxes less sure than the checkpoint's threshold: kept, but not drawn as found
    unsure_structures: list[Structure] = field(default_factory=list)

    @property
    def answer(self) -> Answer:
        return Answer(tuple(self.structures), tuple(self.planes), tuple(self.deductions))

    def to_dict(self) -> dict[str, Any]:
        return {
            "planes": list(self.planes),
            "structures": [
                {"id": s.id, "box": list(s.box), "confidence": s.confidence}
                for s in self.structures
            ],
            "deductions": [
                {
                    "item": d.item,
                    "points": d.points,
                    "reason": d.reason,
                    "box": list(d.box) if d.box else None,
                    "confidence": d.confidence,
                }
                for d in self.deductions
            ],
            "score": self.score,
            "stated_score": self.stated_score,
            "grade": self.grade,
            "rubric_version": self.rubric_version,
            "complete": self.complete,
            "needs_review": self.needs_review,
            "errors": list(self.errors),
            "ood_score": self.ood_score,
            "abstained": self.abstained,
            "review_reasons": list(self.review_reasons),
            "grade_trust": self.grade_trust,
            "unsure_structures": [
                {"id": s.id, "box": list(s.box), "confidence": s.confidence}
                for s in self.unsure_structures
            ],
        }


# ------------------------------------------------------------------ render


def _fmt(x: float) -> str:
    return f"{x:g}"


def render_box(box: NormBox) -> str:
    x1, y1, x2, y2 = box
    return f"{BOX_START}({x1},{y1}),({x2},{y2}){BOX_END}"


def render(answer: Answer, rubric: Rubric | None = None) -> str:
    """The training target for ``answer``; its score line is the rubric's score."""
    rubric = rubric or default_rubric()
    lines = [STRUCTURES_HEADER + (f" {NONE}" if not answer.structures else "")]
    for s in answer.structures:
        name = rubric.structures[s.id].name
        lines.append(f"{REF_START}{name}{REF_END}{render_box(s.box)}")
    lines.append(f"{PLANE_PREFIX} {', '.join(answer.planes)}")
    lines.append(DEDUCTIONS_HEADER + (f" {NONE}" if not answer.deductions else ""))
    for n, d in enumerate(answer.deductions, start=1):
        item = rubric.items[d.item]
        reason = " ".join((d.reason or item.condition).split())
        box = f" {render_box(d.box)}" if d.box else ""
        lines.append(f"{n}. {d.item} (-{_fmt(item.points)}): {reason}{box}")
    lines.append(f"{SCORE_PREFIX} {_fmt(rubric.score(d.item for d in answer.deductions))}")
    return "\n".join(lines)


# ------------------------------------------------------------------ parse

_BOX_RE = re.compile(
    re.escape(BOX_START)
    + r"\s*\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)\s*,?\s*"
    + r"\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)\s*"
    + re.escape(BOX_END)
)
_STRUCT_RE = re.compile(
    re.escape(REF_START) + r"(.*?)" + re.escape(REF_END) + r"\s*(" + re.escape(BOX_START) + r".*)$"
)
_DEDUCTION_RE = re.compile(
    r"^(\d+)[.)]\s*([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+)\s*"
    r"(?:\(\s*([-+]?\d+(?:\.\d+)?)\s*\))?\s*:?\s*(.*)$"
)
_SCORE_RE = re.compile(r"^([-+]?\d+(?:\.\d+)?)\s*(?:/\s*10)?\s*$")

# section states, in the order the grammar requires
_START, _STRUCTURES, _PLANE, _DEDUCTIONS, _SCORE = range(5)
_SECTION_NAMES = {
    _STRUCTURES: "Structures",
    _PLANE: "Plane",
    _DEDUCTIONS: "Deductions",
    _SCORE: "Score",
}


class AnswerParser:
    """Incremental parser: ``feed`` text as it is generated, then ``finish``.

    A line is handled when its newline arrives (the last one at ``finish``), so the events do
    not depend on how the text was chunked.
    """

    def __init__(self, rubric: Rubric | None = None) -> None:
        self.rubric = rubric or default_rubric()
        self.result = Assessment(rubric_version=self.rubric.version)
        # where the answer's boxes go once read: the model's square -> the scan (see
        # scoring.model_input); None leaves them on the grid the answer used
        self.box_map: Callable[[NormBox], NormBox] | None = None
        self._buffer = ""
        self._line_no = 0
        self._state = _START
        self._groups: dict[str, str] = {}
        self._finished = False

    # public API -----------------------------------------------------------
    def feed(self, chunk: str) -> list[Event]:
        if self._finished:
            raise RuntimeError("parser already finished")
        self._buffer += chunk
        events: list[Event] = []
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            events.extend(self._line(line))
        return events

    def finish(self) -> list[Event]:
        """Handle the last line and report whatever the answer never said."""
        if self._finished:
            return []
        self._finished = True
        events: list[Event] = []
        if self._buffer:
            events.extend(self._line(self._buffer))
            self._buffer = ""
        r = self.result
        if self._state != _SCORE:
            missing = [_SECTION_NAMES[s] for s in range(max(self._state + 1, 1), _SCORE + 1)]
            events.append(
                self._error(
                    "truncated",
                    "The answer stopped before its "
                    + ", ".join(missing)
                    + " section"
                    + ("s" if len(missing) > 1 else "")
                    + "; no score was given.",
                    line=None,
                )
            )
            r.score, r.grade, r.complete = None, None, False
        r.needs_review = r.needs_review or bool(r.errors) or not r.complete
        return events

    @property
    def assessment(self) -> Assessment:
        return self.result

    # lines --------------------------------------------------------------
    def _error(self, code: str, message: str, line: int | None = -1) -> ErrorEvent:
        ev = error_event(code, message, self._line_no if line == -1 else line)
        self.result.errors.append(ev)
        return ev

    def _advance(self, target: int, what: str) -> list[Event]:
        """Move to section ``target``; report sections skipped or sections out of order."""
        events: list[Event] = []
        if target <= self._state:
            events.append(self._error("out_of_order", f"{what} appears again or out of order"))
            return events
        for skipped in range(self._state + 1, target):
            if skipped == _STRUCTURES:
                continue  # a missing Structures header is harmless if lines follow
            events.append(
                self._error("missing_section", f"The {_SECTION_NAMES[skipped]} section is missing")
            )
        self._state = target
        return events

    def _line(self, raw: str) -> list[Event]:
        self._line_no += 1
        line = raw.strip()
        if not line:
            return []
        low = line.lower()
        if low.startswith(STRUCTURES_HEADER.lower()):
            rest = line[len(STRUCTURES_HEADER) :].strip()
            events = self._advance(_STRUCTURES, "Structures")
            if rest and rest.lower() != NONE:
                events.extend(self._structure(rest))
            return events
        if line.startswith(REF_START):
            events = []
            if self._state == _START:
                self._state = _STRUCTURES
            elif self._state != _STRUCTURES:
                return [self._error("out_of_order", "A structure appears outside its section")]
            events.extend(self._structure(line))
            return events
        if low.startswith(PLANE_PREFIX.lower()):
            events = self._advance(_PLANE, "Plane")
            events.extend(self._plane(line[len(PLANE_PREFIX) :]))
            return events
        if low.startswith(DEDUCTIONS_HEADER.lower()):
            rest = line[len(DEDUCTIONS_HEADER) :].strip()
            events = self._advance(_DEDUCTIONS, "Deductions")
            if rest and rest.lower() != NONE:
                events.append(self._error("unrecognised_line", f"Unexpected text {rest[:60]!r}"))
            return events
        if low.startswith(SCORE_PREFIX.lower()):
            events = self._advance(_SCORE, "Score")
            events.extend(self._score(line[len(SCORE_PREFIX) :].strip()))
            return events
        if self._state == _DEDUCTIONS and _DEDUCTION_RE.match(line):
            return self._deduction(line)
        return [self._error("unrecognised_line", f"Cannot read line {line[:80]!r}")]

    def _box(self, text: str, what: str) -> tuple[NormBox | None, ErrorEvent | None]:
        m = _BOX_RE.search(text)
        if not m:
            return None, self._error("bad_box", f"The box of {what} cannot be read")
        values = [float(v) for v in m.groups()]
        if not all(v.is_integer() for v in values) or not is_valid_norm(values):
            return None, self._error(
                "bad_box",
                f"The box of {what} {tuple(values)} is outside 0-1000 or has no area",
            )
        box: NormBox = tuple(int(v) for v in values)  # type: ignore[assignment]
        return (self.box_map(box) if self.box_map else box), None

    def _structure(self, text: str) -> list[Event]:
        m = _STRUCT_RE.match(text)
        if not m:
            return [self._error("unrecognised_line", f"Cannot read structure {text[:80]!r}")]
        name = m.group(1).strip()
        sid = self.rubric.structure_id(name)
        if sid is None:
            return [self._error("unknown_structure", f"Unknown structure {name!r}")]
        box, err = self._box(m.group(2), repr(name))
        if err:
            return [err]
        assert box is not None
        self.result.structures.append(Structure(sid, box))
        ev: StructureEvent = {
            "type": "structure",
            "structure": sid,
            "name": self.rubric.structures[sid].name,
            "box": list(box),
            "line": self._line_no,
        }
        return [ev]

    def _plane(self, text: str) -> list[Event]:
        codes = [c for c in re.split(r"[\s,;/+]+", text.strip()) if c]
        known = [c.upper() for c in codes if c.upper() in self.rubric.planes]
        events: list[Event] = [
            self._error("unknown_plane", f"Unknown plane code {c!r}")
            for c in codes
            if c.upper() not in self.rubric.planes
        ]
        known = list(dict.fromkeys(known))
        problems = self.rubric.check_planes(known)
        if problems:
            events.append(self._error("bad_plane", "; ".join(problems)))
            if len(known) > 1:  # e.g. NS combined with a plane: keep none rather than guess
                known = []
        if known:
            self.result.planes = known
            ev: PlaneEvent = {
                "type": "plane",
                "planes": known,
                "names": [self.rubric.planes[c].name for c in known],
                "line": self._line_no,
            }
            events.append(ev)
        return events

    def _deduction(self, line: str) -> list[Event]:
        m = _DEDUCTION_RE.match(line)
        assert m is not None
        index, item_id, stated_points, rest = m.groups()
        item = self.rubric.items.get(item_id)
        if item is None:
            return [self._error("unknown_item", f"Unknown deduction item {item_id!r}")]
        problems = self.rubric.check_deductions(self.result.planes, [item_id])
        if problems:
            return [self._error("item_not_applicable", problems[0])]
        if any(d.item == item_id for d in self.result.deductions):
            return [self._error("duplicate_item", f"Deduction {item_id!r} applied twice")]
        if item.group and item.group in self._groups:
            other = self._groups[item.group]
            return [
                self._error("exclusive_items", f"{item_id!r} cannot apply together with {other!r}")
            ]
        events: list[Event] = []
        if stated_points is not None and not math.isclose(abs(float(stated_points)), item.points):
            events.append(
                self._error(
                    "points_mismatch",
                    f"{item_id} is worth {_fmt(item.points)} points by the rubric, "
                    f"the answer said {stated_points}",
                )
            )
        box: NormBox | None = None
        box_at = rest.find(BOX_START)
        reason = rest
        if box_at >= 0:
            reason = rest[:box_at]
            box, err = self._box(rest[box_at:], item_id)
            if err:
                events.append(err)
        reason = " ".join(reason.split()) or item.condition
        if item.group:
            self._groups[item.group] = item_id
        self.result.deductions.append(Deduction(item_id, item.points, reason, box))
        ev: DeductionEvent = {
            "type": "deduction",
            "index": int(index),
            "item": item_id,
            "points": item.points,
            "condition": item.condition,
            "reason": reason,
            "tip": item.tip,
            "structure": item.structure,
            "box": list(box) if box else None,
            "line": self._line_no,
        }
        events.append(ev)
        return events

    def _score(self, text: str) -> list[Event]:
        r = self.result
        events: list[Event] = []
        m = _SCORE_RE.match(text)
        if m:
            r.stated_score = float(m.group(1))
        else:
            events.append(self._error("bad_score", f"Cannot read the stated score {text[:40]!r}"))
        if not r.planes:
            # no plane, no applicable items: any score would be a guess
            events.append(self._error("missing_section", "No valid plane: the score is withheld"))
            r.complete = False
            return events
        events += self._account_for_structures()
        score = self.rubric.score(d.item for d in r.deductions)
        if r.stated_score is not None and not math.isclose(r.stated_score, score):
            events.append(
                self._error(
                    "score_mismatch",
                    f"The answer stated {_fmt(r.stated_score)}, the rubric gives "
                    f"{_fmt(score)} for the deductions listed; {_fmt(score)} is used",
                )
            )
        r.score, r.grade, r.complete = score, self.rubric.grade(score), True
        ev: ScoreEvent = {
            "type": "score",
            "score": score,
            "grade": r.grade,
            "stated": r.stated_score,
            "rubric_version": self.rubric.version,
            "line": self._line_no,
        }
        events.append(ev)
        return events

    def _account_for_structures(self) -> list[Event]:
        """The rubric's rule for key structures, applied to the answer: a key structure of the
        plane that the answer neither boxed nor deducted is scored as not displayed (its
        deduction is added, with a reason saying so) and the answer is flagged for review, so
        an answer that leaves a structure out never scores it as perfect."""
        r = self.result
        events: list[Event] = []
        boxed, applied = [s.id for s in r.structures], [d.item for d in r.deductions]
        for sid, item_id in self.rubric.unaccounted(r.planes, boxed, applied):
            item = self.rubric.items[item_id]
            name = self.rubric.structures[sid].name
            events.append(
                self._error(
                    "structure_unaccounted",
                    f"The answer neither boxed nor deducted the {name}, a key structure of "
                    f"{'/'.join(r.planes)}: it is scored as not displayed (-{_fmt(item.points)})",
                )
            )
            reason = f"{item.condition} (not in the AI's answer; the rubric's rule applies)"
            r.deductions.append(Deduction(item_id, item.points, reason, None))
            ev: DeductionEvent = {
                "type": "deduction",
                "index": len(r.deductions),
                "item": item_id,
                "points": item.points,
                "condition": item.condition,
                "reason": reason,
                "tip": item.tip,
                "structure": item.structure,
                "box": None,
                "line": self._line_no,
            }
            events.append(ev)
        return events


def parse(text: str, rubric: Rubric | None = None) -> Assessment:
    """Parse a whole answer. Never raises on malformed text."""
    parser = AnswerParser(rubric)
    parser.feed(text)
    parser.finish()
    return parser.assessment


def parse_events(text: str, rubric: Rubric | None = None) -> tuple[list[Event], Assessment]:
    parser = AnswerParser(rubric)
    events = parser.feed(text)
    events += parser.finish()
    return events, parser.assessment
