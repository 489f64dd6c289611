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
def answers(draw, keep_rule: bool = True):
    """A valid answer: items that apply to its planes, at most one per exclusive group, and
    (``keep_rule``) the rubric's rule for key structures: each is boxed or deducted as not
    displayed, never both. ``keep_rule=False``: key structures may be left out altogether."""
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
    chosen = (
        draw(st.lists(st.sampled_from(structure_ids), max_size=6, unique=True))
        if structure_ids
        else []
    )
    structures = tuple(Structure(s, draw(norm_boxes())) for s in chosen)
    candidates = draw(st.permutations(RUBRIC.items_for(planes)))
    n = draw(st.integers(0, min(6, len(candidates))))
    deductions, groups = [], set()
    for item in candidates:
        if len(deductions) == n:
            break
        if item.group and item.group in groups:
            continue
        if item.kind == "missing" and item.structure in chosen:
            continue  # a structure with a box is displayed
        if item.kind == "incomplete" and item.structure not in chosen:
            continue  # displayed incompletely: it has its box
        if item.kind == "missing" and any(
            d.item.endswith(f".{item.structure}.missing") for d in deductions
        ):
            continue  # one "not displayed" per structure
        groups.add(item.group)
        reason = draw(reasons)
        box = draw(st.none() | norm_boxes())
        deductions.append(Deduction(item.id, item.points, reason or item.condition, box))
    if keep_rule and kind != "ns":
        have = [d.item for d in deductions]
        for _sid, item_id in RUBRIC.unaccounted(planes, chosen, have):
            item = RUBRIC.items[item_id]
            deductions.append(Deduction(item_id, item.points, item.condition, None))
        order = {it.id: k for k, it in enumerate(RUBRIC.items_for(planes))}
        deductions.sort(key=lambda d: order[d.item])
    return Answer(structures, planes, tuple(deductions))
