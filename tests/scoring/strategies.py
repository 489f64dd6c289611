"""Hypothesis strategies for valid answers under the default rubric."""

from __future__ import annotations

from hypothesis import strategies as st

from scoring.answer import Answer, Deduction, Structure
from scoring.rubric import default_rubric

RUBRIC = default_rubric()
REASON_ALPHABET = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:'()/-%")
)


@st.composite
def norm_boxes(draw):
    x1 = draw(st.integers(0, 999))
    y1 = draw(st.integers(0, 999))
    x2 = draw(st.integers(x1 + 1, 1000))
    y2 = draw(st.integers(y1 + 1, 1000))
    return (x1, y1, x2, y2)


reasons = st.text(REASON_ALPHABET, min_size=1, max_size=60).map(lambda s: " ".join(s.split()))


@st.composite
def answers(draw):
    standard = list(RUBRIC.standard_planes)
    kind = draw(st.sampled_from(["one", "one", "two", "ns"]))
    if kind == "ns":
        planes = ("NS",)
    elif kind == "two":
        planes = tuple(
            draw(st.lists(st.sampled_from(standard), min_size=2, max_size=2, unique=True))
        )
    else:
        planes = (draw(st.sampled_from(standard)),)
    structure_ids = RUBRIC.structures_for(planes) if kind != "ns" else list(RUBRIC.structures)
    chosen = draw(st.lists(st.sampled_from(structure_ids), max_size=6)) if structure_ids else []
    structures = tuple(Structure(s, draw(norm_boxes())) for s in chosen)
    candidates = draw(st.permutations(RUBRIC.items_for(planes)))
    n = draw(st.integers(0, min(6, len(candidates))))
    deductions, groups = [], set()
    for item in candidates:
        if len(deductions) == n:
            break
        if item.group and item.group in groups:
            continue
        groups.add(item.group)
        reason = draw(reasons)
        box = draw(st.none() | norm_boxes())
        deductions.append(Deduction(item.id, item.points, reason or item.condition, box))
    return Answer(structures, planes, tuple(deductions))
