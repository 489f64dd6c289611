"""The teaching panel of the scan page: the correction in force and its difference to the AI's
answer, the resident's self-assessment and dispute, what the reviewer's editor needs.

A selector (it was the body of a template tag, running its queries from inside the template):
the scan page's views call it and pass the result to ``{% teaching_panel %}``, which renders.
It sits in progress, above review, because it reads both.
"""

from __future__ import annotations

from abvlmq_web.accounts.models import User
from abvlmq_web.accounts.selectors import visible_cohorts
from abvlmq_web.core.rubrics import active_rubric, rubric_for_version
from abvlmq_web.progress.selectors.examples import excellent_example
from abvlmq_web.progress.selectors.self_assessment import score_concealed, self_assessment_of
from abvlmq_web.review.assessments import ai_assessment, compare
from abvlmq_web.review.selectors import correction_history, open_dispute, reviewable_analyses
from abvlmq_web.scans.models import Analysis, Scan


def scan_teaching(*, user: User, scan: Scan) -> dict:
    """The panel's template context for ``user`` looking at ``scan``."""
    analysis = getattr(scan, "analysis", None)
    if analysis is None:
        return {"analysis": None}
    done = analysis.status == Analysis.Status.DONE
    owner = scan.owner_id == user.pk
    history = list(correction_history(analysis=analysis)) if done else []
    correction = history[0] if history else None
    rubric = rubric_for_version(analysis.rubric_version)
    diff, rows, ai_rows = None, [], []
    if correction is not None:
        ai = ai_assessment(analysis)
        ai_items = [d.item for d in ai.deductions]
        diff = compare(
            ai.planes,
            ai_items,
            correction.planes,
            [d["item"] for d in correction.deductions],
            rubric=rubric,
            ai_boxes={s.id: s.box for s in ai.structures},
            boxes={s["id"]: s["box"] for s in correction.structures},
        )
        for d in correction.deductions:
            item = rubric.items.get(d["item"])
            rows.append(
                {
                    "item": d["item"],
                    "reason": d["reason"],
                    "points": item.points if item else 0,
                    "tip": item.tip if item else "",
                    "condition": item.condition if item else d["item"],
                    "added": d["item"] in diff.added,
                }
            )
        for d in ai.deductions:
            item = rubric.items.get(d.item)
            ai_rows.append(
                {
                    "item": d.item,
                    "points": item.points if item else d.points,
                    "condition": item.condition if item else d.item,
                    "removed": d.item in diff.removed,
                    "dropped": d.item in diff.dropped,
                }
            )
    mine = self_assessment_of(analysis=analysis)
    conceal = score_concealed(user=user, analysis=analysis)
    example, example_plane = None, None
    if done and not conceal and not analysis.abstained:
        planes = correction.planes if correction is not None else (analysis.planes or [])
        standard = [p for p in planes if p in rubric.planes and rubric.planes[p].standard]
        if standard:  # what Excellent looks like for this plane, beside her scan
            example_plane = standard[0]
            example = excellent_example(user=user, plane=example_plane, exclude_scan=scan.pk)
    planes = [(c, p.name) for c, p in active_rubric().planes.items()]
    return {
        "scan": scan,
        "analysis": analysis,
        "done": done,
        "owner": owner,
        "correction": correction,
        "history": history[1:],
        "diff": diff,
        "diff_summary": diff.summary(rubric) if diff else "",
        "correction_rows": rows,
        "ai_rows": ai_rows,
        "removed": _conditions(rubric, diff.removed if diff else ()),
        "dropped": _conditions(rubric, diff.dropped if diff else ()),
        "boxes": {
            kind: [rubric.structures[s].name if s in rubric.structures else s for s in ids]
            for kind, ids in (
                ("added", diff.boxes_added if diff else ()),
                ("moved", diff.boxes_moved if diff else ()),
                ("removed", diff.boxes_removed if diff else ()),
                ("dropped", diff.boxes_dropped if diff else ()),
            )
        },
        "example": example,
        "example_plane": example_plane,
        "self": mine,
        "conceal": conceal,
        "planes": planes,
        "dispute": open_dispute(analysis=analysis) if done else None,
        "can_review": done and reviewable_analyses(user=user).filter(pk=analysis.pk).exists(),
        "cohorts": visible_cohorts(user=user) if not user.is_resident else [],
        "max_score": rubric.max_score,
    }


def _conditions(rubric, item_ids) -> list[dict]:
    return [
        {"item": i, "condition": rubric.items[i].condition if i in rubric.items else i}
        for i in item_ids
    ]
