"""What the evaluation report adds beside the metrics: the targets, the models side by side, how
far the confidence can be trusted, and the learning curves.

- :func:`calibration`: expected calibration error (ECE) of the plane confidence, with its
  reliability table. "Correct" is the whole predicted plane set equal to the true one.
- :func:`review_triage`: of the wrong grades, how many ``needs_review`` flags, against how many
  of the right ones it flags (the review queue's cost).
- :func:`targets`: each target of the demo model (issue 10) with its figure and whether it is met.
- :func:`side_by_side`: one row per metric, one column per model; a model that does not do a task
  (the classifier draws no boxes) shows nothing there. :func:`vlm_losses` lists the metrics on
  which a baseline beats the VLM, so the report says so.
- :func:`read_curve` / :func:`plot_curves`: held-out figures against wall time and images seen.

Pure Python (matplotlib only to draw), no model code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ECE_BINS = 10

# (key, label, path into a report, target, higher is better, task)
METRICS: tuple[tuple[str, str, tuple[str, ...], float | None, bool, str], ...] = (
    ("plane_label", "plane label accuracy", ("planes", "label_accuracy"), 0.95, True, "planes"),
    ("plane_subset", "plane subset accuracy", ("planes", "subset_accuracy"), 0.90, True, "planes"),
    ("plane_f1", "plane F1 (macro)", ("planes", "f1_macro"), None, True, "planes"),
    ("det_p", "detection precision", ("detection", "precision"), 0.90, True, "boxes"),
    ("det_r", "detection recall", ("detection", "recall"), 0.85, True, "boxes"),
    ("det_iou", "mean IoU of matches", ("detection", "mean_iou"), 0.75, True, "boxes"),
    ("grade", "grade accuracy", ("grades", "accuracy"), 0.80, True, "grades"),
    (
        "excellent",
        "Excellent-grade accuracy",
        ("grades", "per_grade_accuracy", "Excellent"),
        0.80,
        True,
        "grades",
    ),
    ("mae", "score MAE", ("grades", "score", "mae"), 0.8, False, "grades"),
    ("items", "deduction item F1 (micro)", ("deductions", "micro", "f1"), None, True, "grades"),
)
TASKS = ("planes", "boxes", "grades")


def _get(report: Mapping[str, Any], path: Sequence[str]) -> float | None:
    node: Any = report
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return None if node is None else float(node)


def calibration(
    predictions: Sequence[Mapping[str, Any]],
    truth: Sequence[Mapping[str, Any]],
    bins: int = ECE_BINS,
) -> dict[str, Any]:
    """ECE of ``meta.plane_confidence`` (equal-width bins), over images that carry one."""
    by_image = {t["image"]: t for t in truth}
    pairs = []
    for p in predictions:
        conf = (p.get("meta") or {}).get("plane_confidence")
        t = by_image.get(p["image"])
        if conf is None or t is None:
            continue
        pairs.append((float(conf), set(p.get("planes") or []) == set(t.get("planes") or [])))
    table = []
    ece = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(c, ok) for c, ok in pairs if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if not inside:
            continue
        conf = sum(c for c, _ in inside) / len(inside)
        acc = sum(ok for _, ok in inside) / len(inside)
        ece += len(inside) / len(pairs) * abs(acc - conf)
        table.append({"bin": [lo, hi], "n": len(inside), "confidence": conf, "accuracy": acc})
    return {
        "n": len(pairs),
        "ece": ece if pairs else None,
        "mean_confidence": sum(c for c, _ in pairs) / len(pairs) if pairs else None,
        "accuracy": sum(ok for _, ok in pairs) / len(pairs) if pairs else None,
        "bins": table,
    }


def review_triage(
    predictions: Sequence[Mapping[str, Any]], truth: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """How ``meta.needs_review`` sorts graded images: share of wrong grades flagged (goal >= 80 %)
    and share of right grades flagged (goal <= 25 %). A missing grade counts as wrong."""
    by_image = {t["image"]: t for t in truth}
    wrong = right = wrong_flagged = right_flagged = 0
    for p in predictions:
        t = by_image.get(p["image"])
        meta = p.get("meta") or {}
        if t is None or t.get("grade") is None or "needs_review" not in meta:
            continue
        flagged = bool(meta["needs_review"])
        if p.get("grade") == t["grade"]:
            right += 1
            right_flagged += flagged
        else:
            wrong += 1
            wrong_flagged += flagged
    shown = (right - right_flagged) + (wrong - wrong_flagged)
    return {
        "wrong": wrong,
        "right": right,
        "wrong_flagged": wrong_flagged,
        "right_flagged": right_flagged,
        "catch_rate": wrong_flagged / wrong if wrong else None,
        "false_flag_rate": right_flagged / right if right else None,
        # what a resident meets: the share of all graded images shown without a flag, and how
        # often the grade shown so is right (issue 31: >= 90 % at >= 50 % coverage)
        "unflagged_share": shown / (right + wrong) if right + wrong else None,
        "unflagged_accuracy": (right - right_flagged) / shown if shown else None,
        "risk_coverage": _risk_coverage(predictions, by_image),
        "goal": {
            "catch_rate": 0.80,
            "false_flag_rate": 0.25,
            "unflagged_accuracy": 0.90,
            "unflagged_share": 0.50,
        },
    }


def _risk_coverage(predictions, by_image) -> list[dict[str, float]]:
    """From each prediction's grade trust (``meta.grade_trust``; none when the checkpoint has
    no fitted trust): coverage and unflagged grade accuracy at each tenth of coverage, as if
    the threshold were moved there (declined and unfinished answers stay flagged)."""
    rows = []
    for p in predictions:
        t, meta = by_image.get(p["image"]), p.get("meta") or {}
        if t is None or t.get("grade") is None:
            continue
        trust = meta.get("grade_trust")
        forced = bool(meta.get("abstained")) or meta.get("complete") is False or meta.get("errors")
        rows.append((None if forced else trust, p.get("grade") == t["grade"]))
    ranked = sorted((r for r in rows if r[0] is not None), key=lambda r: -r[0])
    if not ranked:
        return []
    out = []
    for k in range(1, 11):
        n = round(len(rows) * k / 10)
        top = ranked[: min(n, len(ranked))]
        if not top:
            continue
        out.append({
            "coverage": round(len(top) / len(rows), 4),
            "accuracy": round(sum(ok for _, ok in top) / len(top), 4),
            "threshold": round(top[-1][0], 4),
        })  # fmt: skip
    return out


def targets(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, label, path, target, higher, _task in METRICS:
        if target is None:
            continue
        value = _get(report, path)
        met = value is not None and (value >= target if higher else value <= target)
        rows.append({"key": key, "metric": label, "value": value, "target": target, "met": met})
    triage = report.get("review_triage")
    if triage:
        for key, label, goal, higher in (
            ("catch_rate", "needs_review catches wrong grades", 0.80, True),
            ("false_flag_rate", "needs_review flags right grades", 0.25, False),
        ):
            value = triage.get(key)
            met = value is not None and (value >= goal if higher else value <= goal)
            rows.append({"key": key, "metric": label, "value": value, "target": goal, "met": met})
    return rows


def side_by_side(
    reports: Mapping[str, Mapping[str, Any]], tasks: Mapping[str, Sequence[str]]
) -> list[dict[str, Any]]:
    """Rows ``{"metric", "target", "higher", "values": {model: value or None}}``."""
    rows = []
    for _key, label, path, target, higher, task in METRICS:
        values = {
            name: (_get(rep, path) if task in tasks.get(name, TASKS) else None)
            for name, rep in reports.items()
        }
        rows.append({"metric": label, "target": target, "higher": higher, "values": values})
    return rows


def vlm_losses(rows: Sequence[Mapping[str, Any]], vlm: str = "vlm") -> list[str]:
    """Sentences naming each metric on which a baseline does better than the VLM."""
    out = []
    for row in rows:
        ours = row["values"].get(vlm)
        if ours is None:
            continue
        for name, value in row["values"].items():
            if name == vlm or value is None:
                continue
            better = value > ours if row["higher"] else value < ours
            if better:
                m = row["metric"]
                out.append(f"{m}: {name} {_fmt(value, m)} beats the VLM's {_fmt(ours, m)}")
    return out


def _fmt(v: float, metric: str) -> str:
    if "MAE" in metric:
        return f"{v:.2f}"
    return f"{v:.3f}" if "IoU" in metric else f"{100 * v:.1f} %"


FRESH_METRICS = (
    ("plane label accuracy", ("planes", "label_accuracy"), ("planes", "ci", "label_accuracy")),
    ("plane subset accuracy", ("planes", "subset_accuracy"), ("planes", "ci", "subset_accuracy")),
    ("detection precision", ("detection", "precision"), ("detection", "ci", "precision")),
    ("detection recall", ("detection", "recall"), ("detection", "ci", "recall")),
    ("mean IoU of matches", ("detection", "mean_iou"), ("detection", "ci", "mean_iou")),
    ("grade accuracy", ("grades", "accuracy"), ("grades", "ci", "accuracy")),
)


def _ci(report: Mapping[str, Any], path: Sequence[str]) -> list[float] | None:
    node: Any = report
    for key in path:
        if not isinstance(node, Mapping) or node.get(key) is None:
            return None
        node = node[key]
    return list(node)


def fresh_check(report: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The same model on phantoms from a new seed: each headline figure with both 95 % intervals
    and whether they overlap (the figures agree within their intervals)."""
    rows = []
    for label, path, ci_path in FRESH_METRICS:
        a, b = _get(report, path), _get(fresh, path)
        ca, cb = _ci(report, ci_path), _ci(fresh, ci_path)
        agree = None
        if ca and cb:
            agree = ca[0] <= cb[1] and cb[0] <= ca[1]
        rows.append({"metric": label, "test": a, "test_ci": ca, "fresh": b, "fresh_ci": cb,
                     "agree": agree})  # fmt: skip
    return rows


# ------------------------------------------------------------------------ curves


def read_curve(path: str | Path, name: str) -> list[dict[str, Any]]:
    """A curve file's points as ``{"model", "series", "elapsed_s", "images_seen", "plane",
    "detection_f1"}``. The VLM's file holds two stages: stage 1's points (the vision tower's
    throwaway head: plane top-1, share of boxes at IoU >= 0.5) and stage 2's (the answers);
    stage 2's time and images follow on from the end of stage 1. A point may name what it was
    measured on (``"source"``); by default the curve set."""
    points = []
    raw = [json.loads(line) for line in Path(path).read_text("utf-8").splitlines() if line]
    stage1 = [r for r in raw if r.get("stage") == "vision"]
    t0 = max((r["elapsed_s"] for r in stage1), default=0.0)
    n0 = max((r["images_seen"] for r in stage1), default=0)
    for r in raw:
        if r.get("stage") == "vision":
            points.append(
                {
                    "model": name,
                    "series": f"{name} stage 1 (tower head)",
                    "elapsed_s": r["elapsed_s"],
                    "images_seen": r["images_seen"],
                    "plane": r.get("plane_top1"),
                    "detection_f1": None,
                    "source": r.get("source", "curve set"),
                }
            )
        else:
            later = r.get("stage") == "answer"
            points.append(
                {
                    "model": name,
                    "series": f"{name} answers" if later else name,
                    "elapsed_s": r["elapsed_s"] + (t0 if later else 0.0),
                    "images_seen": r["images_seen"] + (n0 if later else 0),
                    "plane": r.get("plane_accuracy"),
                    "detection_f1": r.get("detection_f1"),
                    "source": r.get("source", "curve set"),
                }
            )
    return points


def plot_curves(points: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Two rows (plane accuracy, detection F1) by two columns (wall time, images seen)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2)
    series = sorted({p["series"] for p in points})
    colours = {s: f"C{k}" for k, s in enumerate(series)}  # one colour per series in every panel
    for row, (metric, title) in enumerate(
        (("plane", "held-out plane accuracy"), ("detection_f1", "held-out detection F1"))
    ):
        for col, (x, xlabel) in enumerate(
            (("elapsed_s", "minutes of the 2 CPU cores"), ("images_seen", "images seen"))
        ):
            ax = axes[row][col]
            for s in series:
                pts = [p for p in points if p["series"] == s and p[metric] is not None]
                if not pts:
                    continue
                xs = [p[x] / 60.0 if x == "elapsed_s" else p[x] for p in pts]
                ys = [p[metric] for p in pts]
                ax.plot(xs, ys, marker="o", markersize=4, label=s, color=colours[s])
            ax.set_xlabel(xlabel)
            ax.set_ylabel(title)
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
            if x == "images_seen" and any(p[x] > 0 for p in points):
                ax.set_xscale("log")
            ax.margins(x=0.08)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path
