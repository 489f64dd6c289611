"""The documentation holds together: the README stays short, every page and picture under docs/
is linked from somewhere, every relative link points at something that exists, and
docs/settings.md lists every environment variable the code reads."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"

# [text](target) and ![alt](target); an optional "title" after the target is dropped
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def _relative_links(page: Path) -> list[tuple[str, Path]]:
    """(target as written, resolved path) of each relative link in ``page``."""
    links = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
            continue  # http(s), mailto: ...; an anchor in the same page
        path = unquote(target.split("#", 1)[0].split("?", 1)[0])
        links.append((target, (page.parent / path).resolve()))
    return links


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 160, (
        f"README.md has {len(lines)} lines (at most 160): move detail to docs/"
    )


def test_relative_links_point_at_files_that_exist():
    broken = [
        f"{page.relative_to(ROOT)}: {target}"
        for page in _pages()
        for target, path in _relative_links(page)
        if not path.exists()
    ]
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_every_doc_and_picture_is_linked():
    linked = {path for page in _pages() for _, path in _relative_links(page)}
    files = sorted(p for p in DOCS.rglob("*") if p.suffix in (".md", ".png") and p.is_file())
    assert files
    orphans = [str(p.relative_to(ROOT)) for p in files if p.resolve() not in linked]
    assert not orphans, "not linked from README.md or any page under docs/:\n" + "\n".join(orphans)


# --------------------------------------------------------------------------- settings

# env_str("NAME", ...) (and env_bool, env_int, env_list), os.environ.get("NAME"),
# os.environ.setdefault("NAME", ...), os.environ["NAME"], os.getenv("NAME")
_READERS = (
    r"\benv_\w+\(",
    r"os\.environ\.get\(",
    r"os\.environ\.setdefault\(",
    r"os\.environ\[",
    r"os\.getenv\(",
)
ENV_READ = re.compile("(?:" + "|".join(_READERS) + r""")\s*["']([A-Z][A-Z0-9_]*)["']""")
# NAME_ENV = "ABVLMQ_X" and then os.environ.get(NAME_ENV): the constant's value is the name
ENV_CONSTANT = re.compile(r"""^\s*\w*ENV\w*\s*=\s*["']([A-Z][A-Z0-9_]*)["']""", re.MULTILINE)


def _sources() -> list[Path]:
    files = {ROOT / "abvlmq_web" / "settings.py", ROOT / "abvlmq_web" / "env.py"}
    for folder in ("scoring", "trainer", "abvlmq_web"):
        files.update((ROOT / folder).rglob("*.py"))
    return sorted(files)


def env_names_read() -> dict[str, list[str]]:
    """Each environment variable the code reads -> the files that read it."""
    names: dict[str, list[str]] = {}
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        found = set(ENV_READ.findall(text))
        found |= set(ENV_CONSTANT.findall(text))
        for name in found:
            names.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return names


def test_settings_page_lists_every_environment_variable():
    read = env_names_read()
    # the readers are found at all (a regex that matches nothing would pass vacuously)
    assert {"DJANGO_SECRET_KEY", "ABVLMQ_OCR", "ABVLMQ_INTAKE_CONCURRENCY"} <= set(read)
    assert "ABVLMQ_TEXT_DETECTOR_MODEL" in read  # through textfind's MODEL_ENV constant
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", (DOCS / "settings.md").read_text()))
    missing = sorted(name for name in read if name not in listed)
    assert not missing, "read by the code, missing from docs/settings.md:\n" + "\n".join(
        f"{name} ({', '.join(read[name])})" for name in missing
    )
