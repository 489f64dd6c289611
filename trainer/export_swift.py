"""Export annotations as an ms-swift conversation data set.

Each line is ms-swift's standard ``messages`` format with an ``images`` list: a system turn,
the user turn (``<image>`` placeholder then the hierarchical prompt) and the assistant turn (the
rendered answer, with Qwen2-VL grounding tokens and boxes already on the 0-1000 grid), so
``swift sft --model Qwen/Qwen2-VL-2B-Instruct --dataset swift.jsonl`` trains on the same
samples as ``python -m trainer fit``.

Command: ``python -m trainer export-swift --data annotations.jsonl --out swift.jsonl``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from scoring.records import Record
from scoring.rubric import Rubric, default_rubric
from trainer.data import DatasetError, load_records, to_conversation

IMAGE_TAG = "<image>"


def swift_sample(
    record: Record, root: Path, rubric: Rubric, detail: str = "full"
) -> dict[str, Any]:
    conv = to_conversation(record, root, rubric, detail)  # type: ignore[arg-type]
    return {
        "messages": [
            {"role": "system", "content": conv.system},
            {"role": "user", "content": IMAGE_TAG + conv.prompt},
            {"role": "assistant", "content": conv.answer},
        ],
        "images": [str(conv.image.resolve())],
    }


def export_swift(
    records: Iterable[Record],
    root: str | Path,
    out: str | Path,
    rubric: Rubric | None = None,
    detail: str = "full",
) -> int:
    rubric = rubric or default_rubric()
    n = 0
    with open(out, "w", encoding="utf-8") as fh:
        for record in records:
            sample = swift_sample(record, Path(root), rubric, detail)
            fh.write(json.dumps(sample, ensure_ascii=False) + "\n")
            n += 1
    return n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Write annotations as an ms-swift messages/images JSONL data set."
    parser.add_argument("--data", required=True, type=Path, help="annotations.jsonl")
    parser.add_argument("--out", required=True, type=Path, help="output JSONL")
    parser.add_argument("--detail", choices=["full", "compact"], default="full")


def run(args: argparse.Namespace) -> int:
    try:
        records = load_records(args.data)
    except DatasetError as exc:
        print(f"error: {exc}")
        return 1
    n = export_swift(records, args.data.parent, args.out, detail=args.detail)
    print(f"wrote {n} samples to {args.out}")
    return 0
