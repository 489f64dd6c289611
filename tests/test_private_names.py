"""No module imports another module's private names (issue 35): what a module shares, it names
publicly; a leading underscore means "this file's own". The tests may reach in (they test the
parts), the code may not."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREES = ("scoring", "trainer", "abvlmq_web", "bench")


def private_imports(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    where = f"{path.relative_to(root)}:{node.lineno}"
                    found.append(f"{where} {node.module}.{alias.name}")
    return found


def test_no_module_imports_another_modules_private_names():
    problems = [p for tree in TREES for f in sorted((ROOT / tree).rglob("*.py"))
                if "migrations" not in f.parts for p in private_imports(f)]  # fmt: skip
    assert problems == []


def test_the_check_sees_a_private_import_even_inside_a_function(tmp_path):
    bad = tmp_path / "probe.py"
    bad.write_text("def f():\n    from scoring.imaging.sector import _dilate, inpaint\n")
    assert private_imports(bad, tmp_path) == ["probe.py:2 scoring.imaging.sector._dilate"]
