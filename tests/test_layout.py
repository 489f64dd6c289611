"""The arrows point one way: abvlmq_web -> scoring <- trainer (see docs/architecture.md), with one
named exception: the data engine (abvlmq_web/datasets) reads the trainer's light modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_scoring_imports_neither_django_nor_trainer_nor_the_web_project():
    offenders = {
        path: names & {"django", "rest_framework", "channels", "celery", "trainer", "abvlmq_web"}
        for path, names in imported_modules("scoring").items()
    }
    assert {p: n for p, n in offenders.items() if n} == {}


def test_trainer_never_imports_the_web_project():
    offenders = {p: n & {"abvlmq_web", "django"} for p, n in imported_modules("trainer").items()}
    assert {p: n for p, n in offenders.items() if n} == {}


# The data engine (issue 33) drives the trainer from the application: its datasets app, and only
# it, reads these of the trainer's modules (the split and export, a recipe's check, the verdict
# of better or worse), none of which loads torch; the training itself runs as `python -m trainer`
# in a child process of the training worker.
TRAINER_FOR_THE_WEB = {
    "trainer.datasets",
    "trainer.config",
    "trainer.fit.settings",
    "trainer.promote",
}


def _trainer_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "trainer")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.update({node.module} if node.module.split(".")[0] == "trainer" else set())
    return found


def test_the_web_project_imports_trainer_only_in_the_data_engine_and_only_its_light_modules():
    offenders = {}
    for path in (ROOT / "abvlmq_web").rglob("*.py"):
        names = _trainer_imports(path)
        rel = path.relative_to(ROOT).as_posix()
        allowed = TRAINER_FOR_THE_WEB if rel.startswith("abvlmq_web/datasets/") else set()
        if names - allowed:
            offenders[rel] = names - allowed
    assert offenders == {}


def test_the_trainer_modules_the_web_reads_load_no_torch():
    code = (
        "import sys\n"
        f"import {', '.join(sorted(TRAINER_FOR_THE_WEB))}\n"
        "heavy = ('torch', 'transformers', 'peft', 'django')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == ""


def test_the_pure_core_does_not_import_torch():
    code = (
        "import sys\n"
        "import scoring.rubric, scoring.prompt, scoring.answer, scoring.boxes, scoring.events\n"
        "heavy = ('torch', 'transformers', 'django', 'numpy')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == ""
