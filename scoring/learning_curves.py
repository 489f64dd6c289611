"""Learning curves and skill decay over one resident's scores on one plane, in scan order.
Pure: lists of floats in, numbers and words out (the progress pages read them; the target
score, the top grade band's lower bound, comes from the rubric in force).

Methods, stated once:
- learning curve: least-squares fit of score = a + b ln(n) over the plane's scans in order
  (n = 1, 2, ...; the classic log-linear learning curve); "consistently Excellent" means the
  mean of the last 3 scores at or above the Excellent band. With a fitted curve rising (b > 0),
  the estimate is the number of further scans until the fitted score reaches the band, plus 2
  so that three scans in a row are there; none when it does not rise or needs more than 500;
  at least 3 scans are needed for a fit and 5 for a projection (three scans fit any curve:
  "more than 500 scans at this rate" after 3 scans said more than it knew, issue 32);
- skill decay: at least 6 scans on a plane, and the mean of the last 3 is at least 1.5 points
  below the mean of the (up to 5) scans before them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LEVEL_WINDOW = 3
DECAY_MIN_SCANS, DECAY_RECENT, DECAY_BEFORE, DECAY_DROP = 6, 3, 5, 1.5
MAX_ESTIMATE = 500
MIN_PROJECT = 5  # scans before a number of further scans is projected


@dataclass(frozen=True)
class LearningEstimate:
    a: float | None  # intercept of score = a + b ln(n)
    b: float | None  # slope per ln(scan number)
    scans_to_excellent: int | None  # further scans; 0 when already consistently Excellent
    reached: bool
    note: str


def fit_log_curve(scores: list[float]) -> tuple[float, float] | None:
    """(a, b) of score = a + b ln(n) by least squares; None below 3 scores."""
    n = len(scores)
    if n < 3:
        return None
    xs = [math.log(i) for i in range(1, n + 1)]
    mx, my = sum(xs) / n, sum(scores) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in zip(xs, scores, strict=True)) / sxx
    return my - b * mx, b


def learning_curve_estimate(scores: list[float], *, target: float) -> LearningEstimate:
    """How many more scans until the last ``LEVEL_WINDOW`` are at or above ``target``."""
    recent = scores[-LEVEL_WINDOW:]
    if len(recent) == LEVEL_WINDOW and sum(recent) / LEVEL_WINDOW >= target:
        return LearningEstimate(None, None, 0, True, "consistently Excellent")
    fit = fit_log_curve(scores)
    if fit is None:
        return LearningEstimate(None, None, None, False, "needs at least 3 scans")
    a, b = fit
    if b <= 0:
        return LearningEstimate(a, b, None, False, "not improving yet")
    if len(scores) < MIN_PROJECT:
        return LearningEstimate(
            a, b, None, False, f"improving; a projection needs {MIN_PROJECT} scans"
        )
    exponent = (target - a) / b
    if exponent > math.log(10 * MAX_ESTIMATE):  # far beyond the horizon: no number to give
        return LearningEstimate(a, b, None, False, f"more than {MAX_ESTIMATE} scans at this rate")
    remaining = max(1, math.ceil(math.exp(exponent)) + LEVEL_WINDOW - 1 - len(scores))
    if remaining > MAX_ESTIMATE:
        return LearningEstimate(a, b, None, False, f"more than {MAX_ESTIMATE} scans at this rate")
    return LearningEstimate(a, b, remaining, False, f"about {remaining} more scans")


def skill_decay(scores: list[float]) -> str | None:
    """A warning when the recent scores fell clearly below the ones before; else None."""
    if len(scores) < DECAY_MIN_SCANS:
        return None
    recent = scores[-DECAY_RECENT:]
    before = scores[-DECAY_RECENT - DECAY_BEFORE : -DECAY_RECENT]
    was, now = sum(before) / len(before), sum(recent) / len(recent)
    if was - now >= DECAY_DROP:
        return f"recent scores fell from {was:.1f} to {now:.1f}"
    return None


def rolling_levels(scores: list[float]) -> list[float]:
    """The level after each scan: the mean of the last ``LEVEL_WINDOW`` scores up to it."""
    return [
        sum(scores[max(0, i - LEVEL_WINDOW + 1) : i + 1]) / min(i + 1, LEVEL_WINDOW)
        for i in range(len(scores))
    ]
