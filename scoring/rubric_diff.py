"""The plain-language summary of how one rubric differs from another (what an admin reads
before activating a new version). Pure: two Rubric objects in, lines of text out."""

from __future__ import annotations

from scoring.rubric import Rubric


def _fmt(x: float) -> str:
    return f"{x:g}"


def rubric_changes(old: Rubric, new: Rubric) -> list[str]:
    """What changed from ``old`` to ``new``, in plain words, one line a change: max score, grade
    bands, planes, items (points, condition, teaching tip). Empty when nothing that scores did."""
    out: list[str] = []
    if old.max_score != new.max_score:
        out.append(f"max score {_fmt(old.max_score)} -> {_fmt(new.max_score)}")
    old_bands = {g.name: g.min for g in old.grades}
    new_bands = {g.name: g.min for g in new.grades}
    for name in sorted(set(old_bands) | set(new_bands)):
        a, b = old_bands.get(name), new_bands.get(name)
        if a is None:
            out.append(f"grade band {name} added (from {_fmt(b)})")
        elif b is None:
            out.append(f"grade band {name} removed")
        elif a != b:
            out.append(f"grade band {name} now starts at {_fmt(b)} (was {_fmt(a)})")
    for code in sorted(set(old.planes) - set(new.planes)):
        out.append(f"plane {code} removed")
    for code in sorted(set(new.planes) - set(old.planes)):
        out.append(f"plane {code} added ({new.planes[code].name})")
    for iid in sorted(set(old.items) - set(new.items)):
        out.append(f"item {iid} removed")
    for iid in sorted(set(new.items) - set(old.items)):
        out.append(f"item {iid} added (-{_fmt(new.items[iid].points)})")
    for iid in sorted(set(old.items) & set(new.items)):
        a, b = old.items[iid], new.items[iid]
        if a.points != b.points:
            out.append(f"item {iid}: -{_fmt(a.points)} -> -{_fmt(b.points)}")
        if a.condition != b.condition:
            out.append(f"item {iid}: condition reworded")
        if a.tip != b.tip:
            out.append(f"item {iid}: teaching tip reworded")
    return out
