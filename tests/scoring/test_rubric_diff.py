"""The plain-language summary of a rubric's changes (scoring.rubric_diff)."""

from __future__ import annotations

import yaml

from scoring.rubric import DEFAULT_RUBRIC_PATH, default_rubric, rubric_from_data
from scoring.rubric_diff import rubric_changes


def _changed(edit) -> list[str]:
    data = yaml.safe_load(DEFAULT_RUBRIC_PATH.read_text())
    edit(data)
    return rubric_changes(default_rubric(), rubric_from_data(data))


def test_a_rubric_has_no_changes_against_itself():
    assert rubric_changes(default_rubric(), default_rubric()) == []


def test_a_moved_grade_band_is_named_with_both_bounds():
    def edit(data):
        data["grades"][-1]["min"] = 8.5

    (line,) = _changed(edit)
    assert line.startswith("grade band ") and line.endswith("now starts at 8.5 (was 8)")


def test_an_item_dropped_is_removed_and_the_other_way_added_with_its_points():
    def edit(data):
        data["global_items"] = [i for i in data["global_items"] if i["id"] != "ATT.mild"]

    data = yaml.safe_load(DEFAULT_RUBRIC_PATH.read_text())
    edit(data)
    without = rubric_from_data(data)
    assert rubric_changes(default_rubric(), without) == ["item ATT.mild removed"]
    assert rubric_changes(without, default_rubric()) == ["item ATT.mild added (-2)"]


def test_reworded_tips_and_conditions_are_named_not_quoted():
    def edit(data):
        data["global_items"][0]["tip"] = "Something else."
        data["global_items"][0]["condition"] = "Something other."

    assert _changed(edit) == [
        "item ATT.mild: condition reworded",
        "item ATT.mild: teaching tip reworded",
    ]
