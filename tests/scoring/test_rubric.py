"""The default rubric holds the paper's planes and rules; broken rubric files say what is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scoring.rubric import (
    DEFAULT_RUBRIC_PATH,
    RubricError,
    load_rubric,
    rubric_from_data,
    rubric_from_text,
)

PAPER_PLANES = {"LLA", "LLI", "LPV", "HV", "RPV", "GB", "CBD", "RKL", "PAN", "SPL", "LKL"}


@pytest.fixture(scope="module")
def rubric():
    return load_rubric()


@pytest.fixture
def default_data():
    return yaml.safe_load(DEFAULT_RUBRIC_PATH.read_text())


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_it_holds_the_eleven_standard_planes_and_non_standard(rubric):
    assert set(rubric.standard_planes) == PAPER_PLANES
    assert set(rubric.planes) == PAPER_PLANES | {"NS"}
    assert not rubric.planes["NS"].standard


def test_every_key_structure_costs_three_when_missing_and_two_when_incomplete(rubric):
    for code in rubric.standard_planes:
        plane = rubric.planes[code]
        assert plane.structures, code
        for sid in plane.structures:
            assert rubric.structure_item(code, sid, "missing").points == 3
            assert rubric.structure_item(code, sid, "incomplete").points == 2


def test_attenuation_is_graded_by_share_of_the_sector(rubric):
    assert [rubric.items[i].points for i in ("ATT.mild", "ATT.moderate", "ATT.severe")] == [
        2,
        4,
        6,
    ]
    assert {rubric.items[i].group for i in ("ATT.mild", "ATT.moderate", "ATT.severe")} == {
        "attenuation"
    }
    for family in ("GAIN.high", "GAIN.low", "DEPTH.wrong", "FOCUS.misplaced", "NOISE.artefact"):
        assert family in rubric.items


def test_every_item_has_an_actionable_teaching_tip(rubric):
    for item in rubric.items.values():
        assert len(item.tip.split()) >= 6, item.id


def test_the_version_is_a_content_hash_independent_of_comments_and_layout(tmp_path, rubric):
    text = DEFAULT_RUBRIC_PATH.read_text()
    reformatted = "# a new comment\n" + yaml.safe_dump(yaml.safe_load(text), sort_keys=True)
    assert rubric_from_text(reformatted).version == rubric.version
    changed = text.replace("points: 6", "points: 7")
    assert rubric_from_text(changed).version != rubric.version
    assert rubric.version.startswith("r-") and len(rubric.version) == 14


def test_items_apply_only_to_their_planes_and_exclusive_groups_hold(rubric):
    assert rubric.check_deductions(["GB"], ["GB.gallbladder.missing", "ATT.mild"]) == []
    assert rubric.check_deductions(["GB"], ["LKL.left_kidney.missing"]) == [
        "deduction 'LKL.left_kidney.missing' does not apply to plane(s) GB"
    ]
    assert "exclude each other" in rubric.check_deductions(["GB"], ["ATT.mild", "ATT.severe"])[0]
    assert (
        "exclude each other"
        in rubric.check_deductions(["GB"], ["GB.gallbladder.missing", "GB.gallbladder.incomplete"])[
            0
        ]
    )
    assert rubric.check_deductions(["GB", "RKL"], ["RKL.right_kidney.incomplete"]) == []
    assert rubric.check_deductions(["NS"], ["ATT.mild"]) != []
    assert rubric.check_planes(["NS", "GB"]) == [
        "a non-standard label cannot be combined with another plane"
    ]


def test_structure_names_resolve_from_display_names_and_ids(rubric):
    assert rubric.structure_id("Gallbladder") == "gallbladder"
    assert rubric.structure_id("  inferior VENA cava ") == "ivc"
    assert rubric.structure_id("right_kidney") == "right_kidney"
    assert rubric.structure_id("Appendix") is None


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["planes"][5]["items"][0].update(points="three"),
            "planes[5] (GB).items[0] (item GB.wall_unclear): "
            "'points' must be a number, got 'three'",
        ),
        (
            lambda d: d["planes"][5]["items"][0].update(points=-1),
            "(item GB.wall_unclear): 'points' must be greater than 0",
        ),
        (
            lambda d: d["planes"][0]["structures"][1].update(id="aortta"),
            "planes[0] (LLA).structures[1]: structure 'aortta' is not defined",
        ),
        (
            lambda d: d["global_items"][0].pop("tip"),
            "global_items[0] (item ATT.mild): 'tip' is missing",
        ),
        (
            lambda d: d["planes"].append(d["planes"][0]),
            "planes[12]: plane code 'LLA' defined twice",
        ),
        (lambda d: d["grades"].reverse(), "grades[0]: the lowest band must start at 0"),
        (
            lambda d: d["planes"][5]["items"][0].update(id="LKL.wall"),
            "a plane item's id must start with 'GB.'",
        ),
        (
            lambda d: d["global_items"].append(dict(d["global_items"][0])),
            "item id 'ATT.mild' defined twice",
        ),
        (lambda d: d.update(colour="blue"), "top level: unknown key(s) 'colour'"),
    ],
)
def test_a_broken_rubric_names_the_file_the_item_and_the_fault(
    tmp_path, default_data, mutate, expected
):
    mutate(default_data)
    path = write(tmp_path, default_data)
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    message = str(info.value)
    assert message.startswith(str(path) + ": ")
    assert expected in message


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["planes"][0].update(code=["LLA"]),
            "planes[0]: 'code' must be 1-8 capitals/digits, got ['LLA']",
        ),
        (
            lambda d: d["planes"][0]["structures"][0].update(id={"a": 1}),
            "planes[0] (LLA).structures[0]: structure {'a': 1} is not defined under 'structures'",
        ),
    ],
)
def test_a_list_or_mapping_where_a_name_belongs_is_a_rubric_error(default_data, mutate, expected):
    mutate(default_data)
    with pytest.raises(RubricError) as info:
        rubric_from_data(default_data, source="r.yaml")
    assert str(info.value) == "r.yaml: " + expected


def test_invalid_yaml_reports_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nplanes: [\n  - code: GB\n")
    with pytest.raises(RubricError, match=r"bad\.yaml: line \d+, column \d+: not valid YAML"):
        load_rubric(path)


def test_a_missing_file_is_a_rubric_error(tmp_path):
    with pytest.raises(RubricError, match="cannot be read"):
        load_rubric(tmp_path / "nope.yaml")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scoring", *args], capture_output=True, text=True, check=False
    )


def test_the_cli_prints_the_rubric_as_a_table():
    result = _cli("rubric")
    assert result.returncode == 0
    assert "GB    Gallbladder longitudinal" in result.stdout
    assert "GB.gallbladder.missing" in result.stdout and "-3" in result.stdout
    assert "ATT.severe" in result.stdout


def test_the_cli_check_exits_one_with_the_error(tmp_path, default_data):
    ok = _cli("rubric", "--check", str(DEFAULT_RUBRIC_PATH))
    assert ok.returncode == 0 and ok.stdout.startswith("ok: ")
    default_data["planes"][5]["items"][0]["points"] = "lots"
    bad = _cli("rubric", "--check", str(write(tmp_path, default_data)))
    assert bad.returncode == 1
    assert "GB.wall_unclear" in bad.stderr and "'points' must be a number" in bad.stderr
