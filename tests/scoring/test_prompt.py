"""The hierarchical prompt has the paper's three layers and is built from the rubric."""

from __future__ import annotations

from scoring.prompt import build_messages, build_prompt, query_layer, scoring_layer, task_layer
from scoring.rubric import DEFAULT_RUBRIC_PATH, default_rubric, rubric_from_text

RUBRIC = default_rubric()


def test_the_three_layers_come_in_order():
    prompt = build_prompt(RUBRIC)
    layers = prompt.split("\n\n")
    assert layers == [task_layer(RUBRIC), query_layer(RUBRIC), scoring_layer(RUBRIC)]
    assert layers[0].startswith("Task:")
    assert "1) Detect" in layers[0] and "2) Classify" in layers[0] and "3) Score" in layers[0]


def test_the_query_uses_qwen2_vl_grounding_tokens_and_names_every_structure_and_plane():
    query = query_layer(RUBRIC, "full")
    assert "<|object_ref_start|>name<|object_ref_end|>" in query
    assert "<|box_start|>(x1,y1),(x2,y2)<|box_end|>" in query and "0-1000" in query
    for s in RUBRIC.structures.values():
        assert s.name in query
    for p in RUBRIC.planes.values():
        assert f"{p.code} = {p.name}" in query


def test_the_scoring_layer_links_deductions_to_regions_and_lists_every_item():
    layer = scoring_layer(RUBRIC, "full")
    assert "step by step" in layer and "box of the region" in layer
    assert "not displayed -3" in layer and "incompletely -2" in layer
    for item in RUBRIC.items.values():
        if item.kind in ("plane", "global"):
            assert item.id in layer
    assert "Excellent from 8" in layer


def test_the_compact_prompt_keeps_the_layers_but_is_shorter():
    full, compact = build_prompt(RUBRIC, "full"), build_prompt(RUBRIC, "compact")
    assert len(compact) < len(full) / 2
    assert compact.count("\n\n") == 2
    assert all(code in compact for code in RUBRIC.planes)


def test_the_prompt_follows_the_rubric():
    text = DEFAULT_RUBRIC_PATH.read_text().replace(
        "name: Gallbladder longitudinal", "name: Gallbladder long axis"
    )
    edited = rubric_from_text(text)
    assert "GB = Gallbladder long axis" in build_prompt(edited)


def test_messages_put_the_image_before_the_text_and_can_carry_the_answer():
    messages = build_messages(RUBRIC, "compact", answer="Structures: none")
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[1]["content"][0] == {"type": "image"}
    assert messages[2]["content"][0]["text"] == "Structures: none"
