"""Pure evaluation metrics of the AbVLM-Q paper, over plain Python data and numpy arrays.

Conventions used throughout (and written into every report):

- A ratio whose denominator is 0 (precision with no predictions, recall with no truth) is 0.0,
  as scikit-learn's ``zero_division=0``. Means over nothing (mean IoU with no true positive,
  an MAE with no scored pair) are ``None``.
- Detection matching: a predicted box can only match a ground-truth box of the same structure
  id, at IoU >= ``threshold`` (inclusive). Pairs are taken greedily by IoU, highest first, each
  box used at most once (ties broken by lower prediction index, then lower truth index). With no
  confidence scores in the answer format there is nothing else to rank by; greedy and Hungarian
  only differ when several boxes of one structure overlap several truth boxes, which a plane's
  key structures (one of each) do not do. Unmatched predictions are false positives, so a
  duplicated structure yields one TP and one FP.
- Plane "label accuracy" is the example-based (Jaccard) accuracy of multi-label learning:
  the mean over images of ``|T ∩ P| / |T ∪ P|`` (1 when both are empty). "Subset accuracy" is the
  share of images whose predicted label set equals the true one. The per-(image, label) decision
  accuracy (1 - Hamming loss) is reported too, as ``hamming_accuracy``.
- Per-label F1 is ``2 TP / (2 TP + FP + FN)``; macro F1 averages it over the labels that occur in
  the truth or in the predictions (scikit-learn's default label set).
- Confidence intervals: percentile bootstrap over images (resample images with replacement,
  recompute the statistic), seeded and vectorised.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from scoring.boxes import match_greedy

DEFAULT_IOU_THRESHOLD = 0.5
DEFAULT_N_BOOT = 1000
DEFAULT_CONFIDENCE = 0.95

Box = Sequence[float]
Structure = tuple[str, Box]  # (structure id, pixel box)


def ratio(num: float, den: float) -> float:
    """``num / den``, 0.0 when ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    return float(num) / float(den) if den else 0.0


def f1_from_counts(tp: float, fp: float, fn: float) -> float:
    return ratio(2 * tp, 2 * tp + fp + fn)


# ------------------------------------------------------------------------ bootstrap


def bootstrap_sums(
    columns: np.ndarray, *, n_boot: int = DEFAULT_N_BOOT, seed: int = 0
) -> np.ndarray:
    """Column sums of ``n_boot`` resamples of the rows (images) of ``columns``.

    ``columns`` is ``(n, k)`` per-image counts; returns ``(n_boot, k)``. Each resample draws
    ``n`` rows with replacement; the sums come from a multiplicity matrix times ``columns``, so
    one matmul per chunk instead of a Python loop.
    """
    columns = np.asarray(columns, dtype=np.float64)
    n, k = columns.shape
    out = np.zeros((n_boot, k))
    if n == 0 or n_boot == 0:
        return out
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, 4_000_000 // n))  # bounds the (chunk, n) multiplicity matrix
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))  # (b, n) drawn image indices
        flat = (idx + np.arange(b)[:, None] * n).ravel()
        weights = np.bincount(flat, minlength=b * n).reshape(b, n)  # (b, n) multiplicities
        out[start : start + b] = weights @ columns  # (b, k)
    return out


def percentile_ci(
    samples: np.ndarray, confidence: float = DEFAULT_CONFIDENCE
) -> list[float] | None:
    """``[low, high]`` percentile interval of the finite ``samples``; None if there are none."""
    s = np.asarray(samples, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return None
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(s, [alpha, 1.0 - alpha])
    return [float(lo), float(hi)]


def _safe_div(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, empty)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _nanmean_rows(a: np.ndarray) -> np.ndarray:
    """Row means ignoring NaN; NaN for an all-NaN row (without numpy's warning)."""
    ok = np.isfinite(a)
    count = ok.sum(axis=1)
    return _safe_div(np.where(ok, a, 0.0).sum(axis=1), count, np.nan)


def _cis(
    columns: np.ndarray,
    stats: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    *,
    n_boot: int,
    seed: int,
    confidence: float,
) -> dict[str, list[float] | None]:
    """Bootstrap CIs of several statistics, each a function of resampled column sums."""
    if n_boot <= 0 or len(columns) == 0:
        return {name: None for name in stats}
    sums = bootstrap_sums(columns, n_boot=n_boot, seed=seed)
    return {name: percentile_ci(fn(sums), confidence) for name, fn in stats.items()}


# ------------------------------------------------------------------------ detection


def match_boxes(
    pred: Sequence[Box], truth: Sequence[Box], threshold: float = DEFAULT_IOU_THRESHOLD
) -> list[tuple[int, int, float]]:
    """One-to-one greedy matching of boxes of one structure: ``(pred_i, truth_j, iou)`` pairs."""
    return match_greedy(pred, truth, threshold)


def match_structures(
    pred: Sequence[Structure],
    truth: Sequence[Structure],
    threshold: float = DEFAULT_IOU_THRESHOLD,
) -> list[tuple[int, int, float]]:
    """Match per structure id; indices refer to positions in ``pred`` and ``truth``."""
    by_id: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for i, (sid, _) in enumerate(pred):
        by_id[sid][0].append(i)
    for j, (sid, _) in enumerate(truth):
        by_id[sid][1].append(j)
    out = []
    for pi, ti in by_id.values():
        for a, b, v in match_boxes([pred[i][1] for i in pi], [truth[j][1] for j in ti], threshold):
            out.append((pi[a], ti[b], v))
    return sorted(out)


def detection_metrics(
    images: Sequence[tuple[Sequence[Structure], Sequence[Structure]]],
    *,
    threshold: float = DEFAULT_IOU_THRESHOLD,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict:
    """Key structure detection over ``(predicted, true)`` structure lists, one pair per image."""
    per_image = np.zeros((len(images), 4))  # (n, [tp, fp, fn, iou_sum])
    per_struct: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
    for n, (pred, truth) in enumerate(images):
        matches = match_structures(pred, truth, threshold)
        matched_p = {i for i, _, _ in matches}
        matched_t = {j for _, j, _ in matches}
        for _, j, v in matches:
            per_struct[truth[j][0]][0] += 1
            per_struct[truth[j][0]][3] += v
        for i, (sid, _) in enumerate(pred):
            if i not in matched_p:
                per_struct[sid][1] += 1
        for j, (sid, _) in enumerate(truth):
            if j not in matched_t:
                per_struct[sid][2] += 1
        tp = len(matches)
        per_image[n] = (tp, len(pred) - tp, len(truth) - tp, sum(v for _, _, v in matches))
    tp, fp, fn, iou_sum = per_image.sum(axis=0)

    def struct_row(c: list[float]) -> dict:
        return {
            "tp": int(c[0]),
            "fp": int(c[1]),
            "fn": int(c[2]),
            "support": int(c[0] + c[2]),
            "precision": ratio(c[0], c[0] + c[1]),
            "recall": ratio(c[0], c[0] + c[2]),
            "mean_iou": c[3] / c[0] if c[0] else None,
        }

    ci = _cis(
        per_image,
        {
            "precision": lambda s: _safe_div(s[:, 0], s[:, 0] + s[:, 1], 0.0),
            "recall": lambda s: _safe_div(s[:, 0], s[:, 0] + s[:, 2], 0.0),
            "mean_iou": lambda s: _safe_div(s[:, 3], s[:, 0], np.nan),
        },
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
    )
    return {
        "iou_threshold": threshold,
        "matching": "greedy one-to-one by IoU (descending), same structure id only",
        "tp": int(tp),
        "false_positives": int(fp),
        "false_negatives": int(fn),
        "n_predicted": int(tp + fp),
        "n_truth": int(tp + fn),
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "f1": f1_from_counts(tp, fp, fn),
        "mean_iou": float(iou_sum / tp) if tp else None,
        "ci": ci,
        "per_structure": {sid: struct_row(per_struct[sid]) for sid in sorted(per_struct)},
    }


# ------------------------------------------------------------------------ label sets


def label_counts(
    pred_sets: Sequence[Iterable[str]], truth_sets: Sequence[Iterable[str]]
) -> dict[str, tuple[int, int, int]]:
    """Per label ``(tp, fp, fn)`` summed over images (set semantics inside one image)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for pred, truth in zip(pred_sets, truth_sets, strict=True):
        p, t = set(pred), set(truth)
        for lab in p & t:
            counts[lab][0] += 1
        for lab in p - t:
            counts[lab][1] += 1
        for lab in t - p:
            counts[lab][2] += 1
    return {k: (v[0], v[1], v[2]) for k, v in counts.items()}


def per_label_table(counts: Mapping[str, tuple[int, int, int]], labels: Sequence[str]) -> dict:
    out = {}
    for lab in labels:
        tp, fp, fn = counts.get(lab, (0, 0, 0))
        out[lab] = {
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "support": tp + fn,
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
            "f1": f1_from_counts(tp, fp, fn),
        }
    return out


def set_agreement(
    pred_sets: Sequence[Iterable[str]],
    truth_sets: Sequence[Iterable[str]],
    labels: Sequence[str] | None = None,
) -> dict:
    """Per-label and micro/macro precision, recall, F1 of predicted vs true label sets.

    Used for deduction items. ``labels`` fixes the order of the per-label table; labels seen in
    the data but not listed are appended (sorted); labels never seen are left out.
    """
    counts = label_counts(pred_sets, truth_sets)
    order = [lab for lab in (labels or []) if lab in counts]
    order += sorted(set(counts) - set(order))
    table = per_label_table(counts, order)
    tp = sum(c[0] for c in counts.values())
    fp = sum(c[1] for c in counts.values())
    fn = sum(c[2] for c in counts.values())
    f1s = [row["f1"] for row in table.values()]
    return {
        "micro": {
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
            "f1": f1_from_counts(tp, fp, fn),
        },
        "f1_macro": float(np.mean(f1s)) if f1s else None,
        "per_item": table,
    }


def _indicators(sets: Sequence[Iterable[str]], labels: Sequence[str]) -> np.ndarray:
    col = {lab: k for k, lab in enumerate(labels)}
    out = np.zeros((len(sets), len(labels)), dtype=bool)
    for n, s in enumerate(sets):
        for lab in s:
            out[n, col[lab]] = True
    return out


def plane_metrics(
    pred_sets: Sequence[Iterable[str]],
    truth_sets: Sequence[Iterable[str]],
    labels: Sequence[str] = (),
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict:
    """Multi-label plane classification; see the module docstring for the definitions.

    ``labels`` (the rubric's plane codes) fixes the order; codes seen in the data but not
    listed are appended, sorted.
    """
    pred_sets = [set(s) for s in pred_sets]
    truth_sets = [set(s) for s in truth_sets]
    if len(pred_sets) != len(truth_sets):
        raise ValueError("pred_sets and truth_sets differ in length")
    seen = set().union(*pred_sets, *truth_sets)
    labels = list(labels) + sorted(seen - set(labels))
    n, n_lab = len(truth_sets), len(labels)
    y = _indicators(truth_sets, labels)  # (n, L)
    p = _indicators(pred_sets, labels)  # (n, L)
    inter = (y & p).sum(axis=1)
    union = (y | p).sum(axis=1)
    jaccard = _safe_div(inter, union, 1.0)  # (n,) both empty counts as a match
    exact = (y == p).all(axis=1).astype(np.float64)  # (n,)
    hamming = (y == p).mean(axis=1) if n_lab else np.ones(n)  # (n,)
    tp_i, fp_i, fn_i = y & p, ~y & p, y & ~p  # (n, L) each
    active = [k for k, lab in enumerate(labels) if lab in seen]  # macro-F1 label set

    # Per-image columns: [jaccard, exact, hamming, tp_1..L, fp_1..L, fn_1..L]
    cols = np.column_stack([jaccard, exact, hamming, tp_i, fp_i, fn_i]).astype(np.float64)

    def f1_per_label(s: np.ndarray) -> np.ndarray:  # (B, L), NaN where a label is absent
        tp, fp, fn = s[:, 3 : 3 + n_lab], s[:, 3 + n_lab : 3 + 2 * n_lab], s[:, 3 + 2 * n_lab :]
        return _safe_div(2 * tp, 2 * tp + fp + fn, np.nan)

    def micro_f1(s: np.ndarray) -> np.ndarray:
        tp = s[:, 3 : 3 + n_lab].sum(axis=1)
        rest = s[:, 3 + n_lab :].sum(axis=1)
        return _safe_div(2 * tp, 2 * tp + rest, 0.0)

    stats: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "label_accuracy": lambda s: s[:, 0] / n,
        "subset_accuracy": lambda s: s[:, 1] / n,
        "hamming_accuracy": lambda s: s[:, 2] / n,
        "f1_macro": lambda s: _nanmean_rows(f1_per_label(s)[:, active]),
        "f1_micro": micro_f1,
    }
    for k in active:
        stats[f"f1:{labels[k]}"] = lambda s, k=k: f1_per_label(s)[:, k]
    ci = _cis(cols, stats, n_boot=n_boot, seed=seed, confidence=confidence)

    counts = {
        lab: (int(tp_i[:, k].sum()), int(fp_i[:, k].sum()), int(fn_i[:, k].sum()))
        for k, lab in enumerate(labels)
    }
    table = per_label_table(counts, labels)
    for lab, row in table.items():
        row["f1_ci"] = ci.pop(f"f1:{lab}", None)
    tp_all = sum(c[0] for c in counts.values())
    rest_all = sum(c[1] + c[2] for c in counts.values())
    f1_active = [table[labels[k]]["f1"] for k in active]
    return {
        "n_images": n,
        "label_accuracy": float(jaccard.mean()) if n else None,
        "subset_accuracy": float(exact.mean()) if n else None,
        "hamming_accuracy": float(hamming.mean()) if n else None,
        "f1_macro": float(np.mean(f1_active)) if f1_active else None,
        "f1_micro": ratio(2 * tp_all, 2 * tp_all + rest_all),
        "n_multi_label_truth": int((y.sum(axis=1) > 1).sum()),
        "ci": ci,
        "per_plane": table,
    }


def single_label_confusion(
    pred_sets: Sequence[Iterable[str]], truth_sets: Sequence[Iterable[str]], labels: Sequence[str]
) -> dict:
    """Confusion of images with exactly one true label; rows truth, columns predicted.

    Predictions that are not a single known label go to the extra columns ``(none)`` (empty) and
    ``(multi)`` (two or more labels, or one label outside ``labels``).
    """
    labels = list(labels)
    columns = [*labels, "(none)", "(multi)"]
    col = {lab: k for k, lab in enumerate(labels)}
    m = np.zeros((len(labels), len(columns)), dtype=int)
    for pred, truth in zip(pred_sets, truth_sets, strict=True):
        t, p = set(truth), set(pred)
        if len(t) != 1 or next(iter(t)) not in col:
            continue
        row = col[next(iter(t))]
        if not p:
            m[row, -2] += 1
        elif len(p) == 1 and next(iter(p)) in col:
            m[row, col[next(iter(p))]] += 1
        else:
            m[row, -1] += 1
    return {"rows": labels, "columns": columns, "matrix": m.tolist()}


# ------------------------------------------------------------------------ grades and scores


def grade_metrics(
    pred_grades: Sequence[str | None],
    truth_grades: Sequence[str],
    grade_names: Sequence[str],
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict:
    """Grade confusion (rows truth, columns predicted) and accuracies.

    A prediction of ``None`` (no prediction, or no score) is wrong: it is counted in its true
    grade's row under ``unscored`` rather than in a column of the matrix.
    """
    names = list(grade_names)
    idx = {g: k for k, g in enumerate(names)}
    m = np.zeros((len(names), len(names)), dtype=int)
    unscored = np.zeros(len(names), dtype=int)
    # Per-image columns: [correct, is_truth_grade_1..G, correct_and_truth_grade_1..G]
    cols = np.zeros((len(truth_grades), 1 + 2 * len(names)))
    for n, (pg, tg) in enumerate(zip(pred_grades, truth_grades, strict=True)):
        r = idx[tg]
        cols[n, 1 + r] = 1
        if pg is None:
            unscored[r] += 1
            continue
        m[r, idx[pg]] += 1
        if pg == tg:
            cols[n, 0] = 1
            cols[n, 1 + len(names) + r] = 1
    rows = m.sum(axis=1) + unscored
    n_total = int(rows.sum())
    per_grade = {g: ratio(m[k, k], rows[k]) if rows[k] else None for k, g in enumerate(names)}
    stats: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "accuracy": lambda s: s[:, 0] / max(n_total, 1)
    }
    for k, g in enumerate(names):
        stats[g] = lambda s, k=k: _safe_div(s[:, 1 + len(names) + k], s[:, 1 + k], np.nan)
    ci = _cis(cols, stats, n_boot=n_boot, seed=seed, confidence=confidence)
    return {
        "labels": names,
        "confusion": m.tolist(),
        "unscored": unscored.tolist(),
        "support": rows.tolist(),
        "n_images": n_total,
        "accuracy": ratio(np.trace(m), n_total) if n_total else None,
        "per_grade_accuracy": per_grade,
        "ci": {"accuracy": ci.pop("accuracy"), "per_grade_accuracy": ci},
    }


def score_errors(pred_scores: Sequence[float | None], truth_scores: Sequence[float | None]) -> dict:
    """MAE, RMSE and mean signed error (predicted - true) over pairs where both are known."""
    pairs = [
        (p, t)
        for p, t in zip(pred_scores, truth_scores, strict=True)
        if p is not None and t is not None
    ]
    if not pairs:
        return {"n": 0, "mae": None, "rmse": None, "bias": None}
    d = np.array([p - t for p, t in pairs], dtype=np.float64)
    return {
        "n": len(pairs),
        "mae": float(np.abs(d).mean()),
        "rmse": float(np.sqrt((d**2).mean())),
        "bias": float(d.mean()),
    }
