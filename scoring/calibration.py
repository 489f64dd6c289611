"""A checkpoint's confidence calibration: what its plane confidence means, and when to send an
assessment to a person.

The raw plane confidence is the generated tokens' probability, and a small model is sure of
itself far more often than it is right (the demo model: mean 90 % confident, 55 % right). A
monotone map fitted on held-out phantoms (``trainer/calibrate.py``: equal-count bins, made
monotone by pool-adjacent-violators) turns it into the share of such answers that were right.
The review thresholds fitted beside it are the ones that send the most wrong grades to a person
while flagging at most a quarter of the right ones. Both live in the checkpoint's
``abvlmq.json`` under ``"calibration"``; a checkpoint without it keeps the raw confidence and
the default thresholds. Pure Python.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PlaneCalibration:
    """A monotone piecewise-linear map from raw to calibrated confidence: knots ``x`` (raw,
    increasing) and ``y`` (calibrated, non-decreasing); flat beyond the ends."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or not self.x:
            raise ValueError("calibration: x and y must be non-empty and of one length")
        if any(b < a for a, b in zip(self.x, self.x[1:], strict=False)):
            raise ValueError("calibration: x must increase")
        if any(b < a for a, b in zip(self.y, self.y[1:], strict=False)):
            raise ValueError("calibration: y must not decrease")
        if not all(0.0 <= v <= 1.0 for v in (*self.x, *self.y)):
            raise ValueError("calibration: knots must lie in [0, 1]")

    def __call__(self, confidence: float) -> float:
        x, y = self.x, self.y
        if confidence <= x[0]:
            return y[0]
        if confidence >= x[-1]:
            return y[-1]
        k = bisect_right(x, confidence)
        x0, x1, y0, y1 = x[k - 1], x[k], y[k - 1], y[k]
        if x1 == x0:
            return y1
        return y0 + (y1 - y0) * (confidence - x0) / (x1 - x0)

    def to_dict(self) -> dict[str, list[float]]:
        return {"x": [round(v, 5) for v in self.x], "y": [round(v, 5) for v in self.y]}


def pool_adjacent_violators(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """The non-decreasing sequence closest to ``values`` in weighted least squares."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights, strict=True):
        blocks.append([float(v), float(w), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, n2 = blocks.pop()
            m1, w1, n1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    out: list[float] = []
    for mean, _w, n in blocks:
        out.extend([mean] * int(n))
    return out


def fit_plane_calibration(pairs: Sequence[tuple[float, bool]], bins: int = 10) -> PlaneCalibration:
    """Equal-count bins of (raw confidence, right) pairs, their accuracies made monotone; the
    knots are the bins' mean raw confidences."""
    if len(pairs) < bins:
        raise ValueError(f"calibration: {len(pairs)} pairs are too few for {bins} bins")
    ordered = sorted(pairs, key=lambda p: p[0])  # by confidence only: never by outcome
    size = len(ordered) / bins
    merged: list[list[float]] = []  # [mean confidence, accuracy, weight]
    for b in range(bins):
        chunk = ordered[round(b * size) : round((b + 1) * size)]
        x = sum(c for c, _ in chunk) / len(chunk)
        acc = sum(ok for _, ok in chunk) / len(chunk)
        if merged and abs(x - merged[-1][0]) < 1e-9:  # one raw confidence split over bins
            mx, ma, mw = merged[-1]
            merged[-1] = [mx, (ma * mw + acc * len(chunk)) / (mw + len(chunk)), mw + len(chunk)]
        else:
            merged.append([x, acc, len(chunk)])
    ys = pool_adjacent_violators([m[1] for m in merged], [m[2] for m in merged])
    xs = [min(1.0, max(0.0, m[0])) for m in merged]
    return PlaneCalibration(tuple(xs), tuple(min(1.0, max(0.0, y)) for y in ys))


@dataclass(frozen=True)
class Calibration:
    plane: PlaneCalibration | None = None
    min_confidence: float | None = None  # review threshold on the least confident line
    boundary_margin: float | None = None  # review margin around inner grade boundaries
    grade_trust: GradeTrust | None = None  # when fitted, it decides the grade's flag
    box_threshold: float | None = None  # a box less confident than this is not drawn as found

    @classmethod
    def from_info(cls, info: Mapping[str, Any] | None) -> Calibration:
        """From a checkpoint's ``abvlmq.json`` (its ``"calibration"`` entry, when present)."""
        raw = (info or {}).get("calibration")
        if not raw:
            return cls()
        plane = raw.get("plane")
        review = raw.get("review") or {}
        return cls(
            plane=PlaneCalibration(tuple(plane["x"]), tuple(plane["y"])) if plane else None,
            min_confidence=review.get("min_confidence"),
            boundary_margin=review.get("boundary_margin"),
            grade_trust=GradeTrust.from_dict(raw["grade_trust"])
            if raw.get("grade_trust")
            else None,
            box_threshold=raw.get("box_threshold"),
        )


# ------------------------------------------------------------------ the grade's trust

TRUST_FEATURES = (
    "plane_confidence",  # the plane line, calibrated
    "least_line",  # the least confident structure or deduction line (1 without any)
    "mean_deduction",  # the deductions' mean confidence (1 without any)
    "boundary_distance",  # the score's distance to the nearest inner grade boundary, up to 3
    "ood_ratio",  # the out-of-distribution score over the abstention threshold (0 unknown)
    "deductions",  # how many deductions the answer made
    "structures",  # how many structures it boxed
)

# what each feature says when it is the one pulling the grade's trust down
_WHY = {
    "plane_confidence": "the model is unsure which plane this is ({value:.0%} sure)",
    "least_line": "one of its findings is uncertain ({value:.0%} sure)",
    "mean_deduction": "its deductions are uncertain (on average {value:.0%} sure)",
    "boundary_distance": "the score is within {value:g} point(s) of a grade boundary",
    "ood_ratio": "the image is less like the scans it was trained on than most",
    "deductions": "it found {value:g} deduction(s), and the grade gets harder to call with more",
    "structures": "it boxed {value:g} structure(s), an unusual number for this plane",
}


@dataclass(frozen=True)
class GradeTrust:
    """The probability that a grade is right, from what the answer itself carries: a logistic
    model over :data:`TRUST_FEATURES` (standardised by ``mean`` and ``scale``), fitted on the
    calibration set only (``trainer/calibrate.py``). A grade whose probability is below
    ``threshold`` is flagged for an instructor, with the features that pulled it down in words.
    """

    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float

    def __post_init__(self) -> None:
        n = len(TRUST_FEATURES)
        if not (len(self.weights) == len(self.mean) == len(self.scale) == n):
            raise ValueError(f"grade trust: weights, mean and scale need {n} values each")
        if any(s <= 0 for s in self.scale) or not 0.0 <= self.threshold <= 1.0:
            raise ValueError("grade trust: scales must be positive and the threshold in [0, 1]")

    def _terms(self, features: Mapping[str, float]) -> list[float]:
        return [
            w * (float(features[k]) - m) / s
            for k, w, m, s in zip(TRUST_FEATURES, self.weights, self.mean, self.scale, strict=True)
        ]

    def probability(self, features: Mapping[str, float]) -> float:
        z = self.bias + sum(self._terms(features))
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def why(self, features: Mapping[str, float], most: int = 2) -> list[str]:
        """In words, the features that pulled this grade's trust down the most."""
        terms = sorted(zip(self._terms(features), TRUST_FEATURES, strict=True))
        return [
            _WHY[k].format(value=round(float(features[k]), 2)) for t, k in terms[:most] if t < 0
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(TRUST_FEATURES),
            "weights": [round(v, 6) for v in self.weights],
            "bias": round(self.bias, 6),
            "mean": [round(v, 6) for v in self.mean],
            "scale": [round(v, 6) for v in self.scale],
            "threshold": round(self.threshold, 6),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> GradeTrust:
        if list(raw.get("features", [])) != list(TRUST_FEATURES):
            raise ValueError("grade trust: fitted on other features; calibrate again")
        return cls(
            tuple(raw["weights"]), float(raw["bias"]), tuple(raw["mean"]), tuple(raw["scale"]),
            float(raw["threshold"]),
        )  # fmt: skip
