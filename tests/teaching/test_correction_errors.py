"""A correction the rubric refuses is explained in a reviewer's words: structure names, the
rubric's wording of each item and the plane's name, never list indexes or bare ids."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from scoring.rubric import default_rubric
from tests.teaching.conftest import GB_BOXES, api, correct

RUBRIC = default_rubric()


def _post(analysis, instructor, *, planes, structures, items):
    body = {
        "planes": planes,
        "structures": structures,
        "deductions": [{"item": i, "reason": ""} for i in items],
    }
    response = api(instructor).post(
        f"/api/analyses/{analysis.pk}/corrections/", body, format="json"
    )
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert not any("structures[" in e or "deductions[" in e for e in errors), errors
    return errors


def test_a_box_left_from_the_old_plane_is_named(analysis, instructor):
    errors = _post(analysis, instructor, planes=["LPV"], structures=GB_BOXES, items=[])
    lpv = RUBRIC.planes["LPV"].name
    assert f"The Gallbladder box: Gallbladder is not a key structure of {lpv} (LPV); " in errors[0]
    assert "delete the box or change the plane" in errors[0]
    # the right lobe's box too, and LPV's own key structures, neither boxed nor deducted
    assert len(errors) == 4
    assert any(e.startswith("The Left liver lobe is a key structure of") for e in errors)
    assert any("draw its box, or add" in e for e in errors)


def test_an_item_of_another_plane_is_given_in_the_rubrics_words(analysis, instructor):
    errors = _post(
        analysis, instructor, planes=["GB"], structures=GB_BOXES, items=["LPV.vessel_lumen_unclear"]
    )
    assert errors == [
        "“Portal vein lumen unclear” does not apply to "
        f"{RUBRIC.planes['GB'].name} (GB); remove it or change the plane."
    ]


def test_items_that_exclude_each_other_and_a_box_outside_the_image(analysis, instructor):
    boxes = [{"id": "gallbladder", "box": [500, 500, 400, 600]}]
    errors = _post(
        analysis, instructor, planes=["GB"], structures=boxes, items=["ATT.mild", "ATT.severe"]
    )
    mild, severe = RUBRIC.items["ATT.mild"].condition, RUBRIC.items["ATT.severe"].condition
    assert "The Gallbladder box is empty or outside the image; redraw it." in errors
    assert f"“{mild}” and “{severe}” exclude each other; keep one." in errors


def test_no_plane_at_all(analysis, instructor):
    with pytest.raises(ValidationError) as exc:
        correct(analysis, instructor, planes=[], structures=[], items=[])
    assert "Choose a plane." in exc.value.messages
