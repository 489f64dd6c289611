"""Two readers' answers compared, their consensus, and the inter-rater figures.

The rule (issue 33): two records **agree** when they name the same planes, give the same grade,
score within 1 point of each other, and every boxed structure is boxed by both, each pair of
boxes overlapping at IoU >= 0.5. Anything else sends the scan to the adjudicator.

The **consensus** of two agreeing records: the planes they share; each structure's box the
average of the two readers' boxes (corner by corner, rounded to the grid); the deductions of the
stricter reading (the lower score; on a tie the first record submitted), a deduction's region
averaged where both readers drew one for the same item; scored by the rubric. Both readers'
boxes are the same structures (the rule asks it) and so are the "not displayed" deductions, so
the consensus keeps the rubric's rule; its grade is the grade both gave.

The **figures** (per reader pair and overall): Cohen's kappa on planes (the combination of
planes as one category: "GB", "GB+RKL") and on grades; weighted kappa on scores (quadratic
weights on the score itself); the mean IoU of matched boxes per structure; the share of scans
sent to adjudication. Computed here by hand, with no statistics package.

Plain Python on answers (``models.py`` says their shape); no database.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from scoring.boxes import match_greedy

MIN_IOU = 0.5
MAX_SCORE_GAP = 1.0


def plane_category(planes: Iterable[str]) -> str:
    """One category for a record's planes, in any order: "GB", "GB+RKL"."""
    return "+".join(sorted(planes)) or "none"


def _boxes(answer: dict) -> dict[str, list[list[float]]]:
    out: dict[str, list[list[float]]] = defaultdict(list)
    for s in answer.get("structures") or []:
        out[str(s["id"])].append([float(v) for v in s["box"]])
    return out


def matched_boxes(a: dict, b: dict) -> tuple[dict[str, list[tuple]], list[str]]:
    """Pairs of boxes of the same structure (greedy, best IoU first, when a structure has more
    than one box) as ``{structure: [(box_a, box_b, iou), ...]}``, and the structures one
    reader boxed and the other did not (or boxed a different number of times)."""
    boxes_a, boxes_b = _boxes(a), _boxes(b)
    pairs: dict[str, list[tuple]] = {}
    unmatched: list[str] = []
    for sid in sorted(set(boxes_a) | set(boxes_b)):
        left, right = list(boxes_a.get(sid, [])), list(boxes_b.get(sid, []))
        if len(left) != len(right):
            unmatched.append(sid)
        found = [(left[i], right[j], value) for i, j, value in match_greedy(left, right)]
        if found:
            pairs[sid] = found
    return pairs, unmatched


def compare(a: dict, b: dict, *, names: dict[str, str] | None = None) -> dict:
    """The rule on two answers: ``agree`` and, when they do not, the ``reasons`` in words;
    with ``ious`` (structure -> the IoU of each matched pair) and ``unmatched`` structures."""
    names = names or {}
    pairs, unmatched = matched_boxes(a, b)
    reasons: list[str] = []
    same_planes = set(a.get("planes") or []) == set(b.get("planes") or [])
    if not same_planes:
        reasons.append(
            f"the planes differ ({plane_category(a.get('planes') or [])} and "
            f"{plane_category(b.get('planes') or [])})"
        )
    same_grade = a.get("grade") == b.get("grade")
    if not same_grade:
        reasons.append(f"the grades differ ({a.get('grade')} and {b.get('grade')})")
    gap = abs(float(a.get("score") or 0) - float(b.get("score") or 0))
    if gap > MAX_SCORE_GAP:
        reasons.append(f"the scores are {gap:g} points apart")
    for sid in unmatched:
        reasons.append(f"only one reader boxed the {names.get(sid, sid)}")
    for sid, found in pairs.items():
        low = [v for _, _, v in found if v < MIN_IOU]
        if low:
            reasons.append(f"the {names.get(sid, sid)} boxes overlap at IoU {min(low):.2f}")
    return {
        "agree": not reasons,
        "planes": same_planes,
        "grade": same_grade,
        "score_gap": gap,
        "ious": {sid: [round(v, 4) for _, _, v in found] for sid, found in pairs.items()},
        "unmatched": unmatched,
        "reasons": reasons,
    }


def _mean_box(x: Sequence[float], y: Sequence[float]) -> list[int]:
    return [round((p + q) / 2) for p, q in zip(x, y, strict=True)]


def consensus_parts(first: dict, second: dict) -> tuple[list[str], list[dict], list[dict]]:
    """The consensus of two agreeing answers (``first``: the record submitted first) as
    planes, structures and deductions, to be scored by the rubric (the module's docstring
    says how)."""
    pairs, _ = matched_boxes(first, second)
    structures = [
        {"id": sid, "box": _mean_box(x, y)} for sid, found in pairs.items() for x, y, _ in found
    ]
    order = {str(s["id"]): n for n, s in enumerate(first.get("structures") or [])}
    structures.sort(key=lambda s: order.get(s["id"], len(order)))
    stricter, other = first, second
    if float(second.get("score") or 0) < float(first.get("score") or 0):
        stricter, other = second, first
    other_boxes = {d["item"]: d.get("box") for d in other.get("deductions") or []}
    deductions = []
    for d in stricter.get("deductions") or []:
        box, theirs = d.get("box"), other_boxes.get(d["item"])
        if box and theirs:
            box = _mean_box(box, theirs)
        deductions.append({"item": d["item"], "reason": d.get("reason") or "", "box": box})
    return list(first.get("planes") or []), structures, deductions


# --------------------------------------------------------------------------- figures


def cohen_kappa(pairs: Sequence[tuple[object, object]]) -> float | None:
    """Cohen's kappa of two raters' categories: (p_o - p_e) / (1 - p_e), where p_o is the
    share of items they put in the same category and p_e the agreement chance gives, the sum
    over categories of the product of each rater's share of that category. None when it is
    not defined (no items, or both raters used one and the same category throughout)."""
    n = len(pairs)
    if not n:
        return None
    observed = sum(1 for x, y in pairs if x == y) / n
    left, right = Counter(x for x, _ in pairs), Counter(y for _, y in pairs)
    expected = sum(left[c] * right[c] for c in left) / (n * n)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


def weighted_kappa(pairs: Sequence[tuple[float, float]]) -> float | None:
    """Weighted kappa with quadratic weights on the scores themselves: 1 - (the mean squared
    difference of the paired scores) / (the mean squared difference of every score of one
    rater against every score of the other, what chance pairing gives). None when not defined
    (no items, or every score the same)."""
    n = len(pairs)
    if not n:
        return None
    observed = sum((x - y) ** 2 for x, y in pairs) / n
    expected = sum((x - y) ** 2 for x, _ in pairs for _, y in pairs) / (n * n)
    if expected == 0:
        return None
    return 1 - observed / expected


@dataclass
class Figures:
    """Inter-rater figures of a set of double-read scans."""

    scans: int = 0  # scans both readers submitted
    adjudicated: int = 0  # of those, sent to the adjudicator (disputed or adjudicated)
    plane_kappa: float | None = None
    grade_kappa: float | None = None
    score_kappa: float | None = None  # weighted (quadratic)
    plane_agreement: float | None = None  # the raw share in the same category
    grade_agreement: float | None = None
    box_iou: dict[str, tuple[float, int]] = field(default_factory=dict)  # mean, pairs
    unmatched: dict[str, int] = field(default_factory=dict)  # boxed by one reader only

    @property
    def adjudication_share(self) -> float | None:
        return self.adjudicated / self.scans if self.scans else None


def figures(double_reads: Iterable[tuple[dict, dict, bool]]) -> Figures:
    """``double_reads``: (first reader's answer, second reader's, sent to adjudication)."""
    rows = list(double_reads)
    out = Figures(scans=len(rows), adjudicated=sum(1 for *_, sent in rows if sent))
    if not rows:
        return out
    planes = [(plane_category(a["planes"]), plane_category(b["planes"])) for a, b, _ in rows]
    grades = [(a["grade"], b["grade"]) for a, b, _ in rows]
    out.plane_kappa = cohen_kappa(planes)
    out.grade_kappa = cohen_kappa(grades)
    out.score_kappa = weighted_kappa([(float(a["score"]), float(b["score"])) for a, b, _ in rows])
    out.plane_agreement = sum(x == y for x, y in planes) / len(rows)
    out.grade_agreement = sum(x == y for x, y in grades) / len(rows)
    ious: dict[str, list[float]] = defaultdict(list)
    unmatched: Counter[str] = Counter()
    for a, b, _ in rows:
        pairs, lone = matched_boxes(a, b)
        for sid, found in pairs.items():
            ious[sid] += [v for _, _, v in found]
        unmatched.update(lone)
    out.box_iou = {sid: (sum(v) / len(v), len(v)) for sid, v in sorted(ious.items())}
    out.unmatched = dict(sorted(unmatched.items()))
    return out
