"""Fit a checkpoint's confidence calibration from its predictions on held-out phantoms:
``python -m trainer calibrate --model models/demo --predictions P.jsonl --truth T.jsonl``.

Writes ``"calibration"`` into the checkpoint's ``abvlmq.json`` (see :mod:`scoring.calibration`):

- ``plane``: the monotone map from raw plane confidence to the share of answers that were right;
- ``review``: the engine's two review thresholds (least line confidence, with the plane line
  calibrated; margin around inner grade boundaries) that flag the most wrong grades while
  flagging at most ``max_false_flag`` of the right ones (when no pair can, the pair with the
  largest catch rate minus false-flag rate).

The predictions must carry ``meta.plane_confidence``, ``meta.min_confidence`` and
``meta.needs_review`` (``python -m trainer evaluate --model`` writes them) and must not come from
the test phantoms the report is measured on.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scoring.calibration import PlaneCalibration, fit_plane_calibration
from scoring.rubric import Rubric, default_rubric

DEFAULT_MARGIN, DEFAULT_MIN_CONFIDENCE = 0.5, 0.5  # the engine's thresholds without calibration
MARGINS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 20))


def _near(score: float | None, margin: float, rubric: Rubric) -> bool:
    if score is None:
        return False
    return any(abs(score - g.min) <= margin for g in rubric.grades[1:])


def review_rows(preds, truth, rubric: Rubric, plane: PlaneCalibration) -> list[dict[str, Any]]:
    """Per graded image: whether its grade is wrong, its least line confidence with the plane
    line calibrated, its score, and whether it is flagged whatever the thresholds (a parser
    error or an incomplete answer: flagged by the engine under the default thresholds without
    being low or near a boundary)."""
    by_image = {t["image"]: t for t in truth}
    rows = []
    for p in preds:
        t, meta = by_image.get(p["image"]), p.get("meta") or {}
        if t is None or t.get("grade") is None or "needs_review" not in meta:
            continue
        pc, mc = meta.get("plane_confidence"), meta.get("min_confidence")
        score = p.get("score")
        # the other lines' least confidence: the stored minimum, unless that was the plane line
        # (then the others are at least as confident; taken as equal)
        others = mc if mc is not None else 1.0
        lines = [others] + ([plane(pc)] if pc is not None else [])
        low_default = mc is not None and mc < DEFAULT_MIN_CONFIDENCE
        always = bool(meta["needs_review"]) and not (
            low_default or _near(score, DEFAULT_MARGIN, rubric)
        )
        rows.append(
            {
                "wrong": p.get("grade") != t["grade"],
                "least": min(lines),
                "score": score,
                "always": always,
            }
        )
    return rows


def rates(rows, threshold: float, margin: float, rubric: Rubric) -> tuple[float, float]:
    wrong = [r for r in rows if r["wrong"]]
    right = [r for r in rows if not r["wrong"]]

    def flagged(r) -> bool:
        return r["always"] or r["least"] < threshold or _near(r["score"], margin, rubric)

    catch = sum(map(flagged, wrong)) / len(wrong) if wrong else 0.0
    false = sum(map(flagged, right)) / len(right) if right else 0.0
    return catch, false


def fit(
    preds: Sequence[Mapping[str, Any]],
    truth: Sequence[Mapping[str, Any]],
    rubric: Rubric | None = None,
    *,
    max_false_flag: float = 0.25,
) -> dict[str, Any]:
    rubric = rubric or default_rubric()
    by_image = {t["image"]: t for t in truth}
    pairs = [
        (
            float(p["meta"]["plane_confidence"]),
            set(p.get("planes") or []) == set(by_image[p["image"]].get("planes") or []),
        )
        for p in preds
        if p["image"] in by_image and (p.get("meta") or {}).get("plane_confidence") is not None
    ]
    plane = fit_plane_calibration(pairs)
    rows = review_rows(preds, truth, rubric, plane)
    grid = [(t, m, *rates(rows, t, m, rubric)) for t in THRESHOLDS for m in MARGINS]
    feasible = [g for g in grid if g[3] <= max_false_flag]
    review: dict[str, float] | None
    if feasible:
        t, m, catch, false = max(feasible, key=lambda g: (g[2], -g[3]))
        review = {"min_confidence": t, "boundary_margin": m}
        rule = f"most wrong grades caught with at most {max_false_flag:.0%} of right ones flagged"
    else:  # nothing meets the bound: the engine keeps its default thresholds
        t, m, catch, false = max(grid, key=lambda g: g[2] - g[3])
        review = None
        rule = (
            f"no pair flags at most {max_false_flag:.0%} of right grades; default thresholds "
            f"kept (the best pair, min_confidence {t} and margin {m}, would catch "
            f"{catch:.0%} of wrong grades and flag {false:.0%} of right ones)"
        )
    # what the engine will do with this calibration: the chosen pair, or the defaults
    used = review or {"min_confidence": DEFAULT_MIN_CONFIDENCE, "boundary_margin": DEFAULT_MARGIN}
    catch, false = rates(rows, used["min_confidence"], used["boundary_margin"], rubric)
    return {
        "plane": plane.to_dict(),
        "review": review,
        "fitted": {
            "n_images": len(pairs),
            "n_graded": len(rows),
            "catch_rate": round(catch, 4),
            "false_flag_rate": round(false, 4),
            "rule": rule,
        },
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, help="checkpoint folder")
    parser.add_argument("--predictions", required=True, type=Path)
    parser.add_argument("--truth", required=True, type=Path)
    parser.add_argument("--max-false-flag", type=float, default=0.25)


def run(args: argparse.Namespace) -> int:
    from trainer.evaluate import read_jsonl

    result = fit(
        read_jsonl(args.predictions), read_jsonl(args.truth), max_false_flag=args.max_false_flag
    )
    result["fitted"]["on"] = str(args.truth)
    info_path = args.model / "abvlmq.json"
    info = json.loads(info_path.read_text("utf-8")) if info_path.is_file() else {}
    info["calibration"] = result
    info_path.write_text(json.dumps(info, indent=2) + "\n", "utf-8")
    print(json.dumps(result, indent=1))
    return 0
