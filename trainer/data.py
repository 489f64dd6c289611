"""Annotation data sets: load and validate JSONL, build training conversations.

``load_records`` checks every line against the rubric and reports every bad line (file, line
number, what is wrong) in one :class:`DatasetError`, instead of stopping at the first.
``to_conversation`` turns a record into the hierarchical prompt plus the rendered answer, the
training sample of the paper. The record format itself lives in :mod:`scoring.records`, since
the web platform writes it too (instructor corrections).

Command: ``python -m trainer validate --data annotations.jsonl``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoring.answer import render
from scoring.prompt import SYSTEM as SYSTEM_PROMPT
from scoring.prompt import Detail, build_prompt
from scoring.records import Record, check_record, record_to_answer
from scoring.rubric import Rubric, default_rubric


class DatasetError(ValueError):
    """Bad lines of a data set; ``problems`` holds one ``file:line: what`` string per fault."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} problem(s) in the data set:\n{shown}{more}")


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any, str | None]]:
    """``(line number, parsed object or None, error or None)`` for each non-empty line."""
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line), None
            except json.JSONDecodeError as exc:
                yield n, None, f"not valid JSON ({exc.msg} at column {exc.colno})"


def load_records(
    path: str | Path, rubric: Rubric | None = None, *, check_images: bool = False
) -> list[Record]:
    """Every record of a JSONL file, validated; raises :class:`DatasetError` listing all faults.

    With ``check_images`` each image path (relative to the file's folder) must exist.
    """
    rubric = rubric or default_rubric()
    path = Path(path)
    records: list[Record] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for n, data, error in iter_jsonl(path):
        where = f"{path}:{n}"
        if error:
            problems.append(f"{where}: {error}")
            continue
        record, faults = check_record(data, rubric)
        problems += [f"{where}: {f}" for f in faults]
        if record is None or faults:
            continue
        if record.image in seen:
            problems.append(f"{where}: image {record.image!r} already on line {seen[record.image]}")
            continue
        seen[record.image] = n
        if check_images and not (path.parent / record.image).is_file():
            problems.append(f"{where}: image file {record.image!r} not found")
            continue
        records.append(record)
    if problems:
        raise DatasetError(problems)
    return records


def write_records(records: list[Record] | list[dict], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r.to_dict() if isinstance(r, Record) else r) + "\n")


@dataclass(frozen=True)
class Conversation:
    """One training sample: the image, the prompt text and the target answer text."""

    image: Path
    prompt: str
    answer: str
    system: str = SYSTEM_PROMPT


def to_conversation(
    record: Record, root: str | Path, rubric: Rubric | None = None, detail: Detail = "full"
) -> Conversation:
    rubric = rubric or default_rubric()
    answer = render(record_to_answer(record, rubric), rubric)
    return Conversation(Path(root) / record.image, build_prompt(rubric, detail), answer)


# ----------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Validate an annotation JSONL file against the rubric."
    parser.add_argument("--data", required=True, type=Path, help="annotations.jsonl")
    parser.add_argument("--rubric", type=Path, help="rubric YAML (default: the built-in one)")
    parser.add_argument("--check-images", action="store_true", help="also check image files")


def run(args: argparse.Namespace) -> int:
    from scoring.rubric import load_rubric

    rubric = load_rubric(args.rubric) if args.rubric else default_rubric()
    try:
        records = load_records(args.data, rubric, check_images=args.check_images)
    except DatasetError as exc:
        print(f"error: {exc}")
        return 1
    except OSError as exc:
        print(f"error: cannot read {args.data}: {exc.strerror}")
        return 1
    print(f"ok: {args.data}: {len(records)} records valid under rubric {rubric.version}")
    return 0
