"""Fit a checkpoint's confidence calibration from its predictions on held-out phantoms:
``python -m trainer calibrate --model models/demo --predictions P.jsonl --truth T.jsonl``.

Writes ``"calibration"`` into the checkpoint's ``abvlmq.json`` (see :mod:`scoring.calibration`):

- ``plane``: the monotone map from raw plane confidence to the share of answers that were right;
- ``grade_trust``: the probability that a grade is right, from what the answer carries (a
  logistic model over :data:`scoring.calibration.TRUST_FEATURES`), and the threshold under
  which the grade is flagged: the lowest at which the unflagged grades here are right at least
  93 % of the time (the product's bar is 90 % on a fresh seed; the rest is margin), with its
  risk-coverage curve under ``grade_trust_fit``;
- ``box_threshold``: the box confidence under which a box is not drawn as found (the best
  detection F1 here), with precision and recall at each candidate under ``box_threshold_fit``;
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
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scoring.calibration import TRUST_FEATURES, GradeTrust, PlaneCalibration, fit_plane_calibration
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
    trust = fit_grade_trust(preds, truth, plane_map=plane)
    boxes = fit_box_threshold(preds, truth)
    # what the engine will do with this calibration: the chosen pair, or the defaults
    used = review or {"min_confidence": DEFAULT_MIN_CONFIDENCE, "boundary_margin": DEFAULT_MARGIN}
    catch, false = rates(rows, used["min_confidence"], used["boundary_margin"], rubric)
    return {
        "plane": plane.to_dict(),
        "review": review,
        "grade_trust": trust["model"] if trust else None,
        "box_threshold": boxes["threshold"] if boxes else None,
        "grade_trust_fit": {k: v for k, v in trust.items() if k != "model"} if trust else None,
        "box_threshold_fit": boxes,
        "fitted": {
            "n_images": len(pairs),
            "n_graded": len(rows),
            "catch_rate": round(catch, 4),
            "false_flag_rate": round(false, 4),
            "rule": rule,
        },
    }


TRUST_TARGET = 0.93  # unflagged grades right on the calibration set: 0.90 with a margin
MIN_COVERAGE = 0.5  # the floor: at least half of all scans shown unflagged


def _logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> np.ndarray:
    """Weights (bias last) of an L2-penalised logistic regression, by Newton's method."""
    a = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(a.shape[1])
    pen = np.full(a.shape[1], l2)
    pen[-1] = 0.0  # the bias is not penalised
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -40, 40)))
        grad = a.T @ (p - y) + pen * w
        hess = (a * (p * (1 - p))[:, None]).T @ a + np.diag(pen) + 1e-9 * np.eye(a.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def trust_rows(preds, truth, plane_map=None) -> list[dict[str, Any]]:
    """Per image with a true grade: its trust features (None when it has no grade to trust),
    whether its grade is right, and whether it is flagged whatever the trust (declined, an
    answer not finished or not read in full). ``plane_map``: the plane calibration fitted
    beside it, applied to the plane's confidence as the engine will (the predictions carry the
    raw one: they were made before there was a calibration)."""
    by_image = {t["image"]: t for t in truth}
    rows = []
    for p in preds:
        t, meta = by_image.get(p["image"]), p.get("meta") or {}
        if t is None or t.get("grade") is None:
            continue
        forced = (
            bool(meta.get("abstained"))
            or not meta.get("complete", True)
            or bool(meta.get("errors"))
        )
        features = meta.get("trust") if p.get("score") is not None else None
        if features is not None and plane_map is not None:
            features = {**features, "plane_confidence": plane_map(features["plane_confidence"])}
        rows.append(
            {
                "features": features,
                "right": p.get("grade") == t["grade"],
                "forced": forced or p.get("score") is None,
            }
        )
    return rows


def risk_coverage(probs: Sequence[float | None], rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Unflagged share of all images and the grade accuracy among them, at each threshold."""
    n = len(rows)
    cands = sorted({p for p in probs if p is not None})
    out = []
    for t in cands:
        shown = [r for r, p in zip(rows, probs, strict=True)
                 if p is not None and not r["forced"] and p >= t]  # fmt: skip
        if not shown:
            continue
        out.append({
            "threshold": math.floor(t * 1e6) / 1e6,  # rounded down: the same images pass it
            "coverage": round(len(shown) / n, 4),
            "accuracy": round(sum(r["right"] for r in shown) / len(shown), 4),
        })  # fmt: skip
    return out


def fit_grade_trust(
    preds, truth, *, target: float = TRUST_TARGET, plane_map=None
) -> dict[str, Any] | None:
    """The grade's trust (:class:`scoring.calibration.GradeTrust`), fitted on these predictions:
    the logistic model, and the lowest threshold at which the grades shown unflagged are right
    at least ``target`` of the time (None when too few images carry features)."""
    rows = trust_rows(preds, truth, plane_map)
    usable = [r for r in rows if r["features"] is not None and not r["forced"]]
    if len(usable) < 30 or len({r["right"] for r in usable}) < 2:
        return None
    x = np.array([[float(r["features"][k]) for k in TRUST_FEATURES] for r in usable])
    y = np.array([float(r["right"]) for r in usable])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    w = _logistic((x - mean) / scale, y)
    model = GradeTrust(tuple(w[:-1]), float(w[-1]), tuple(mean), tuple(scale), 1.0)
    probs = [model.probability(r["features"]) if r["features"] is not None else None for r in rows]
    curve = risk_coverage(probs, rows)
    good = [c for c in curve if c["accuracy"] >= target]
    if good:
        chosen = max(good, key=lambda c: (c["coverage"], -c["threshold"]))
        rule = f"the most coverage with unflagged grades right >= {target:.0%} here"
    else:
        chosen = max(curve, key=lambda c: c["accuracy"])
        rule = f"no threshold reaches {target:.0%} here; the most accurate one"
    model = GradeTrust(model.weights, model.bias, model.mean, model.scale, chosen["threshold"])
    return {
        "model": model.to_dict(),
        "chosen": {
            **chosen,
            "rule": rule,
            "meets_coverage_floor": chosen["coverage"] >= MIN_COVERAGE,
        },
        "curve": _thin(curve),
    }


def _thin(curve: list[dict], points: int = 25) -> list[dict]:
    if len(curve) <= points:
        return curve
    step = len(curve) / points
    return [curve[int(k * step)] for k in range(points)] + [curve[-1]]


BOX_THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(0, 20))


def box_rates(preds, truth, threshold: float) -> tuple[float, float]:
    """Detection precision and recall (IoU >= 0.5) keeping boxes at least ``threshold`` sure."""
    from trainer.metrics import match_structures

    by_image = {t["image"]: t for t in truth}
    tp = n_pred = n_true = 0
    for p in preds:
        t = by_image.get(p["image"])
        boxes = (p.get("meta") or {}).get("boxes")
        if t is None or boxes is None:
            continue
        pred = [(b["id"], b["box"]) for b in boxes
                if b.get("confidence") is None or b["confidence"] >= threshold]  # fmt: skip
        true = [(s["id"], s["box"]) for s in t.get("structures", [])]
        tp += len(match_structures(pred, true))
        n_pred += len(pred)
        n_true += len(true)
    return (tp / n_pred if n_pred else 0.0), (tp / n_true if n_true else 0.0)


def fit_box_threshold(preds, truth) -> dict[str, Any] | None:
    """The box confidence threshold with the best F1 on these predictions (ties: the higher)."""
    if not any((p.get("meta") or {}).get("boxes") for p in preds):
        return None
    table = []
    for t in BOX_THRESHOLDS:
        precision, recall = box_rates(preds, truth, t)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table.append({"threshold": t, "precision": round(precision, 4),
                      "recall": round(recall, 4), "f1": round(f1, 4)})  # fmt: skip
    best = max(table, key=lambda r: (r["f1"], r["threshold"]))
    return {"threshold": best["threshold"], "chosen": best, "table": table}


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
