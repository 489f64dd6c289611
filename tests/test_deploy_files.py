"""The deployment files parse and hang together: the Dockerfile (read with the official
BuildKit parser, checked against a few hadolint-style rules) and docker/compose.yaml (its
structure, the settings it passes, the queue its worker consumes). `docker compose config`
runs too where Docker's compose plugin is installed. Also: the models and the migrations are
in step (`makemigrations --check`)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"
SETTINGS = (ROOT / "abvlmq_web" / "settings.py").read_text()


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_problems(path: Path, context: Path) -> list[str]:
    """Rules in the spirit of hadolint (not on Debian): a pinned base, exec-form CMD, no
    cache left by pip, every COPY source present in the build context, a non-root USER
    before the CMD, and the image's settings module and data folder the app's own."""
    import dockerfile

    cmds = dockerfile.parse_file(str(path))
    names = [c.cmd for c in cmds]
    problems = []
    for c in cmds:
        if c.cmd == "FROM":
            image = c.value[0]
            if ":" not in image or image.endswith(":latest"):
                problems.append(f"line {c.start_line}: FROM {image}: pin a tag (DL3006/DL3007)")
        if c.cmd == "COPY" and not c.flags:
            for src in c.value[:-1]:
                if not (context / src).exists():
                    problems.append(f"line {c.start_line}: COPY {src}: not in the context")
        if c.cmd == "RUN" and re.search(r"\bpip install\b", c.value[0]):
            env = " ".join(" ".join(e.value) for e in cmds if e.cmd == "ENV")
            if "--no-cache-dir" not in c.value[0] and "PIP_NO_CACHE_DIR 1" not in env:
                problems.append(f"line {c.start_line}: pip install keeps its cache (DL3042)")
        if c.cmd in ("CMD", "ENTRYPOINT") and not c.json:
            problems.append(f"line {c.start_line}: {c.cmd} in shell form (DL3025)")
    users = [c for c in cmds if c.cmd == "USER"]
    if not users or users[-1].value[0] in ("root", "0"):
        problems.append("the image runs as root (DL3002)")
    elif "CMD" in names and names.index("CMD") < names.index("USER"):
        problems.append("USER comes after CMD")
    env = dict(
        pair
        for e in cmds
        if e.cmd == "ENV"
        for pair in zip(e.value[::2], e.value[1::2], strict=True)
    )
    if env.get("DJANGO_SETTINGS_MODULE") != "abvlmq_web.settings":
        problems.append("DJANGO_SETTINGS_MODULE is not the production settings")
    if "VOLUME" in names and env.get("ABVLMQ_VAR_DIR") not in next(
        c.value for c in cmds if c.cmd == "VOLUME"
    ):
        problems.append("ABVLMQ_VAR_DIR is not on the image's volume")
    return problems


def test_the_dockerfile_parses_and_passes_the_lint_rules():
    assert dockerfile_problems(DOCKERFILE, ROOT) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("FROM python:3.11-slim", "FROM python", "pin a tag"),
        ("COPY scoring ./scoring", "COPY scorin ./scoring", "COPY scorin: not in the context"),
        ('CMD ["python", "-m", "abvlmq_web.server", "-b", "0.0.0.0", "-p", "8000", '
         '"abvlmq_web.asgi:application"]',
         "CMD python -m abvlmq_web.server -b 0.0.0.0 abvlmq_web.asgi:application", "shell form"),
        ("USER abvlmq", "USER root", "runs as root"),
        ("PIP_NO_CACHE_DIR=1", "PIP_NO_CACHE_DIR=0", "keeps its cache"),
    ],
)  # fmt: skip
def test_the_lint_catches_a_broken_dockerfile(tmp_path, old, new, problem):
    text = DOCKERFILE.read_text()
    assert old in text
    broken = tmp_path / "Dockerfile"
    broken.write_text(text.replace(old, new))
    assert any(problem in p for p in dockerfile_problems(broken, ROOT))


# --------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_compose_file_has_the_production_services(compose):
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "web", "worker"} <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for dep in service.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
    for name in ("migrate", "web", "worker"):
        build = services[name]["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert services["web"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    for name in ("postgres", "redis"):
        assert "healthcheck" in services[name]
    mounts = [v.split(":")[0] for s in services.values() for v in s.get("volumes", [])]
    # a host path the operator supplies ("${ABVLMQ_BASE_MODEL:-/models/...}") is a bind mount too
    named = {m for m in mounts if not m.startswith((".", "/", "$"))}
    assert named <= set(compose["volumes"])
    for bind in (m for m in mounts if m.startswith(".")):  # bind mounts exist beside the file
        assert (COMPOSE.parent / bind).exists(), bind


def test_the_compose_app_settings_are_ones_the_app_reads(compose):
    env = compose["services"]["web"]["environment"]
    for key in env:
        assert f'"{key}"' in SETTINGS, f"{key} is not read by abvlmq_web/settings.py"
    assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")  # no default secret


def test_the_compose_worker_consumes_the_inference_queue(compose):
    argv = compose["services"]["worker"]["command"]
    queue = argv[argv.index("-Q") + 1]
    default = re.search(r'env_str\("ABVLMQ_INFERENCE_QUEUE", "([^"]+)"\)', SETTINGS).group(1)
    assert queue == default
    assert argv[:4] == ["celery", "-A", "abvlmq_web", "worker"]
    assert compose["services"]["migrate"]["command"][:3] == ["python", "manage.py", "migrate"]


def _compose_plugin() -> bool:
    docker = shutil.which("docker")
    if not docker:
        return False
    version = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
    return version.returncode == 0


@pytest.mark.skipif(not _compose_plugin(), reason="Docker's compose plugin is not installed")
def test_docker_compose_accepts_the_file():
    run = subprocess.run(
        shlex.split(f"docker compose -f {COMPOSE} config --quiet"),
        capture_output=True, text=True, timeout=60,
        env={"DJANGO_SECRET_KEY": "x", "PATH": "/usr/local/bin:/usr/bin:/bin"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr


# --------------------------------------------------------------------------- migrations


@pytest.mark.django_db
def test_the_migrations_are_in_step_with_the_models():
    from django.core.management import call_command

    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=0)
    except SystemExit as exc:
        pytest.fail(f"models changed without a migration (makemigrations exit {exc.code})")
