"""The events of an assessment, as they stream from the model to the browser.

Written down once: the answer parser emits them, the Celery worker stores and forwards them,
the websocket consumer relays them and the page draws them. Every payload is a JSON-ready dict
with a literal ``type``. Boxes are on the 0-1000 grid of Qwen2-VL.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class StructureEvent(TypedDict):
    type: Literal["structure"]
    structure: str  # rubric structure id
    name: str  # display name
    box: list[int]  # [x1, y1, x2, y2], 0-1000
    line: int
    confidence: NotRequired[float]


class PlaneEvent(TypedDict):
    type: Literal["plane"]
    planes: list[str]  # plane codes, one or two
    names: list[str]
    line: int
    confidence: NotRequired[float]


class DeductionEvent(TypedDict):
    type: Literal["deduction"]
    index: int  # 1-based number in the answer
    item: str  # rubric item id
    points: float  # from the rubric, not from the text
    condition: str
    reason: str
    tip: str
    structure: str | None
    box: list[int] | None
    line: int
    confidence: NotRequired[float]


class ScoreEvent(TypedDict):
    type: Literal["score"]
    score: float  # computed by the rubric from the deductions
    grade: str
    stated: float | None  # what the text said, reported, never trusted
    rubric_version: str
    line: int


ErrorCode = Literal[
    "unrecognised_line",
    "unknown_structure",
    "bad_box",
    "unknown_plane",
    "bad_plane",
    "unknown_item",
    "item_not_applicable",
    "duplicate_item",
    "exclusive_items",
    "points_mismatch",
    "score_mismatch",
    "bad_score",
    "out_of_order",
    "missing_section",
    "truncated",
    "engine",
]


class ErrorEvent(TypedDict):
    type: Literal["error"]
    code: str  # one of ErrorCode
    message: str
    line: int | None


class AbstainEvent(TypedDict):
    """The model declines: the image is unlike anything it was trained on (see scoring.ood).

    Sent instead of the answer's events; no structure, plane, deduction or score follows.
    """

    type: Literal["abstain"]
    reason: str  # for the resident and the instructor queue
    ood_score: float  # about 1 for images like the training ones
    threshold: float  # scores above this abstain


class DoneEvent(TypedDict):
    """Sent by the worker after the last event of an analysis (never by the parser)."""

    type: Literal["done"]
    status: Literal["done", "failed"]
    needs_review: bool
    review_reasons: NotRequired[list[str]]  # why an instructor should look, in words


Event = (
    StructureEvent
    | PlaneEvent
    | DeductionEvent
    | ScoreEvent
    | ErrorEvent
    | AbstainEvent
    | DoneEvent
)

EVENT_TYPES = ("structure", "plane", "deduction", "score", "error", "abstain", "done")

ABSTAIN_REASON = (
    "The AI did not assess this image: it is unlike the scans this model was trained on (a "
    "model trained on phantoms declines real patients' scans, as it should; so does any model "
    "shown an organ, a view or a screen it was not taught). No grade is given. Next: your "
    "instructor can assess it, and it is in their queue already; a program can train a model "
    "on its own scans so that the AI reads them."
)


def abstain_event(ood_score: float, threshold: float) -> AbstainEvent:
    return {
        "type": "abstain",
        "reason": ABSTAIN_REASON,
        "ood_score": round(float(ood_score), 4),
        "threshold": round(float(threshold), 4),
    }


def error_event(code: str, message: str, line: int | None = None) -> ErrorEvent:
    return {"type": "error", "code": code, "message": message, "line": line}
