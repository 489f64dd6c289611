"""Which assessed frame of a clip to show: the best by the rubric's score, ties by confidence.

Pure: plain assessments in, an index out, so it tests in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence

from scoring.answer import Assessment


def confidence(assessment: Assessment) -> float | None:
    """One number for how sure the model was: the mean of its plane confidence and of each
    structure's and deduction's confidence (None when it gave none)."""
    values = [assessment.plane_confidence]
    values += [s.confidence for s in assessment.structures]
    values += [d.confidence for d in assessment.deductions]
    known = [float(v) for v in values if v is not None]
    return sum(known) / len(known) if known else None


def best_frame(assessments: Sequence[Assessment]) -> int:
    """Index of the frame with the highest score; among equal scores the most confident;
    then the earliest. Frames without a score (unparsable answers) come last."""
    if not assessments:
        raise ValueError("no assessments to choose from")

    def key(i: int) -> tuple[bool, float, float, int]:
        a = assessments[i]
        c = confidence(a)
        return (
            a.score is not None,
            a.score if a.score is not None else 0.0,
            c if c is not None else -1.0,
            -i,
        )

    return max(range(len(assessments)), key=key)
