"""A resident's standard planes: scans, best, median, level, trend, learning curve, decay.

Level on a plane: the mean of the last 3 scores (fewer when fewer exist), graded by the active
rubric's bands. The learning curve and skill decay: scoring.learning_curves.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field

from abvlmq_web.accounts.models import User
from abvlmq_web.core.rubrics import active_rubric
from abvlmq_web.review.selectors import resident_results
from abvlmq_web.scans.models import Analysis
from scoring.learning_curves import (
    LEVEL_WINDOW,
    LearningEstimate,
    learning_curve_estimate,
    rolling_levels,
    skill_decay,
)


@dataclass(frozen=True)
class Point:
    analysis_id: int
    scan_id: int
    at: dt.datetime
    score: float
    grade: str


@dataclass
class PlaneProgress:
    plane: str
    name: str
    points: list[Point] = field(default_factory=list)

    @property
    def scores(self) -> list[float]:
        return [p.score for p in self.points]

    @property
    def count(self) -> int:
        return len(self.points)

    @property
    def best(self) -> float | None:
        return max(self.scores) if self.points else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.scores) if self.points else None

    @property
    def last_grade(self) -> str:
        return self.points[-1].grade if self.points else ""

    @property
    def level(self) -> float | None:
        recent = self.scores[-LEVEL_WINDOW:]
        return sum(recent) / len(recent) if recent else None

    @property
    def level_grade(self) -> str:
        return active_rubric().grade(self.level) if self.level is not None else ""

    @property
    def rolling(self) -> list[float]:
        return rolling_levels(self.scores)

    @property
    def estimate(self) -> LearningEstimate:
        return learning_estimate(self.scores)

    @property
    def decay(self) -> str | None:
        return skill_decay(self.scores)


def excellent_threshold() -> float:
    """The lower bound of the active rubric's top band."""
    return active_rubric().grades[-1].min


def learning_estimate(scores: list[float]) -> LearningEstimate:
    """The learning-curve estimate towards the active rubric's top band."""
    return learning_curve_estimate(scores, target=excellent_threshold())


def scored_results(resident: User) -> list[tuple[Analysis, object]]:
    """Her analyses with a score, each with its result as reviewed."""
    return [(a, e) for a, e in resident_results(resident) if e.score is not None]


def resident_planes(*, resident: User) -> list[PlaneProgress]:
    """One row per standard plane she has scanned, in the rubric's order."""
    rubric = active_rubric()
    by_plane: dict[str, PlaneProgress] = {}
    for a, e in scored_results(resident):
        for plane in e.planes:
            if plane not in rubric.planes or not rubric.planes[plane].standard:
                continue
            row = by_plane.setdefault(plane, PlaneProgress(plane, rubric.planes[plane].name))
            row.points.append(Point(a.pk, a.scan_id, a.scan.created_at, e.score, e.grade))
    return [by_plane[c] for c in rubric.planes if c in by_plane]
