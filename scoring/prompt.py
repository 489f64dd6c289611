"""The paper's three-layer hierarchical prompt, built from the rubric.

1. Task specification: who answers and the three tasks in order.
2. Structured query: which structures to localise, in Qwen2-VL grounding tokens.
3. Scoring reasoning: step-by-step deductions, each linked to a region, score from the rubric.

``detail="full"`` lists every plane, structure and deduction item (for Qwen2-VL-2B);
``detail="compact"`` keeps the three layers but names the item families instead of listing
each item; ``detail="brief"`` is the task layer alone (about 40 tokens instead of 150): a model
trained from scratch learns the answer grammar from its answers, not from the prompt, and
every prompt token is paid for in every training step and every generated token. All describe
the same answer grammar (see :mod:`scoring.answer`). Plain Python.
"""

from __future__ import annotations

from typing import Any, Literal

from scoring.answer import BOX_END, BOX_START, REF_END, REF_START
from scoring.rubric import Rubric, default_rubric

Detail = Literal["full", "compact", "brief"]

SYSTEM = "You are an expert sonographer who assesses the quality of abdominal ultrasound images."


def _fmt(x: float) -> str:
    return f"{x:g}"


def task_layer(rubric: Rubric) -> str:
    return (
        "Task: assess this abdominal ultrasound image in three steps, in this order. "
        "1) Detect the key anatomical structures. "
        "2) Classify the standard plane. "
        f"3) Score the image quality from 0 to {_fmt(rubric.max_score)} with itemized deductions."
    )


def query_layer(rubric: Rubric, detail: Detail = "full") -> str:
    grounding = f"{REF_START}name{REF_END}{BOX_START}(x1,y1),(x2,y2){BOX_END}"
    lines = [
        "Step 1. Under 'Structures:', write one line per key structure you see as "
        f"{grounding}, coordinates normalised to 0-1000; write 'Structures: none' if none.",
    ]
    if detail == "full":
        names = ", ".join(s.name for s in rubric.structures.values())
        lines.append(f"Key structures: {names}.")
    planes = rubric.planes.values()
    if detail == "full":
        listed = "; ".join(f"{p.code} = {p.name}" for p in planes)
    else:
        listed = ", ".join(p.code for p in planes)
    lines.append(
        "Step 2. Write 'Plane:' and the code of the standard plane; give two codes separated "
        f"by a comma if the image meets two plane definitions. Planes: {listed}."
    )
    return "\n".join(lines)


def scoring_layer(rubric: Rubric, detail: Detail = "full") -> str:
    rules = rubric.data.get("structure_rules", {})
    missing = _fmt(rules.get("missing", {}).get("points", 3))
    incomplete = _fmt(rules.get("incomplete", {}).get("points", 2))
    lines = [
        "Step 3. Under 'Deductions:', reason step by step. Check each key structure of the "
        f"plane (not displayed -{missing}, displayed incompletely -{incomplete}), then the "
        "plane's own items, then the global items for the whole image. Write each deduction "
        "as 'N. ITEM_ID (-points): reason' followed by the box of the region it concerns, if "
        "any; write 'Deductions: none' if there is none. End with 'Score:' and "
        f"{_fmt(rubric.max_score)} minus the deductions, not below 0.",
    ]
    if detail == "full":
        for p in rubric.planes.values():
            items = [rubric.items[i] for i in p.items if rubric.items[i].kind == "plane"]
            if items:
                listed = "; ".join(f"{i.id} (-{_fmt(i.points)}) {i.condition}" for i in items)
                lines.append(f"{p.code} items: {listed}.")
        listed = "; ".join(f"{i.id} (-{_fmt(i.points)}) {i.condition}" for i in rubric.global_items)
        lines.append(f"Global items: {listed}.")
    else:
        families = sorted({i.id.split(".")[0] for i in rubric.global_items})
        lines.append(f"Global item families: {', '.join(families)}.")
    bands = ", ".join(f"{g.name} from {_fmt(g.min)}" for g in rubric.grades)
    lines.append(f"Grades: {bands}.")
    return "\n".join(lines)


def build_prompt(rubric: Rubric | None = None, detail: Detail = "full") -> str:
    """The user text of the prompt: the three layers, separated by blank lines."""
    rubric = rubric or default_rubric()
    if detail == "brief":
        return task_layer(rubric)
    return "\n\n".join(
        [task_layer(rubric), query_layer(rubric, detail), scoring_layer(rubric, detail)]
    )


def build_messages(
    rubric: Rubric | None = None, detail: Detail = "full", answer: str | None = None
) -> list[dict[str, Any]]:
    """Chat messages in the Qwen2-VL format (an image slot then the prompt text).

    With ``answer`` the assistant turn is included, which is the training conversation.
    """
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "text", "text": build_prompt(rubric, detail)},
            ],
        },
    ]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return messages
