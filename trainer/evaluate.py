"""Evaluate predictions against annotations with the AbVLM-Q paper's metrics; write a report.

    python -m trainer evaluate --predictions pred.jsonl --truth test.jsonl --out runs/eval

Both files hold annotation records (one JSON object a line, see ``docs``/DESIGN.md). Predictions
are matched to the truth by their ``"image"`` key. A truth image without a prediction is scored
as an empty prediction (no structures, no planes, no deductions, no score: a wrong grade, left
out of the MAE) and counted in ``missing_predictions``; a prediction for an image not in the
truth is listed in ``unknown_predictions`` and otherwise ignored. The metric definitions live in
:mod:`trainer.metrics`. With ``--model DIR --data SPLIT`` the engine first writes the
predictions (``predictions.jsonl`` in the output folder):

    python -m trainer evaluate --model models/demo --data phantoms/test.jsonl --out runs/eval
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoring.rubric import Rubric, default_rubric
from trainer import metrics
from trainer.report import num, pct, render_markdown, write_report

__all__ = ["evaluate", "read_jsonl", "render_markdown", "write_report"]

# The paper's headline figures (AbVLM-Q, BMC Medical Imaging 2025), as fractions like ours.
PAPER: dict[str, dict[str, float]] = {
    "detection": {"precision": 0.9810, "recall": 0.8890, "mean_iou": 0.786},
    "planes": {"label_accuracy": 0.9896, "subset_accuracy": 0.9628},
    "grades": {"excellent_accuracy": 0.8511},
}

DEFINITIONS: dict[str, str] = {
    "detection": (
        "A predicted box matches a true box of the same structure id at IoU >= {thr:g}; "
        "one-to-one, greedy by IoU descending. Unmatched predictions are false positives "
        "(so duplicates of one structure add FPs), unmatched truth boxes false negatives. "
        "Mean IoU is over true positives."
    ),
    "label_accuracy": (
        "Example-based (Jaccard) accuracy: mean over images of |T ∩ P| / |T ∪ P| of the true "
        "(T) and predicted (P) plane sets."
    ),
    "subset_accuracy": "Share of images whose predicted plane set equals the true set exactly.",
    "hamming_accuracy": "Share of correct (image, plane) yes/no decisions, i.e. 1 - Hamming loss.",
    "f1": (
        "Per plane F1 = 2TP / (2TP + FP + FN); macro F1 averages it over planes seen in the "
        "truth or the predictions. A ratio with a zero denominator is 0."
    ),
    "ci": ("95% percentile bootstrap over images ({n_boot} resamples, seed {seed})."),
    "grades": (
        "Rows truth, columns predicted. Per-grade accuracy is the recall of each true grade; an "
        "image without a predicted score counts as wrong ('unscored')."
    ),
    "deductions": (
        "Agreement of the sets of deduction item ids per image (boxes of deductions are not "
        "compared); micro-averaged over all items."
    ),
}


# --------------------------------------------------------------------------- reading


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Records of a JSONL file: one JSON object a line, blank lines skipped.

    Only the syntax is checked here (a bad line raises ``ValueError`` naming the file and the
    line); field checks happen in :func:`evaluate`. The full validating loader is
    ``trainer.data``.
    """
    p = Path(path)
    out: list[dict[str, Any]] = []
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{p}:{lineno}: not valid JSON ({exc.msg})") from exc
            if not isinstance(rec, dict):
                raise ValueError(f"{p}:{lineno}: expected a JSON object, got {type(rec).__name__}")
            out.append(rec)
    return out


@dataclass(frozen=True)
class _Rec:
    image: str
    planes: frozenset[str]
    structures: tuple[tuple[str, tuple[float, float, float, float]], ...]
    items: frozenset[str]
    score: float | None
    grade: str | None


_EMPTY = _Rec("", frozenset(), (), frozenset(), None, None)


def _record(raw: Mapping[str, Any], rubric: Rubric, where: str) -> _Rec:
    def fail(problem: str) -> ValueError:
        return ValueError(f"{where}: {problem}")

    image = raw.get("image")
    if not isinstance(image, str) or not image:
        raise fail("'image' must be a non-empty string")
    where = f"{where} (image {image!r})"
    planes = raw.get("planes") or []
    if not isinstance(planes, list) or not all(isinstance(c, str) for c in planes):
        raise fail("'planes' must be a list of plane codes")
    structures = []
    for k, s in enumerate(raw.get("structures") or []):
        box = s.get("box") if isinstance(s, Mapping) else None
        sid = s.get("id") if isinstance(s, Mapping) else None
        if not isinstance(sid, str) or not _is_box(box):
            raise fail(f"structures[{k}] must be {{'id': str, 'box': [x1, y1, x2, y2]}}")
        x1, y1, x2, y2 = (float(v) for v in box)
        ordered = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
        structures.append((rubric.structure_id(sid) or sid, ordered))
    items = []
    for k, d in enumerate(raw.get("deductions") or []):
        item = d.get("item") if isinstance(d, Mapping) else d
        if not isinstance(item, str):
            raise fail(f"deductions[{k}] must be {{'item': str, 'box': ...}}")
        items.append(item)
    score = raw.get("score")
    if score is not None and (
        isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score)
    ):
        raise fail(f"'score' must be a number or null, got {score!r}")
    grade = raw.get("grade")
    if grade is not None:
        names = {g.lower(): g for g in rubric.grade_names()}
        if not isinstance(grade, str) or grade.strip().lower() not in names:
            raise fail(f"'grade' must be one of {', '.join(rubric.grade_names())}, got {grade!r}")
        grade = names[grade.strip().lower()]
    elif score is not None:
        grade = rubric.grade(float(score))
    return _Rec(
        image=image,
        planes=frozenset(planes),
        structures=tuple(structures),
        items=frozenset(items),
        score=None if score is None else float(score),
        grade=grade,
    )


def _is_box(box: Any) -> bool:
    return (
        isinstance(box, list | tuple)
        and len(box) == 4
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in box
        )
    )


def _index(records: Iterable[Mapping[str, Any]], rubric: Rubric, role: str) -> dict[str, _Rec]:
    out: dict[str, _Rec] = {}
    for n, raw in enumerate(records):
        if not isinstance(raw, Mapping):
            raise ValueError(f"{role} record #{n + 1}: expected an object")
        rec = _record(raw, rubric, f"{role} record #{n + 1}")
        if rec.image in out:
            raise ValueError(f"{role} record #{n + 1}: image {rec.image!r} appears twice")
        out[rec.image] = rec
    return out


# --------------------------------------------------------------------------- evaluating


def evaluate(
    predictions: Iterable[Mapping[str, Any]],
    truth: Iterable[Mapping[str, Any]],
    rubric: Rubric | None = None,
    *,
    iou_threshold: float = metrics.DEFAULT_IOU_THRESHOLD,
    n_boot: int = metrics.DEFAULT_N_BOOT,
    seed: int = 0,
) -> dict[str, Any]:
    """The evaluation report (a JSON-ready dict) of ``predictions`` against ``truth``.

    Keys: ``detection``, ``planes``, ``grades``, ``deductions``, ``n_images``,
    ``missing_predictions``, ``unknown_predictions``, ``rubric_version``, ``paper``,
    ``definitions``. Fractions are in [0, 1]. A malformed record, or an image that appears
    twice in one input, raises ``ValueError`` naming the record: a silently merged duplicate
    would give a wrong figure.
    """
    rubric = rubric or default_rubric()
    t_idx = _index(truth, rubric, "truth")
    p_idx = _index(predictions, rubric, "prediction")
    images = list(t_idx)
    truth_recs = [t_idx[i] for i in images]
    pred_recs = [p_idx.get(i, _EMPTY) for i in images]
    missing = [i for i in images if i not in p_idx]
    unknown = sorted(set(p_idx) - set(t_idx))
    boot = {"n_boot": n_boot, "seed": seed}

    detection = metrics.detection_metrics(
        [(p.structures, t.structures) for p, t in zip(pred_recs, truth_recs, strict=True)],
        threshold=iou_threshold,
        **boot,
    )
    plane_codes = list(rubric.planes)
    p_planes = [p.planes for p in pred_recs]
    t_planes = [t.planes for t in truth_recs]
    planes = metrics.plane_metrics(p_planes, t_planes, plane_codes, **boot)
    planes["confusion_single_label"] = metrics.single_label_confusion(
        p_planes, t_planes, list(planes["per_plane"])
    )

    graded = [(p, t) for p, t in zip(pred_recs, truth_recs, strict=True) if t.grade is not None]
    grades = metrics.grade_metrics(
        [p.grade for p, _ in graded],
        [t.grade for _, t in graded],  # type: ignore[misc]  # filtered above
        rubric.grade_names(),
        **boot,
    )
    grades["ungraded_truth"] = len(truth_recs) - len(graded)
    grades["score"] = metrics.score_errors(
        [p.score for p in pred_recs], [t.score for t in truth_recs]
    )

    deductions = metrics.set_agreement(
        [p.items for p in pred_recs], [t.items for t in truth_recs], list(rubric.items)
    )
    deductions["unknown_items"] = sorted(i for i in deductions["per_item"] if i not in rubric.items)

    defs = {k: v.format(thr=iou_threshold, **boot) for k, v in DEFINITIONS.items()}
    return {
        "n_images": len(images),
        "missing_predictions": len(missing),
        "missing_prediction_images": missing[:50],
        "unknown_predictions": {"count": len(unknown), "images": unknown[:50]},
        "rubric_version": rubric.version,
        "detection": detection,
        "planes": planes,
        "grades": grades,
        "deductions": deductions,
        "paper": PAPER,
        "definitions": defs,
    }


def predict(
    model: Path, data: Path, out: Path, *, adapter: Path | None = None, batch_size: int = 16
) -> tuple[Path, Path]:
    """Run the engine over a data split; write ``predictions.jsonl`` into ``out``.

    ``data`` is a JSONL file or a folder holding ``test.jsonl`` (else ``annotations.jsonl``).
    Returns (predictions file, truth file).
    """
    from PIL import Image

    from scoring.boxes import from_norm
    from scoring.engine import Engine
    from scoring.records import record_from_assessment
    from scoring.stream import trust_features

    truth = data
    if data.is_dir():
        truth = (
            data / "test.jsonl" if (data / "test.jsonl").is_file() else data / "annotations.jsonl"
        )
    records = read_jsonl(truth)
    engine = Engine.load(model, adapter)
    ood_threshold = engine.ood_stats.threshold if engine.ood_stats is not None else None
    out.mkdir(parents=True, exist_ok=True)
    path = out / "predictions.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for start in range(0, len(records), batch_size):
            chunk = records[start : start + batch_size]
            images = []
            for r in chunk:
                with Image.open(truth.parent / r["image"]) as im:
                    images.append(im.convert("RGB"))
            for r, a in zip(chunk, engine.assess(images, batch_size=batch_size), strict=True):
                rec = record_from_assessment(
                    a, image=r["image"], width=r["width"], height=r["height"]
                )
                every = [*a.structures, *a.unsure_structures]
                rec["meta"] = {
                    "model_id": engine.model_id,
                    "needs_review": a.needs_review,
                    "review_reasons": list(a.review_reasons),
                    "abstained": a.abstained,
                    "complete": a.complete,
                    "errors": len(a.errors),
                    "grade_trust": a.grade_trust,
                    # what the grade's trust reads, and every box with its confidence (those
                    # under the box threshold too): what `trainer calibrate` fits on
                    "trust": trust_features(a, engine.rubric, ood_threshold),
                    "boxes": [
                        {
                            "id": x.id,
                            "box": [round(v) for v in from_norm(x.box, r["width"], r["height"])],
                            "confidence": x.confidence,
                        }
                        for x in every
                    ],
                    "plane_confidence": a.plane_confidence,
                    # the least confident line: what the review thresholds look at
                    "min_confidence": min(
                        (
                            c
                            for c in [
                                a.plane_confidence,
                                *(x.confidence for x in a.structures),
                                *(x.confidence for x in a.deductions),
                            ]
                            if c is not None
                        ),
                        default=None,
                    ),
                }
                fh.write(json.dumps(rec) + "\n")
    return path, truth


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictions", type=Path, help="predicted records (JSONL)")
    parser.add_argument("--truth", type=Path, help="annotation records (JSONL)")
    parser.add_argument("--model", type=Path, help="run this checkpoint over --data first")
    parser.add_argument("--adapter", type=Path, help="LoRA adapter for --model")
    parser.add_argument("--data", type=Path, help="split JSONL, or a folder with test.jsonl")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", required=True, type=Path, help="folder for the report")
    parser.add_argument("--rubric", type=Path, help="rubric YAML (default: the shipped rubric)")
    parser.add_argument("--iou", type=float, default=metrics.DEFAULT_IOU_THRESHOLD)
    parser.add_argument("--n-boot", type=int, default=metrics.DEFAULT_N_BOOT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="another model's predictions on the same truth: a column in the report (repeatable)",
    )
    parser.add_argument(
        "--fresh",
        type=Path,
        metavar="REPORT",
        help="report.json of the same model on phantoms of a new seed: the figures are compared",
    )
    parser.add_argument(
        "--curve",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="a learning curve (curve.jsonl) to plot and tabulate (repeatable)",
    )


def _named(values: Sequence[str], what: str) -> dict[str, Path]:
    out = {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--{what} {v!r}: expected NAME=FILE")
        out[name] = Path(path)
    return out


def _tasks(predictions: Sequence[Mapping[str, Any]]) -> list[str]:
    """What a model answers, seen from its predictions (the classifier draws no boxes)."""
    tasks = []
    if any(p.get("planes") for p in predictions):
        tasks.append("planes")
    if any(p.get("structures") for p in predictions):
        tasks.append("boxes")
    if any(p.get("grade") is not None for p in predictions):
        tasks.append("grades")
    return tasks


def extend_report(
    report: dict[str, Any],
    predictions: Sequence[Mapping[str, Any]],
    truth: Sequence[Mapping[str, Any]],
    rubric: Rubric,
    *,
    baselines: Mapping[str, Path] | None = None,
    curves: Mapping[str, Path] | None = None,
    fresh: Path | None = None,
    out: Path | None = None,
    n_boot: int = metrics.DEFAULT_N_BOOT,
    seed: int = 0,
) -> dict[str, Any]:
    """Add calibration, review triage, targets, the baselines' columns and the learning curves
    (see :mod:`trainer.compare`) to ``report`` (the VLM's); returns it."""
    from trainer import compare

    report["calibration"] = compare.calibration(predictions, truth)
    report["review_triage"] = compare.review_triage(predictions, truth)
    report["targets"] = compare.targets(report)
    reports = {"vlm": report}
    tasks = {"vlm": list(compare.TASKS)}
    for name, path in (baselines or {}).items():
        preds = read_jsonl(path)
        reports[name] = evaluate(preds, truth, rubric, n_boot=n_boot, seed=seed)
        tasks[name] = _tasks(preds)
        if name != "vlm" and "planes" in tasks[name]:
            reports[name]["calibration"] = compare.calibration(preds, truth)
    rows = compare.side_by_side(reports, tasks)
    report["models"] = {
        "names": list(reports),
        "tasks": tasks,
        "rows": rows,
        "vlm_losses": compare.vlm_losses(rows),
        "ece": {n: r["calibration"]["ece"] for n, r in reports.items() if "calibration" in r},
    }
    if fresh is not None:
        other = json.loads(Path(fresh).read_text(encoding="utf-8"))
        report["fresh_seed"] = {
            "report": str(fresh),
            "n_images": other["n_images"],
            "rows": compare.fresh_check(report, other),
        }
    if curves:
        points = [pt for name, path in curves.items() for pt in compare.read_curve(path, name)]
        report["curves"] = points
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            compare.plot_curves(points, out / "learning_curves.png")
    return report


def run(args: argparse.Namespace) -> int:
    from scoring.rubric import load_rubric

    rubric = load_rubric(args.rubric) if args.rubric else default_rubric()
    if args.model:
        if not args.data:
            print("error: --model needs --data")
            return 2
        args.predictions, args.truth = predict(
            args.model, args.data, args.out, adapter=args.adapter, batch_size=args.batch_size
        )
    elif not (args.predictions and args.truth):
        print("error: give --predictions and --truth, or --model and --data")
        return 2
    predictions, truth = read_jsonl(args.predictions), read_jsonl(args.truth)
    report = evaluate(
        predictions, truth, rubric, iou_threshold=args.iou, n_boot=args.n_boot, seed=args.seed
    )
    try:
        extend_report(
            report,
            predictions,
            truth,
            rubric,
            baselines=_named(args.baseline, "baseline"),
            curves=_named(args.curve, "curve"),
            fresh=args.fresh,
            out=args.out,
            n_boot=args.n_boot,
            seed=args.seed,
        )
    except (OSError, ValueError) as exc:
        print(f"error: {exc}")
        return 2
    paths = write_report(report, args.out)
    d, p, g = report["detection"], report["planes"], report["grades"]
    print(
        f"{report['n_images']} images ({report['missing_predictions']} missing): "
        f"detection P {pct(d['precision'])} R {pct(d['recall'])} IoU {num(d['mean_iou'])}; "
        f"planes label acc {pct(p['label_accuracy'])} subset acc {pct(p['subset_accuracy'])}; "
        f"grade acc {pct(g['accuracy'])}. Report: {paths['markdown']}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer evaluate", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
