"""The arrows point one way: abvlmq_web -> scoring <- trainer (see docs/architecture.md)."""

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


def test_the_web_project_never_imports_trainer():
    offenders = {p: n & {"trainer"} for p, n in imported_modules("abvlmq_web").items()}
    assert {p: n for p, n in offenders.items() if n} == {}


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
