"""Commit the better model: ``python -m trainer promote --candidate RUN/final --candidate-eval
EVAL --current models/demo``.

The candidate replaces the current demo model only when it measures better on the same test
phantoms: more targets met, then the mean of plane label accuracy, detection F1 and grade
accuracy. Its evaluation (and the fresh-seed one, when given) is copied in as ``eval/`` (and
``eval-fresh/``), and ``abvlmq.json`` names the recipe that made it. Either way the decision
and both sets of figures are printed, so the run's log says why.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainer import compare


def merit(report: Mapping[str, Any]) -> tuple[int, float]:
    met = sum(t["met"] for t in compare.targets(report))
    figures = [
        report["planes"]["label_accuracy"] or 0.0,
        report["detection"]["f1"] or 0.0,
        report["grades"]["accuracy"] or 0.0,
    ]
    return met, sum(figures) / len(figures)


def promote(
    candidate: Path,
    candidate_eval: Path,
    current: Path,
    *,
    fresh_eval: Path | None = None,
    recipe: str = "trainer/configs/demo_tiny.yaml",
) -> bool:
    new = json.loads((candidate_eval / "report.json").read_text("utf-8"))
    old_path = current / "eval" / "report.json"
    old = json.loads(old_path.read_text("utf-8")) if old_path.is_file() else None
    better = old is None or merit(new) > merit(old)
    print(f"candidate {candidate}: targets met, mean figure = {merit(new)}")
    if old is not None:
        print(f"current {current}: targets met, mean figure = {merit(old)}")
    if not better:
        print("kept the current model: the candidate does not measure better")
        return False
    staging = current.with_name(current.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(candidate, staging, ignore=shutil.ignore_patterns("eval", "eval-fresh"))
    shutil.copytree(candidate_eval, staging / "eval", ignore=shutil.ignore_patterns("*.pt"))
    if fresh_eval is not None:
        shutil.copytree(fresh_eval, staging / "eval-fresh")
    info_path = staging / "abvlmq.json"
    info = json.loads(info_path.read_text("utf-8"))
    info["recipe"] = recipe
    info_path.write_text(json.dumps(info, indent=2) + "\n", "utf-8")
    shutil.rmtree(current, ignore_errors=True)
    staging.rename(current)
    print(f"promoted {candidate} to {current}")
    return True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--candidate", required=True, type=Path)
    parser.add_argument("--candidate-eval", required=True, type=Path)
    parser.add_argument("--current", required=True, type=Path)
    parser.add_argument("--fresh-eval", type=Path)
    parser.add_argument("--recipe", default="trainer/configs/demo_tiny.yaml")


def run(args: argparse.Namespace) -> int:
    promote(
        args.candidate,
        args.candidate_eval,
        args.current,
        fresh_eval=args.fresh_eval,
        recipe=args.recipe,
    )
    return 0
