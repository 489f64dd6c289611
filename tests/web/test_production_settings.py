"""Production settings come from the environment and pass `check --deploy`; a CSP on every page;
request bodies capped before they are read; manage.py works beside `make run`; the embedded
stack persists its queue and supervises its processes."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.test import Client

from tests.web.live import ROOT

PRODUCTION = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "abvlmq.example.org",
    "DJANGO_HTTPS": "true",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
}


def _manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ABVLMQ_", "PYTEST"))
    }
    base.update(DJANGO_SETTINGS_MODULE="abvlmq_web.settings", ABVLMQ_VAR_DIR=str(tmp_path))
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_check_deploy_is_clean_under_the_production_environment(tmp_path):
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
def test_check_deploy_warns_without_it(tmp_path):
    """The same check fails when HTTPS is not declared: the test above has teeth."""
    env = {**PRODUCTION, "DJANGO_HTTPS": "false"}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr + result.stdout


@pytest.mark.slow
def test_each_production_setting_comes_from_the_environment(tmp_path):
    code = (
        "from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS, "
        "s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_PROXY_SSL_HEADER)"
    )
    env = {**PRODUCTION, "DJANGO_SECURE_HSTS_SECONDS": "600", "DJANGO_SECURE_SSL_REDIRECT": "0"}
    result = _manage("shell", "-c", code, env=env, tmp_path=tmp_path)
    assert result.stdout.split("\n")[-2] == (
        "600 False True True ('HTTP_X_FORWARDED_PROTO', 'https')"
    ), result.stderr


@pytest.mark.slow
def test_manage_py_reads_the_key_that_make_run_keeps(tmp_path):
    (tmp_path / "secret_key").write_text(secrets.token_urlsafe(50) + "\n")
    result = _manage("check", env={}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    (tmp_path / "secret_key").unlink()
    result = _manage("check", env={}, tmp_path=tmp_path)
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def _directives(policy: str) -> dict[str, str]:
    parts = [p.strip().split(" ", 1) for p in policy.split(";") if p.strip()]
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


def test_pages_carry_a_content_security_policy(client: Client, resident):
    client.force_login(resident)
    for path in ("/accounts/login/", "/", "/upload/", "/progress/", "/api/docs/"):
        policy = _directives(client.get(path).headers.get("Content-Security-Policy", ""))
        assert policy.get("script-src") == "'self'", (path, policy)
        assert policy.get("object-src") == "'none'" and policy.get("frame-ancestors") == "'none'"
        if path != "/api/docs/":  # Swagger UI writes <style> elements
            assert policy.get("style-src") == "'self'", (path, policy)


def test_the_api_docs_page_has_no_inline_script(client):
    html = client.get("/api/docs/").content.decode()
    scripts = html.split("<script")[1:]
    assert scripts and all(" src=" in tag.split(">")[0] for tag in scripts)


def test_a_request_body_over_the_cap_is_refused_before_it_is_read(settings):
    from abvlmq_web.asgi import application

    size = settings.ABVLMQ_MAX_REQUEST_BYTES + 1
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/scans/",
        "raw_path": b"/api/scans/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), (b"content-length", str(size).encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }

    async def run():
        app = ApplicationCommunicator(application, scope)
        # no body is ever sent: the answer must come from the headers alone
        start = await app.receive_output(timeout=5)
        body = await app.receive_output(timeout=5)
        return start, body

    start, body = async_to_sync(run)()
    assert start["status"] == 413
    assert b"too_large" in body["body"]


def test_the_redis_we_start_and_compose_keep_an_append_only_file():
    assert "--appendonly yes" in (ROOT / "scripts/redis.sh").read_text()
    compose = yaml.safe_load((ROOT / "docker/compose.yaml").read_text())
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"


def test_compose_runs_the_sweeper_and_caps_request_bodies_in_front_of_the_app():
    compose = yaml.safe_load((ROOT / "docker/compose.yaml").read_text())
    services = compose["services"]
    assert {"-B", "maintenance"} <= set(services["sweeper"]["command"])
    assert "ports" not in services["web"], "the app is reached through nginx only"
    assert "client_max_body_size 51m;" in (ROOT / "docker/nginx.conf").read_text()


def test_make_run_supervises_workers_the_sweeper_web_and_the_listener():
    run = (ROOT / "scripts/run.sh").read_text()
    for name in ('program "worker-$i"', "program sweeper", "program web", "program dicom"):
        assert name in run, name
    assert "wait -n" not in run, "one process dying must not stop the others"
    assert "setpriv --pdeathsig TERM bash scripts/run.sh" in (ROOT / "Makefile").read_text()


# Supervisor's startsecs and startretries as scripts/processes.sh reads them from the
# environment (defaults 5 and 5, which `make run` keeps): a program is RUNNING after 1 s rather
# than 5, and one that cannot start is FATAL after 2 retries (waiting 1 then 2 s) rather than 5
# (1 + 2 + 3 + 4 + 5 s). The claims are the same: restarted, backed off, left down.
STARTSECS = 1
STARTRETRIES = 2


def _supervised(tmp_path, body: str) -> subprocess.CompletedProcess:
    """scripts/processes.sh with a program or two, supervisord started, then ``body``; the
    supervisord is stopped at the end whatever happens."""
    script = f"""
set -e
cd {ROOT}
VAR={tmp_path}
PY=.venv/bin/python
ABVLMQ_STARTSECS={STARTSECS}
ABVLMQ_STARTRETRIES={STARTRETRIES}
source scripts/processes.sh
{body}
"""
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)


def _ctl(tmp_path) -> str:
    return f".venv/bin/supervisorctl -c {tmp_path}/supervisord.conf"


@pytest.mark.slow
def test_a_program_that_dies_is_started_again_and_status_says_so(tmp_path):
    ctl = _ctl(tmp_path)
    result = _supervised(
        tmp_path,
        f"""
program sleeper {tmp_path}/sleeper.log sleep 300
start_programs
for _ in $(seq 100); do {ctl} status sleeper 2>/dev/null | grep -q RUNNING && break; sleep 0.2; done
first=$({ctl} pid sleeper)
kill -KILL "$first"
for _ in $(seq 100); do
  second=$({ctl} pid sleeper 2>/dev/null || true)
  [ -n "$second" ] && [ "$second" != 0 ] && [ "$second" != "$first" ] && break
  sleep 0.2
done
echo "$first $second"
for _ in $(seq 100); do {ctl} status sleeper 2>/dev/null | grep -q RUNNING && break; sleep 0.2; done
{ctl} status sleeper || true
kill -TERM "$SUPERVISORD_PID"; wait "$SUPERVISORD_PID" || true
kill -0 "$second" 2>/dev/null && echo "still running" || echo "stopped"
""",
    )
    lines = result.stdout.splitlines()
    first, second = lines[0].split()
    assert first != second, result.stdout + result.stderr
    assert "RUNNING" in lines[1]
    assert lines[-1] == "stopped", result.stdout


@pytest.mark.slow
def test_a_program_that_cannot_start_backs_off_then_stays_down_and_status_says_why(tmp_path):
    """No hot restart loop: a program that keeps failing is tried a few times, waiting longer
    each time, then left FATAL, which `make status` (supervisorctl status) shows."""
    ctl = _ctl(tmp_path)
    result = _supervised(
        tmp_path,
        f"""
program broken {tmp_path}/broken.log sh -c 'echo cannot bind; exit 3'
start_programs
for _ in $(seq 150); do {ctl} status broken 2>/dev/null | grep -q FATAL && break; sleep 0.2; done
{ctl} status broken || true
kill -TERM "$SUPERVISORD_PID"; wait "$SUPERVISORD_PID" || true
""",
    )
    assert "FATAL" in result.stdout, result.stdout + result.stderr
    starts = (tmp_path / "broken.log").read_text().count("cannot bind")
    assert 2 <= starts <= STARTRETRIES + 1, starts  # a few tries, not a loop
    conf = (tmp_path / "supervisord.conf").read_text()
    assert f"startretries={STARTRETRIES}" in conf and f"startsecs={STARTSECS}" in conf


@pytest.mark.slow
def test_a_killed_parent_leaves_nothing_running(tmp_path):
    """SIGKILL to the script that started supervisord (as when make's shell is killed): the
    parent-death signal stops supervisord, which stops its programs' whole groups."""
    marker = f"abvlmq-orphan-{tmp_path.name}"
    script = f"""
cd {ROOT}
VAR={tmp_path}
PY=.venv/bin/python
source scripts/processes.sh
program sleeper {tmp_path}/sleeper.log bash -c 'exec -a {marker} sleep 300'
start_programs
sleep 300
"""
    # bash, not sh: Debian's sh (dash) has no `exec -a`, and the program would never start
    proc = subprocess.Popen(["bash", "-c", script], start_new_session=True)
    # the program only (argv[0] is the marker): the script's own command-substitution subshells
    # carry the marker in their command line for an instant, and once ended the wait below on
    # one of them and then found nothing ("never started", CI of stop 28)
    ours = lambda: _pids_named(marker)  # noqa: E731
    try:
        import time

        deadline = time.monotonic() + 120  # supervisord's start on a machine busy with tests
        while not ours() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ours(), "the program never started: " + _logs(tmp_path)
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while ours() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not ours(), "left running after its parent was killed"
    finally:
        for pid in ours():
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):  # the script's session, if it lives
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _pids_named(marker: str) -> list[int]:
    """The processes whose argv[0] is ``marker`` (as ``exec -a`` names them)."""
    out = []
    for cmd in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmd.read_bytes().split(b"\0", 1)[0] == marker.encode():
                out.append(int(cmd.parent.name))
        except OSError:
            continue
    return out


def _logs(tmp_path) -> str:
    return " | ".join(
        f"{name}: {(tmp_path / name).read_text(errors='replace')[-600:]}"
        for name in ("supervisord.out", "supervisord.log", "sleeper.log")
        if (tmp_path / name).is_file()
    )


def test_a_taken_port_is_named_once_with_what_holds_it(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = subprocess.run(
            ["bash", "-c", f"cd {ROOT}; PY=.venv/bin/python; source scripts/processes.sh; "
             f"port_taken {port} && echo taken"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert result.stdout.strip().endswith("taken"), result.stdout + result.stderr
    assert "python" in result.stdout  # ss names the process that listens
