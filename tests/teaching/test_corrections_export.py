"""Corrections export as the trainer's annotation JSONL, valid by scoring.records; audited."""

from __future__ import annotations

import json

from abvlmq_web.competency.models import AuditLog
from scoring.records import check_record
from scoring.rubric import default_rubric
from tests.teaching.conftest import api, correct, make_analysis


def test_corrections_export_as_valid_annotation_records(resident, instructor, cohort):
    a = make_analysis(resident, items=["ATT.mild"])
    correct(a, instructor, items=[], note="fine")  # history, not exported
    correct(a, instructor, items=["GB.wall_unclear"])
    make_analysis(resident, score=7)  # never reviewed: not exported
    response = api(instructor).get(f"/api/review/corrections.jsonl?cohort={cohort.pk}")
    assert response.status_code == 200
    lines = response.content.decode().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    parsed, problems = check_record(record, default_rubric())
    assert problems == []
    assert parsed.item_ids == ["GB.wall_unclear"] and parsed.score == 9.0
    assert record["image"].startswith("scans/") and (record["width"], record["height"]) == (80, 60)
    assert record["structures"][0] == {"id": "gallbladder", "box": [24, 25, 51, 37]}  # pixels
    assert record["meta"]["source"] == "instructor_correction"
    assert record["meta"]["ai_model_id"] == "tiny@abc123"
    log = AuditLog.objects.get(action="export.corrections_jsonl")
    assert (log.actor, log.cohort, log.details) == (instructor, cohort, {"records": 1})


def test_outsiders_export_nothing_of_the_cohort(resident, instructor, people, cohort):
    correct(make_analysis(resident, items=["ATT.mild"]), instructor)
    olga = api(people["other_instructor"])
    assert olga.get("/api/review/corrections.jsonl").content == b""
    assert olga.get(f"/api/review/corrections.jsonl?cohort={cohort.pk}").status_code == 404
    assert api(people["resident"]).get("/api/review/corrections.jsonl").status_code == 404
