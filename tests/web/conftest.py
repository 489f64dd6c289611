"""Shared people and scans for the web tests.

Cohort A: Rita (resident), Rhys (another resident, her peer) and Ian (their instructor).
Cohort B: Olga (an instructor of another cohort). Pat is a program admin. Anonymous is nobody.
Rita's scans are seen by Rita, Ian and Pat; Rhys and Olga must see nothing of them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from io import BytesIO

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import WebDriverWait

from abvlmq_web.accounts.services import cohort_create, user_create
from abvlmq_web.curriculum.services import assignment_create
from abvlmq_web.scans import analysis as scans_analysis
from abvlmq_web.scans.analysis import analysis_run
from abvlmq_web.scans.services import scan_upload
from tests.web import images

PASSWORD = "correct horse battery"
ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture(autouse=True)
def scripted_engine(settings):
    """Every web test runs the scripted engine unless it says otherwise."""
    settings.ABVLMQ_ENGINE = "tests.web.scripted:ScriptedEngine"
    scans_analysis._engines.clear()
    yield
    scans_analysis._engines.clear()


@pytest.fixture
def resident(db):
    return user_create(username="rita", password=PASSWORD, role="resident", first_name="Rita")


@pytest.fixture
def other_resident(db):
    return user_create(username="rhys", password=PASSWORD, role="resident", first_name="Rhys")


@pytest.fixture
def instructor(db):
    return user_create(username="ian", password=PASSWORD, role="instructor", first_name="Ian")


@pytest.fixture
def other_instructor(db):
    return user_create(username="olga", password=PASSWORD, role="instructor", first_name="Olga")


@pytest.fixture
def program_admin(db):
    return user_create(username="pat", password=PASSWORD, role="program_admin")


@pytest.fixture
def cohort(resident, other_resident, instructor):
    return cohort_create(
        name="Cohort A", instructors=[instructor], residents=[resident, other_resident]
    )


@pytest.fixture
def other_cohort(other_instructor):
    return cohort_create(name="Cohort B", instructors=[other_instructor])


@pytest.fixture
def assignment(cohort, instructor):
    return assignment_create(
        created_by=instructor,
        cohort=cohort,
        title="Gallbladder week",
        target_planes=["GB"],
        scan_count=2,
        min_grade="Good",
        due_date=dt.date(2030, 1, 31),
    )


@pytest.fixture
def people(
    resident, other_resident, instructor, other_instructor, program_admin, cohort, other_cohort
):
    return {
        "resident": resident,
        "instructor": instructor,
        "other_instructor": other_instructor,
        "other_resident": other_resident,
        "program_admin": program_admin,
        "anonymous": None,
    }


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def token_for(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def upload(user, data: bytes, assignment=None):
    return scan_upload(user=user, file=BytesIO(data), assignment=assignment)


@pytest.fixture
def scan(resident, assignment):
    """Rita's phantom, uploaded and assessed by the (scripted) engine."""
    scan = upload(resident, images.phantom(), assignment)
    analysis_run(analysis_id=scan.analysis.pk)
    scan.refresh_from_db()
    return scan


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def ws_session(
    path: str, *, user=None, token: str | None = None, read: int = 0, timeout: float = 5
):
    """Open the websocket as ``user`` (a real session cookie) or with ``token``; return
    (stayed open, close code, the first ``read`` messages). A refused socket is accepted and
    closed at once with its code (what a browser sees), so it did not stay open."""
    from abvlmq_web.asgi import application

    headers = [ORIGIN]
    if user is not None:
        headers.append((b"cookie", session_cookie(user)))

    async def run():
        query = f"?token={token}" if token else ""
        communicator = WebsocketCommunicator(application, path + query, headers=headers)
        connected, code = await communicator.connect(timeout=timeout)
        messages = []
        if not connected:
            return connected, code, messages
        # a refusal closes right after the accept; an open socket sends events or nothing
        if read or not await communicator.receive_nothing(timeout=0.2):
            for _ in range(max(read, 1)):
                output = await communicator.receive_output(timeout=timeout)
                if output["type"] == "websocket.close":
                    return False, output.get("code"), messages
                messages.append(json.loads(output["text"]))
        await communicator.disconnect()
        return True, None, messages[:read] if read else []

    return async_to_sync(run)()


# --------------------------------------------------------------------------- real processes


@pytest.fixture
def redis_layer(settings):
    """The Redis channel layer in this process too, so worker pushes reach our websockets."""
    settings.CHANNEL_LAYERS = {"default": settings.REDIS_CHANNEL_LAYER}


@pytest.fixture
def log_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("logs")


@pytest.fixture
def worker_factory(transactional_db, redis_layer, log_dir):
    """Start Celery workers (subprocesses) on this run's inference queue; stopped after."""
    from tests.web.live import start_worker, stop_all

    started = []

    def start(**env: str):
        started.append(start_worker(log_dir, **env))
        return started[-1]

    yield start
    stop_all(started)  # side by side


def wait_until(predicate, timeout: float = 30, interval: float = 0.05):
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(interval)


SENTINEL = {"type": "sentinel"}


async def assert_nothing_before_a_sentinel(ws, scan_id: int, seq: int, worker=None) -> None:
    """Prove that nothing more (no late duplicate) comes on ``ws`` from the worker: once the
    worker's task has returned (its pushes are in the channel layer by then), push a sentinel
    into the scan's group; the layer keeps order, so the very next message must be it."""
    import asyncio

    from channels.layers import get_channel_layer

    from abvlmq_web.scans.events import scan_group

    if worker is not None:
        for _ in range(600):
            if " succeeded in " in worker.text() or " raised " in worker.text():
                break
            await asyncio.sleep(0.05)
        else:
            raise TimeoutError("the worker's task did not return")
    message = {"type": "scan.event", "seq": seq, "event": SENTINEL}
    await get_channel_layer().group_send(scan_group(scan_id), message)
    assert await ws.receive_json_from(timeout=10) == {**SENTINEL, "seq": seq}


# --------------------------------------------------------------------------- shared processes
# Starting daphne and Chromium costs seconds a test; the browser tests share one of each (one
# pair for tests/web, one for tests/teaching, whose conftest imports these). Each test still
# gets its own rows (django_db(transaction=True) flushes the test database, which the server
# reads as it is) and a browser as if new (``fresh_browser``).


@pytest.fixture(scope="session")
def shared_daphne(django_db_setup, tmp_path_factory):
    """daphne (a subprocess, tests/web/live.py) on the test database, for every test that asks,
    with the scripted engine (as the autouse ``scripted_engine`` has it for a per-test server);
    stopped before the test database goes."""
    from tests.web.live import free_port, start_server

    port = free_port()
    process = start_server(
        tmp_path_factory.mktemp("logs"), port, ABVLMQ_ENGINE="tests.web.scripted:ScriptedEngine"
    )
    yield f"http://127.0.0.1:{port}"
    process.stop()


@pytest.fixture(scope="session")
def shared_chromium(tmp_path_factory):
    """One headless Chromium for the browser tests; ask for ``fresh_browser`` to use it."""
    from tests.web.test_browser import start_chromium

    driver = start_chromium(tmp_path_factory.mktemp("chromium") / "profile")
    yield driver
    driver.quit()


def browser_reset(driver) -> None:
    """A shared Chromium as a new one: no dialog left open, a new blank tab (the old ones
    closed, with their sockets and session storage), no cookies, no local storage or cache,
    1280 x 860."""
    from selenium.common.exceptions import NoAlertPresentException

    with contextlib.suppress(NoAlertPresentException):
        driver.switch_to.alert.dismiss()
    driver.switch_to.new_window("tab")
    new = driver.current_window_handle
    for handle in driver.window_handles:
        if handle != new:
            driver.switch_to.window(handle)
            driver.close()
    driver.switch_to.window(new)
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": "*", "storageTypes": "all"})
    driver.set_window_size(1280, 860)


@pytest.fixture
def fresh_browser(shared_chromium):
    """The shared Chromium, reset before the test (``browser_reset``) and left on a blank page
    after it, so nothing of the page runs on while the next test's rows are made."""
    browser_reset(shared_chromium)
    yield shared_chromium
    shared_chromium.get("about:blank")


# How often a browser test's waits look again (Selenium's default, 0.5 s, added up to half a
# second to every wait on a condition not met at the first look).
POLL = 0.05


class Wait(WebDriverWait):
    """Selenium's wait, looking every ``POLL`` s; a lookup that meets an element the page has
    just replaced (stale) looks again, as one that finds none does."""

    def __init__(self, driver, timeout: float, ignored_exceptions: tuple = ()):
        super().__init__(
            driver,
            timeout,
            poll_frequency=POLL,
            ignored_exceptions=(StaleElementReferenceException, *ignored_exceptions),
        )
