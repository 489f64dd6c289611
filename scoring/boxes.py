"""Boxes: pixel <-> normalised (0-1000) coordinates, clamping and IoU.

A box is ``(x1, y1, x2, y2)`` with ``x1 <= x2`` and ``y1 <= y2``. Pixel boxes use the image's
pixel grid; normalised boxes are integers on Qwen2-VL's 0-1000 grid. Plain Python.
"""

from __future__ import annotations

from collections.abc import Sequence

Box = tuple[float, float, float, float]
NormBox = tuple[int, int, int, int]

NORM = 1000


def clamp_box(box: Sequence[float], width: float, height: float) -> Box:
    """Clip a box to ``[0, width] x [0, height]`` and order its corners."""
    x1, y1, x2, y2 = box
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    return (
        min(max(x1, 0.0), width),
        min(max(y1, 0.0), height),
        min(max(x2, 0.0), width),
        min(max(y2, 0.0), height),
    )


def to_norm(box: Sequence[float], width: int, height: int) -> NormBox:
    """Pixel box -> integer box on the 0-1000 grid (clamped)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    x1, y1, x2, y2 = clamp_box(box, width, height)
    return (
        round(x1 * NORM / width),
        round(y1 * NORM / height),
        round(x2 * NORM / width),
        round(y2 * NORM / height),
    )


def from_norm(box: Sequence[float], width: int, height: int) -> Box:
    """0-1000 box -> pixel box (clamped to the image)."""
    x1, y1, x2, y2 = (min(max(float(v), 0.0), NORM) for v in box)
    return clamp_box(
        (x1 * width / NORM, y1 * height / NORM, x2 * width / NORM, y2 * height / NORM),
        width,
        height,
    )


def is_valid_norm(box: Sequence[float]) -> bool:
    """Four numbers in 0..1000 with x1 < x2 and y1 < y2."""
    if len(box) != 4:
        return False
    x1, y1, x2, y2 = box
    return all(0 <= v <= NORM for v in box) and x1 < x2 and y1 < y2


def area(box: Sequence[float]) -> float:
    x1, y1, x2, y2 = box
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union; 0.0 when both boxes are empty."""
    ix1, iy1 = max(a[0], b[0]), max(a[1], b[1])
    ix2, iy2 = min(a[2], b[2]), min(a[3], b[3])
    inter = area((ix1, iy1, ix2, iy2))
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def match_greedy(
    a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], threshold: float = 0.0
) -> list[tuple[int, int, float]]:
    """One-to-one greedy matching of two lists of boxes, best IoU first (ties: the earlier
    boxes first): ``(i, j, iou)`` for each pair at or above ``threshold``. The detector's
    metrics (``trainer.metrics``) and the readers' agreement (``abvlmq_web.annotation``)."""
    pairs = sorted(
        (-v, i, j)
        for i, x in enumerate(a)
        for j, y in enumerate(b)
        if (v := iou(x, y)) >= threshold
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    out = []
    for neg, i, j in pairs:
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        out.append((i, j, -neg))
    return out
