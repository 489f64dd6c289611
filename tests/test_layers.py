"""Inside abvlmq_web the arrows point one way (docs/architecture.md).

Two tiers. The *domain* modules of each app (models, services, selectors, tasks, ...) import only
the apps below them in APP_ORDER, core at the bottom. The *entry* modules (views, apis, urls,
forms, filters, templatetags, consumers, admin, management commands) are the top of every app:
a page may read from any app's domain modules, but never imports another app's entry modules
(what pages share lives in core). Imports inside functions count like any other, and one
between apps needs a line in ALLOWED_LOCAL saying why. No module imports itself back through
others (no loop), within an app or across apps.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "abvlmq_web"

# Bottom first: each app's domain modules may import only the apps before it.
APP_ORDER = [
    "core",
    "accounts",
    "sso",
    "notifications",
    "curriculum",
    "cine",
    "scans",
    "operations",
    "review",
    "progress",
    "lti",
    "competency",
    "receiving",
    "administration",
    "annotation",
    "datasets",
    "live",
]
ENTRY_FILES = {
    "views",
    "apis",
    "urls",
    "api_urls",
    "forms",
    "filters",
    "consumers",
    "routing",
    "context_processors",
    "admin",
}
ENTRY_FOLDERS = {"templatetags", "management"}
# Project modules anything may import (they import no app).
FOUNDATION = {"abvlmq_web", "abvlmq_web.env", "abvlmq_web.throttling", "abvlmq_web.celery"}
# Project modules at the very top (they wire the apps together; nothing imports them).
WIRING = {"abvlmq_web.urls", "abvlmq_web.asgi", "abvlmq_web.settings", "abvlmq_web.test_settings"}

# (importing module, imported module): why the import sits inside a function.
ALLOWED_LOCAL: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p for p in (ROOT / PACKAGE).rglob("*.py") if "migrations" not in p.parts
    }


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module of ours that ``name`` (a module, or a name inside one) is, else None."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    return _imports_in(path.read_text(), str(path))


def _imports_in(source: str, path: str) -> list[tuple[str, int, bool]]:
    """(module of ours, line, inside a function) for every import in the source."""
    tree = ast.parse(source, filename=path)
    local: set[int] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            local.update(id(n) for n in ast.walk(fn) if n is not fn)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target is not None:
                found.append((target, node.lineno, id(node) in local))
    return found


def _app(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in APP_ORDER) else None


def _is_entry(module: str) -> bool:
    parts = module.split(".")[2:]
    return bool(parts) and (parts[0] in ENTRY_FILES or parts[0] in ENTRY_FOLDERS)


def _against_the_order(source: str, target: str) -> str | None:
    """Why importing ``target`` from ``source`` goes against the layers; None when it does not."""
    if target in FOUNDATION:
        return None
    if target in WIRING:
        return None if source in WIRING else "imports the project's wiring"
    src_app, dst_app = _app(source), _app(target)
    if src_app is None:  # a project module
        if source in FOUNDATION:
            return "a foundation module imports an app"
        return None
    assert src_app in APP_ORDER and dst_app in APP_ORDER, (source, target)
    if src_app == dst_app:
        return None
    if _is_entry(target):
        return f"imports another app's entry module ({dst_app})"
    if _is_entry(source):
        return None  # pages read from any app's domain modules
    if APP_ORDER.index(dst_app) > APP_ORDER.index(src_app):
        return f"{src_app} is below {dst_app}"
    return None


def test_every_app_has_its_place_in_the_order():
    apps = {p.name for p in (ROOT / PACKAGE).iterdir() if (p / "apps.py").exists()}
    assert apps == set(APP_ORDER)


def test_imports_follow_the_layers():
    offenders = []
    for module, path in MODULES.items():
        for target, line, _ in _imports(path):
            why = _against_the_order(module, target)
            if why:
                offenders.append(f"{path.relative_to(ROOT)}:{line} {target}: {why}")
    assert offenders == []


def test_no_import_between_apps_hides_inside_a_function():
    offenders = []
    for module, path in MODULES.items():
        for target, line, local in _imports(path):
            if not local or _app(module) == _app(target) or (module, target) in ALLOWED_LOCAL:
                continue
            offenders.append(f"{path.relative_to(ROOT)}:{line} {target}")
    assert offenders == []


def test_no_module_imports_itself_back_through_others():
    graph = {m: {t for t, _, _ in _imports(p) if t != m} for m, p in MODULES.items()}
    # Importing a.b.c runs the packages a and a.b first: not an edge back to a loop of ours.
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    loops, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                loops.append(" -> ".join([*trail[trail.index(nxt) :], node, nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert loops == []


def test_the_checker_sees_what_it_must():
    """The rules themselves, on made-up names, so a broken walk cannot pass by finding nothing."""
    assert _against_the_order("abvlmq_web.scans.services", "abvlmq_web.review.selectors")
    assert _against_the_order("abvlmq_web.review.services", "abvlmq_web.scans.models") is None
    assert _against_the_order("abvlmq_web.scans.views", "abvlmq_web.review.selectors") is None
    assert _against_the_order("abvlmq_web.progress.apis", "abvlmq_web.review.apis")
    assert _against_the_order("abvlmq_web.core.rubrics", "abvlmq_web.accounts.models")
    assert _against_the_order("abvlmq_web.urls", "abvlmq_web.scans.apis") is None
    source = (
        "from abvlmq_web.scans.models import Scan\n"
        "def f():\n"
        "    import abvlmq_web.review.selectors\n"
        "    from abvlmq_web.progress.selectors import cohort\n"
    )
    assert _imports_in(source, "<test>") == [
        ("abvlmq_web.scans.models", 1, False),
        ("abvlmq_web.review.selectors", 3, True),
        ("abvlmq_web.progress.selectors.cohort", 4, True),
    ]
