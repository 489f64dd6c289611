"""Annotation records: validation of every line, conversations, ms-swift export, COCO import."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from scoring.answer import parse
from scoring.records import check_record, record_from_assessment, record_to_answer
from scoring.rubric import default_rubric
from trainer.coco import import_coco
from trainer.data import DatasetError, load_records, to_conversation, write_records
from trainer.export_swift import export_swift

RUBRIC = default_rubric()


def good(**overrides):
    record = {
        "image": "images/000001.png",
        "width": 512,
        "height": 400,
        "planes": ["GB"],
        "structures": [
            {"id": "gallbladder", "box": [100, 120, 300, 260]},
            {"id": "right_lobe", "box": [0, 20, 512, 300]},
        ],
        "deductions": [
            {"item": "ATT.mild", "box": [0, 300, 256, 400]},
            {"item": "GB.wall_unclear", "box": None},
        ],
        "score": 7.0,
        "grade": "Good",
        "meta": {"seed": 1},
    }
    record.update(overrides)
    return record


def test_a_good_record_validates_and_round_trips():
    record, problems = check_record(good(), RUBRIC)
    assert problems == []
    assert record.score == 7 and record.grade == "Good"
    assert check_record(record.to_dict(), RUBRIC) == (record, [])


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"planes": ["XX"]}, "unknown plane code 'XX'"),
        ({"score": 9}, "score 9 disagrees with the rubric's 7"),
        ({"grade": "Excellent"}, "grade 'Excellent' disagrees"),
        ({"structures": [{"id": "spleen", "box": [0, 0, 10, 10]}]}, "'spleen' is not a key"),
        ({"structures": [{"id": "gallbladder", "box": [0, 0, 600, 10]}]}, "outside the 512x400"),
        ({"structures": [{"id": "gallbladder", "box": [5, 5, 5, 9]}]}, "is empty"),
        (
            {"deductions": [{"item": "ATT.mild"}, {"item": "ATT.severe"}], "score": 2},
            "exclude each other",
        ),
        (
            {"deductions": [{"item": "GB.gallbladder.missing"}], "score": 7},
            "not displayed cannot have a box",
        ),
        ({"width": 0}, "width and height must be positive"),
    ],
)
def test_bad_records_say_what_is_wrong(overrides, problem):
    _, problems = check_record(good(**overrides), RUBRIC)
    assert any(problem in p for p in problems), problems


def test_the_loader_reports_every_bad_line_with_file_and_line(tmp_path):
    path = tmp_path / "annotations.jsonl"
    lines = [
        json.dumps(good()),
        "{not json",
        json.dumps(good(image="images/2.png", score=3)),
        "",
        json.dumps(good(image="images/3.png", planes=["NS", "GB"])),
        json.dumps(good()),  # duplicate image
    ]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError) as info:
        load_records(path, RUBRIC)
    problems = info.value.problems
    assert [p.split(": ")[0] for p in problems[:3]] == [f"{path}:2", f"{path}:3", f"{path}:5"]
    assert "not valid JSON" in problems[0]
    assert "score 3 disagrees" in problems[1]
    assert problems[-1] == f"{path}:6: image 'images/000001.png' already on line 1"


def test_the_loader_can_check_that_images_exist(tmp_path):
    path = tmp_path / "a.jsonl"
    write_records([good()], path)
    with pytest.raises(DatasetError, match=r"image file .images/000001\.png. not found"):
        load_records(path, RUBRIC, check_images=True)
    assert len(load_records(path, RUBRIC)) == 1


def test_a_conversation_is_the_prompt_and_the_rendered_answer(tmp_path):
    record, _ = check_record(good(), RUBRIC)
    conv = to_conversation(record, tmp_path, RUBRIC, "compact")
    assert conv.image == tmp_path / "images/000001.png"
    assert conv.prompt.startswith("Task:")
    assessment = parse(conv.answer, RUBRIC)
    assert assessment.errors == []
    assert assessment.answer == record_to_answer(record, RUBRIC)
    assert assessment.score == record.score
    # boxes went to the 0-1000 grid of the 512 px square the model reads a 512 x 400 image on
    # (scoring.model_input: centred across, at the top): x 100/512 -> 195, y 120/512 -> 234
    assert assessment.structures[0].box == (195, 234, 586, 508)


def test_an_assessment_goes_back_to_a_pixel_record():
    from scoring.answer import AnswerParser
    from scoring.model_input import Placement

    record, _ = check_record(good(), RUBRIC)
    parser = AnswerParser(RUBRIC)  # as the engine reads an answer: boxes off the square
    parser.box_map = Placement(512, 400).to_image
    parser.feed(to_conversation(record, ".", RUBRIC).answer)
    parser.finish()
    back = record_from_assessment(parser.assessment, image=record.image, width=512, height=400)
    again, problems = check_record(back, RUBRIC)
    assert problems == []
    for a, b in zip(again.structures, record.structures, strict=True):
        assert max(abs(p - q) for p, q in zip(a.box, b.box, strict=True)) <= 1


def test_the_swift_export_uses_messages_and_images(tmp_path):
    record, _ = check_record(good(), RUBRIC)
    out = tmp_path / "swift.jsonl"
    assert export_swift([record], tmp_path, out, RUBRIC) == 1
    sample = json.loads(out.read_text())
    assert [m["role"] for m in sample["messages"]] == ["system", "user", "assistant"]
    assert sample["messages"][1]["content"].startswith("<image>Task:")
    assert "<|object_ref_start|>Gallbladder<|object_ref_end|>" in sample["messages"][2]["content"]
    assert sample["images"] == [str((tmp_path / "images/000001.png").resolve())]


def write_coco(tmp_path: Path, rows: list[dict]) -> tuple[Path, Path]:
    coco = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 640, "height": 480},
            {"id": 2, "file_name": "b.png", "width": 640, "height": 480},
        ],
        "categories": [{"id": 7, "name": "Gallbladder"}, {"id": 8, "name": "right_lobe"}],
        "annotations": [
            {"image_id": 1, "category_id": 7, "bbox": [10.2, 20, 100, 50.5]},
            {"image_id": 1, "category_id": 8, "bbox": [0, 0, 640, 300]},
            {"image_id": 2, "category_id": 7, "bbox": [50, 60, 70, 80]},
        ],
    }
    coco_path = tmp_path / "boxes.json"
    coco_path.write_text(json.dumps(coco))
    csv_path = tmp_path / "labels.csv"
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["image", "planes", "deductions", "score"])
        writer.writeheader()
        writer.writerows(rows)
    return coco_path, csv_path


def test_coco_boxes_and_a_csv_become_records(tmp_path):
    coco_path, csv_path = write_coco(
        tmp_path,
        [
            {"image": "a.png", "planes": "GB", "deductions": "ATT.mild; GAIN.high", "score": "7"},
            {"image": "b.png", "planes": "GB", "deductions": "GB.right_lobe.missing", "score": ""},
        ],
    )
    a, b = import_coco(coco_path, csv_path, RUBRIC)
    assert a.structures[0].id == "gallbladder" and a.structures[0].box == (10, 20, 111, 71)
    assert a.item_ids == ["ATT.mild", "GAIN.high"] and a.score == 7
    assert b.score == 7 and b.grade == "Good"


def test_coco_import_reports_every_bad_row(tmp_path):
    coco_path, csv_path = write_coco(
        tmp_path,
        [
            {"image": "a.png", "planes": "GB", "deductions": "ATT.mild", "score": "10"},
            {"image": "zzz.png", "planes": "GB", "deductions": "", "score": ""},
            {"image": "b.png", "planes": "GB", "deductions": "NOPE.x", "score": ""},
        ],
    )
    with pytest.raises(DatasetError) as info:
        import_coco(coco_path, csv_path, RUBRIC)
    text = "\n".join(info.value.problems)
    assert "labels.csv:2: score 10 disagrees" in text
    assert "labels.csv:3: image 'zzz.png' is not in the COCO file" in text
    assert "labels.csv:4: unknown deduction item 'NOPE.x'" in text


@pytest.mark.slow
def test_the_commands_run(tmp_path):
    data = tmp_path / "annotations.jsonl"
    write_records([good()], data)

    def trainer(*args):
        return subprocess.run(
            [sys.executable, "-m", "trainer", *args], capture_output=True, text=True, check=False
        )

    ok = trainer("validate", "--data", str(data))
    assert ok.returncode == 0 and "1 records valid" in ok.stdout
    out = tmp_path / "swift.jsonl"
    assert trainer("export-swift", "--data", str(data), "--out", str(out)).returncode == 0
    assert len(out.read_text().splitlines()) == 1
    data.write_text(json.dumps(good(score=1)) + "\n")
    bad = trainer("validate", "--data", str(data))
    assert bad.returncode == 1 and f"{data}:1: score 1 disagrees" in bad.stdout
