"""The evaluation report on disk: ``report.json``, ``report.md`` and confusion-matrix PNGs.

``report.md`` puts the paper's headline figures beside ours. Rendering lives here so that
:mod:`trainer.evaluate` stays the computation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any


def write_report(report: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.md``, ``grade_confusion.png``, ``plane_confusion.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "report.json",
        "markdown": out / "report.md",
        "grade_confusion": out / "grade_confusion.png",
        "plane_confusion": out / "plane_confusion.png",
    }
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    paths["markdown"].write_text(render_markdown(report), "utf-8")

    g = report["grades"]
    matrix = [list(r) for r in g["confusion"]]
    cols = list(g["labels"])
    if any(g["unscored"]):
        cols.append("(none)")
        matrix = [[*r, u] for r, u in zip(matrix, g["unscored"], strict=True)]
    _plot_confusion(matrix, g["labels"], cols, "Grade confusion", paths["grade_confusion"])
    pc = report["planes"]["confusion_single_label"]
    _plot_confusion(
        pc["matrix"],
        pc["rows"],
        pc["columns"],
        "Plane confusion (single-label images)",
        paths["plane_confusion"],
    )
    return paths


def _plot_confusion(
    matrix: Sequence[Sequence[int]],
    rows: Sequence[str],
    cols: Sequence[str],
    title: str,
    path: Path,
) -> None:
    # The object API with an Agg canvas: no pyplot state, no global backend switch.
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    m = np.asarray(matrix, dtype=float).reshape(len(rows), len(cols))
    size = 1.6 + 0.55 * max(len(rows), len(cols))
    fig = Figure(figsize=(size + 1.0, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(m, cmap="Blues", vmin=0, vmax=max(m.max(), 1))
    ax.set_xticks(range(len(cols)), labels=cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), labels=rows)
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    ax.set_title(title)
    top = max(m.max(), 1)
    for (r, c), v in np.ndenumerate(m):
        ax.text(
            c,
            r,
            f"{int(v)}",
            ha="center",
            va="center",
            fontsize=8,
            color="white" if v > top / 2 else "black",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f} %"


def _ci(ci: Sequence[float] | None, percent: bool = True) -> str:
    if not ci:
        return ""
    return f"{pct(ci[0])} – {pct(ci[1])}" if percent else f"{ci[0]:.3f} – {ci[1]:.3f}"


def num(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return [*lines, ""]


def render_markdown(report: Mapping[str, Any]) -> str:
    """The evaluation report as Markdown: the summary against the paper, what the run adds
    (:func:`_extras`), then one section per task and the definitions."""
    lines = [
        "# AbVLM-Q evaluation",
        "",
        f"{report['n_images']} images; {report['missing_predictions']} without a prediction; "
        f"{report['unknown_predictions']['count']} predictions for unknown images ignored. "
        f"Rubric {report['rubric_version']}.",
        "",
        "## Summary against the paper",
        "",
    ]
    lines += _summary(report)
    lines += _extras(report)
    lines += _detection_section(report["detection"])
    lines += _planes_section(report["planes"])
    lines += _grades_section(report["grades"])
    lines += _items_section(report["deductions"])
    lines += ["## Definitions", ""]
    lines += [f"- **{k}**: {v}" for k, v in report["definitions"].items()]
    return "\n".join(lines) + "\n"


def _summary(report: Mapping[str, Any]) -> list[str]:
    d, p, g, x = (report[k] for k in ("detection", "planes", "grades", "deductions"))
    paper = report["paper"]

    def row(name: str, value: str, ci: str, theirs: str = "") -> list[str]:
        return [name, value, ci, theirs]

    return _table(
        ["metric", "ours", "95 % CI", "paper"],
        [
            row("detection precision", pct(d["precision"]), _ci(d["ci"]["precision"]),
                pct(paper["detection"]["precision"])),
            row("detection recall", pct(d["recall"]), _ci(d["ci"]["recall"]),
                pct(paper["detection"]["recall"])),
            row("mean IoU (TP)", num(d["mean_iou"]), _ci(d["ci"]["mean_iou"], percent=False),
                num(paper["detection"]["mean_iou"])),
            row("plane label accuracy", pct(p["label_accuracy"]),
                _ci(p["ci"]["label_accuracy"]), pct(paper["planes"]["label_accuracy"])),
            row("plane subset accuracy", pct(p["subset_accuracy"]),
                _ci(p["ci"]["subset_accuracy"]), pct(paper["planes"]["subset_accuracy"])),
            row("plane F1 (macro)", pct(p["f1_macro"]), _ci(p["ci"]["f1_macro"])),
            row("Excellent-grade accuracy", pct(g["per_grade_accuracy"].get("Excellent")),
                _ci(g["ci"]["per_grade_accuracy"].get("Excellent")),
                pct(paper["grades"]["excellent_accuracy"])),
            row("grade accuracy", pct(g["accuracy"]), _ci(g["ci"]["accuracy"])),
            row("score MAE", num(g["score"]["mae"], 2), ""),
            row("deduction item F1 (micro)", pct(x["micro"]["f1"]), ""),
        ],
    )  # fmt: skip


def _detection_section(d: Mapping[str, Any]) -> list[str]:
    lines = [
        "## Key structure detection",
        "",
        f"TP {d['tp']}, false positives {d['false_positives']}, false negatives "
        f"{d['false_negatives']}.",
        "",
    ]
    return lines + _table(
        ["structure", "support", "TP", "FP", "FN", "precision", "recall", "mean IoU"],
        [
            [s, r["support"], r["tp"], r["fp"], r["fn"], pct(r["precision"]),
             pct(r["recall"]), num(r["mean_iou"])]
            for s, r in d["per_structure"].items()
        ],
    )  # fmt: skip


def _planes_section(p: Mapping[str, Any]) -> list[str]:
    lines = [
        "## Standard planes",
        "",
        f"Hamming accuracy {pct(p['hamming_accuracy'])}, micro F1 {pct(p['f1_micro'])}; "
        f"{p['n_multi_label_truth']} images carry two or more true labels.",
        "",
    ]
    return lines + _table(
        ["plane", "support", "precision", "recall", "F1", "F1 95 % CI"],
        [
            [c, r["support"], pct(r["precision"]), pct(r["recall"]), pct(r["f1"]),
             _ci(r["f1_ci"])]
            for c, r in p["per_plane"].items()
            if r["support"] or r["fp"]
        ],
    )  # fmt: skip


def _grades_section(g: Mapping[str, Any]) -> list[str]:
    lines = ["## Grades", "", "Rows truth, columns predicted.", ""]
    lines += _table(
        ["truth \\ predicted", *g["labels"], "(none)", "accuracy"],
        [
            [name, *row, g["unscored"][k], pct(g["per_grade_accuracy"][name])]
            for k, (name, row) in enumerate(zip(g["labels"], g["confusion"], strict=True))
        ],
    )
    s = g["score"]
    return [
        *lines,
        f"Score over {s['n']} scored pairs: MAE {num(s['mae'], 2)}, RMSE {num(s['rmse'], 2)}, "
        f"bias (predicted - true) {num(s['bias'], 2)}.",
        "",
    ]


def _items_section(x: Mapping[str, Any]) -> list[str]:
    lines = ["## Deduction items", ""]
    lines += _table(
        ["item", "support", "TP", "FP", "FN", "precision", "recall", "F1"],
        [
            [i, r["support"], r["tp"], r["fp"], r["fn"], pct(r["precision"]),
             pct(r["recall"]), pct(r["f1"])]
            for i, r in x["per_item"].items()
        ],
    )  # fmt: skip
    m = x["micro"]
    return [
        *lines,
        f"Micro: precision {pct(m['precision'])}, recall {pct(m['recall'])}, "
        f"F1 {pct(m['f1'])}; macro F1 {pct(x['f1_macro'])}.",
        "",
    ]


def _value(v: float | None, metric: str) -> str:
    if v is None:
        return "–"
    if "MAE" in metric:
        return num(v, 2)
    return num(v, 3) if "IoU" in metric else pct(v)


def _extras(report: Mapping[str, Any]) -> list[str]:
    """Targets, the models side by side, confidence and the review queue, a new seed and
    learning curves, when measured (:func:`trainer.evaluate.extend_report`)."""
    lines: list[str] = []
    if report.get("targets"):
        lines += _targets_section(report["targets"])
    if report.get("models"):
        lines += _models_section(report["models"])
    if report.get("calibration"):
        lines += _calibration_section(report["calibration"])
    tri = report.get("review_triage")
    if tri and (tri["wrong"] or tri["right"]):
        lines += _triage_section(tri)
    if report.get("fresh_seed"):
        lines += _fresh_section(report["fresh_seed"])
    if report.get("curves"):
        lines += _curves_section(report["curves"])
    return lines


def _targets_section(targets: list[Mapping[str, Any]]) -> list[str]:
    met = sum(t["met"] for t in targets)
    lines = ["## Targets", "", f"{met} of {len(targets)} met.", ""]

    def bound(t: Mapping[str, Any]) -> str:
        lower = "MAE" in t["metric"] or "flags right" in t["metric"]
        return ("<= " if lower else ">= ") + _value(t["target"], t["metric"])

    return lines + _table(
        ["metric", "ours", "target", "met"],
        [[t["metric"], _value(t["value"], t["metric"]), bound(t), "yes" if t["met"] else "**no**"]
         for t in targets],
    )  # fmt: skip


def _models_section(models: Mapping[str, Any]) -> list[str]:
    names = models["names"]
    lines = [
        "## Models side by side",
        "",
        "The same test phantoms, the same metrics. `vlm` is the demo model; the baselines "
        "are CNNs from scratch on the same training phantoms and cores "
        "(`python -m trainer baselines`). – : the model does not do that task.",
        "",
    ]
    rows = [
        [r["metric"], *(_value(r["values"][n], r["metric"]) for n in names)] for r in models["rows"]
    ]
    rows.append(["plane confidence ECE", *(num(models["ece"].get(n), 3) for n in names)])
    lines += _table(["metric", *names], rows)
    if models["vlm_losses"]:
        return [*lines, "Where the VLM loses to a baseline:", "",
                *(f"- {s}" for s in models["vlm_losses"]), ""]  # fmt: skip
    return [*lines, "The VLM is at least as good as every baseline on every metric.", ""]


def _calibration_section(cal: Mapping[str, Any]) -> list[str]:
    lines = [
        "## Confidence and the review queue",
        "",
        f"Plane confidence over {cal['n']} images: mean {pct(cal['mean_confidence'])}, "
        f"share of images whose plane set is right {pct(cal['accuracy'])}, expected "
        f"calibration error (10 equal bins) {num(cal['ece'], 3)}.",
        "",
    ]
    return lines + _table(
        ["confidence bin", "images", "mean confidence", "right"],
        [[f"{b['bin'][0]:.1f}–{b['bin'][1]:.1f}", b["n"], pct(b["confidence"]),
          pct(b["accuracy"])] for b in cal["bins"]],
    )  # fmt: skip


def _triage_section(tri: Mapping[str, Any]) -> list[str]:
    lines = [
        f"`needs_review` flags {tri['wrong_flagged']} of {tri['wrong']} wrong grades "
        f"({pct(tri['catch_rate'])}; goal >= 80 %) and {tri['right_flagged']} of "
        f"{tri['right']} right ones ({pct(tri['false_flag_rate'])}; goal <= 25 %).",
        "",
    ]
    if tri.get("unflagged_share") is not None:
        lines += [
            f"What a resident meets: {pct(tri['unflagged_share'])} of graded images are "
            f"shown without a flag (goal >= 50 %), and their grade is right "
            f"{pct(tri['unflagged_accuracy'])} of the time (goal >= 90 %).",
            "",
        ]
    if tri.get("risk_coverage"):
        lines += ["Risk-coverage of the grade's trust (declined and unfinished answers "
                  "stay flagged):", ""]  # fmt: skip
        lines += _table(
            ["coverage", "unflagged grade right", "trust threshold"],
            [[pct(r["coverage"]), pct(r["accuracy"]), f"{r['threshold']:.3f}"]
             for r in tri["risk_coverage"]],
        )  # fmt: skip
        lines.append("")
    return lines


def _fresh_section(fresh: Mapping[str, Any]) -> list[str]:
    agree = [r for r in fresh["rows"] if r["agree"] is not None]
    lines = [
        "## A new seed",
        "",
        f"The same model on {fresh['n_images']} phantoms of a seed never used before "
        f"(`{fresh['report']}`): {sum(r['agree'] for r in agree)} of {len(agree)} headline "
        "figures agree within their 95 % intervals (the intervals overlap).",
        "",
    ]
    return lines + _table(
        ["metric", "test", "95 % CI", "new seed", "95 % CI", "agree"],
        [
            [r["metric"], _value(r["test"], r["metric"]),
             _ci(r["test_ci"], "IoU" not in r["metric"]), _value(r["fresh"], r["metric"]),
             _ci(r["fresh_ci"], "IoU" not in r["metric"]),
             {True: "yes", False: "**no**", None: "n/a"}[r["agree"]]]
            for r in fresh["rows"]
        ],
    )  # fmt: skip


def _curves_section(curves: list[Mapping[str, Any]]) -> list[str]:
    lines = [
        "## Learning curves",
        "",
        "Held-out phantoms measured during training (the curve set: seed 4, never trained "
        "or tested on, unless the table says otherwise): "
        "`learning_curves.png`. The VLM's stage 1 points read the vision tower through its "
        "throwaway linear head; its answer points are generated as the engine would.",
        "",
        "![learning curves](learning_curves.png)",
        "",
    ]
    return lines + _table(
        ["series", "minutes", "images seen", "plane accuracy", "detection F1", "measured on"],
        [[p["series"], f"{p['elapsed_s'] / 60:.1f}", p["images_seen"], pct(p["plane"]),
          pct(p["detection_f1"]), p.get("source", "curve set")] for p in curves],
    )  # fmt: skip
