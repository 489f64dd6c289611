"""Import labels from the formats labelling tools write: COCO JSON boxes plus a CSV.

The COCO file gives images (``file_name``, ``width``, ``height``) and boxes (``bbox`` as
``[x, y, w, h]``, category names matched to rubric structures by display name or id). The CSV
(columns ``image``, ``planes``, ``deductions``, optional ``score``; lists separated by ``;``)
gives what COCO cannot: plane labels and deduction items. The score is computed by the rubric;
a stated score that disagrees is reported. Every problem is reported, not only the first.

Command:
``python -m trainer import-coco --coco boxes.json --csv labels.csv --out annotations.jsonl``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path
from typing import Any

from scoring.records import Record, check_record
from scoring.rubric import Rubric, default_rubric
from trainer.data import DatasetError, write_records


def _split(cell: str | None) -> list[str]:
    return [p.strip() for p in (cell or "").replace(",", ";").split(";") if p.strip()]


def import_coco(
    coco_path: str | Path, csv_path: str | Path, rubric: Rubric | None = None
) -> list[Record]:
    rubric = rubric or default_rubric()
    problems: list[str] = []
    coco = json.loads(Path(coco_path).read_text(encoding="utf-8"))
    categories: dict[int, str | None] = {}
    for cat in coco.get("categories", []):
        sid = rubric.structure_id(str(cat.get("name", "")))
        if sid is None:
            problems.append(f"{coco_path}: category {cat.get('name')!r} is no rubric structure")
        categories[cat["id"]] = sid
    images = {img["id"]: img for img in coco.get("images", [])}
    boxes: dict[Any, list[dict[str, Any]]] = {i: [] for i in images}
    for n, ann in enumerate(coco.get("annotations", [])):
        if ann.get("image_id") not in images:
            problems.append(f"{coco_path}: annotations[{n}] refers to unknown image")
            continue
        sid = categories.get(ann.get("category_id"))
        if sid is None:
            continue
        x, y, w, h = ann["bbox"]
        box = [math.floor(x), math.floor(y), math.ceil(x + w), math.ceil(y + h)]
        boxes[ann["image_id"]].append({"id": sid, "box": box})
    by_name = {img["file_name"]: img for img in images.values()}

    records: list[Record] = []
    with open(csv_path, newline="", encoding="utf-8") as fh:
        for line_no, row in enumerate(csv.DictReader(fh), start=2):
            where = f"{csv_path}:{line_no}"
            img = by_name.get((row.get("image") or "").strip())
            if img is None:
                problems.append(f"{where}: image {row.get('image')!r} is not in the COCO file")
                continue
            items = _split(row.get("deductions"))
            stated = (row.get("score") or "").strip()
            known = [i for i in items if i in rubric.items]
            data = {
                "image": img["file_name"],
                "width": img["width"],
                "height": img["height"],
                "planes": _split(row.get("planes")),
                "structures": boxes[img["id"]],
                "deductions": [{"item": i, "box": None} for i in items],
                "score": float(stated) if stated else rubric.score(known),
            }
            record, faults = check_record(data, rubric)
            problems += [f"{where}: {f}" for f in faults]
            if record is not None and not faults:
                records.append(record)
    if problems:
        raise DatasetError(problems)
    return records


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Build annotations.jsonl from COCO boxes and a CSV of planes/deductions."
    parser.add_argument("--coco", required=True, type=Path)
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)


def run(args: argparse.Namespace) -> int:
    try:
        records = import_coco(args.coco, args.csv)
    except DatasetError as exc:
        print(f"error: {exc}")
        return 1
    write_records(records, args.out)
    print(f"wrote {len(records)} records to {args.out}")
    return 0
