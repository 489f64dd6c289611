"""/ws/live/ over the real ASGI application with the demo model's fast path (issue 34): a
phantom's frames get their plane, key structures and quality; a probe in air reads "not a
scan of a known plane"; refusals (nobody, a program admin, an assignment not hers); frames that
are no image, far over the size limit or faster than 5 a second are dropped with a reason while
the session goes on and another resident's latency holds; a closed socket leaves no task behind;
an instructor of her cohort watches read-only over the real Redis layer, nobody else does."""

from __future__ import annotations

import asyncio
import json
import time
from io import BytesIO

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from PIL import Image

from abvlmq_web.curriculum.services import assignment_create
from abvlmq_web.live.consumers import TAKE_BURST, TAKE_RATE
from scoring.live import LiveHead
from tests.web import images
from tests.web.conftest import ORIGIN, session_cookie, upload
from trainer.live_head import air
from trainer.phantoms import generate

pytestmark = [
    pytest.mark.slow,
    pytest.mark.ml,  # the demo model's tower
    pytest.mark.django_db(transaction=True),  # channels closes the test's connection
]

SIDE = 112
PLANE = "GB"


@pytest.fixture(autouse=True, scope="module")
def torch_threads_restored():
    """The live scorer gives the web process one torch thread per frame (its pool's threads
    share the cores); the tests after this module get the process's threads back."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def frame(img: Image.Image, fmt: str = "PNG") -> bytes:
    """``img`` as the page sends it: its longer side at the model's side."""
    img = img.convert("RGB")
    scale = SIDE / max(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)))
    buf = BytesIO()
    img.save(buf, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return buf.getvalue()


def gb_frames(count: int = 4) -> list[bytes]:
    return [frame(generate(index=i, seed=34, size=224, planes=[PLANE])[0]) for i in range(count)]


def air_frames(count: int = 4) -> list[bytes]:
    rng = np.random.default_rng(34)
    return [frame(air(rng, 224)) for _ in range(count)]


async def _open(user, path: str = "/ws/live/"):
    from abvlmq_web.asgi import application

    headers = [ORIGIN] + ([(b"cookie", session_cookie_async[user.pk])] if user else [])
    ws = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await ws.connect(timeout=60)  # the first socket loads the model
    return ws, connected


session_cookie_async: dict[int, bytes] = {}


def _cookies(*users) -> None:
    for user in users:
        session_cookie_async[user.pk] = session_cookie(user)


async def _messages(ws, until, timeout: float = 10) -> list[dict]:
    """Messages until ``until(message)`` is true (that one included)."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(await ws.receive_from(timeout=max(0.1, deadline - time.monotonic())))
        got.append(message)
        if until(message):
            return got


async def _close_code(ws) -> int | None:
    while True:
        output = await ws.receive_output(timeout=60)
        if output["type"] == "websocket.close":
            return output.get("code")


async def _send_paced(ws, frames: list[bytes], period: float = 0.2) -> None:
    for data in frames:
        await ws.send_to(bytes_data=data)
        await asyncio.sleep(period)


def test_the_demo_model_has_a_live_head_beside_its_weights():
    from django.conf import settings

    head = LiveHead.load(settings.ABVLMQ_MODEL_DIR)
    assert head is not None and head.calibration is not None
    info = json.loads((settings.ABVLMQ_MODEL_DIR / "live_head.json").read_text())
    fresh = info["fresh"]
    # the fast path is measured beside the full model on the same fresh frames
    assert fresh["fast_path_frames"]["plane_top1"] >= 0.6
    assert {"full_model_frames", "full_model_uploaded"} <= set(fresh)


def test_a_phantoms_frames_get_its_plane_structures_and_quality(resident):
    _cookies(resident)

    async def run():
        ws, connected = await _open(resident)
        assert connected
        ready = json.loads(await ws.receive_from(timeout=60))
        await _send_paced(ws, gb_frames())
        views = await _messages(ws, lambda m: m.get("type") == "live" and m["seq"] == 4)
        await ws.disconnect()
        return ready, views

    ready, views = async_to_sync(run)()
    assert ready["type"] == "ready" and ready["side"] == SIDE and ready["rate"] == 5
    assert ready["assignment"] is None
    live = [v for v in views if v["type"] == "live"]
    assert [v["seq"] for v in live] == [1, 2, 3, 4]  # each frame, in order, none dropped
    last = live[-1]
    assert last["state"] == "scanning" and last["plane"] == PLANE
    assert last["plane_name"] == "Gallbladder longitudinal"
    assert 0 < last["confidence"] <= 1
    assert 0 <= last["quality"] <= 10 and last["grade"]
    assert [s["id"] for s in last["structures"]] == ["gallbladder", "right_lobe"]
    assert last["frame"] == {"width": SIDE, "height": SIDE, "colour": 0.0}
    assert last["target_met"] is False  # free practice: no target


def test_a_probe_in_air_is_not_a_scan_of_a_known_plane(resident):
    _cookies(resident)

    async def run():
        ws, _ = await _open(resident)
        await ws.receive_from(timeout=60)
        await _send_paced(ws, air_frames(3))
        views = await _messages(ws, lambda m: m.get("seq") == 3)
        await ws.disconnect()
        return views

    last = async_to_sync(run)()[-1]
    assert last["state"] == "unknown" and "plane" not in last
    assert last["ood"] > last["ood_threshold"]


def test_refusals_nobody_a_program_admin_and_an_assignment_not_hers(
    resident, program_admin, other_cohort, other_instructor
):
    theirs = assignment_create(
        created_by=other_instructor, cohort=other_cohort, title="Theirs", target_planes=["GB"],
        scan_count=1, min_grade="Good", due_date=None,
    )  # fmt: skip
    _cookies(resident, program_admin)

    async def run():
        codes = []
        for user, path in (
            (None, "/ws/live/"),
            (program_admin, "/ws/live/"),
            (resident, f"/ws/live/?assignment={theirs.pk}"),
            (resident, "/ws/live/?assignment=x"),
        ):
            ws, connected = await _open(user, path)
            codes.append(await _close_code(ws) if connected else "not accepted")
        return codes

    assert async_to_sync(run)() == [4401, 4403, 4404, 4404]


def test_a_non_image_an_oversized_frame_and_a_flood_are_dropped_and_the_session_goes_on(
    resident, other_resident
):
    from django.conf import settings

    _cookies(resident, other_resident)
    good = gb_frames(2)
    huge = b"\xff\xd8\xff" + bytes(settings.ABVLMQ_LIVE_MAX_FRAME_BYTES * 8)

    async def steady(ws, count: int) -> list[float]:
        """Another resident at 5 a second: her frame-to-result times (s)."""
        times = []
        for n in range(count):
            t0 = time.monotonic()
            await ws.send_to(bytes_data=good[n % 2])
            await _messages(ws, lambda m: m.get("type") == "live")
            times.append(time.monotonic() - t0)
            await asyncio.sleep(max(0.0, 0.2 - times[-1]))
        return times

    async def run():
        ws, _ = await _open(resident)
        other, _ = await _open(other_resident)
        await ws.receive_from(timeout=60)
        await other.receive_from(timeout=60)
        await ws.send_to(bytes_data=b"GIF89a not a frame at all")
        not_image = await _messages(ws, lambda m: m["type"] == "dropped")
        await asyncio.sleep(0.2)
        await ws.send_to(bytes_data=huge)
        too_large = await _messages(ws, lambda m: m["type"] == "dropped")
        await asyncio.sleep(TAKE_BURST / TAKE_RATE + 0.2)  # the bucket is full again
        # a flood: 40 frames at once, while the other resident scans at 5 a second
        other_times = asyncio.ensure_future(steady(other, 10))
        for n in range(40):
            await ws.send_to(bytes_data=good[n % 2])
        flood: list[dict] = []
        while not (
            any(m["type"] == "live" for m in flood)
            and any(m.get("reason") == "too_fast" for m in flood)
        ):
            flood += await _messages(ws, lambda m: True)
        times = await other_times
        await asyncio.sleep(0.3)
        # the session goes on (another picture: the same one for 2 s would read as frozen)
        await ws.send_to(bytes_data=good[1])
        after = await _messages(ws, lambda m: m["type"] == "live" and m["seq"] == 43)
        await ws.disconnect()
        await other.disconnect()
        return not_image, too_large, flood, after, times

    not_image, too_large, flood, after, times = async_to_sync(run)()
    assert not_image[-1] | {"message": ""} == {
        "type": "dropped", "seq": 1, "reason": "not_an_image", "message": "", "count": 1,
    }  # fmt: skip
    assert too_large[-1]["reason"] == "too_large" and too_large[-1]["seq"] == 2
    too_fast = [m for m in flood + after if m.get("reason") == "too_fast"]
    # a burst of TAKE_BURST of the flood's 40 is taken (from seq 3), the next is too fast
    burst = int(TAKE_BURST)
    assert too_fast[0]["seq"] == 3 + burst and "5 a second" in too_fast[0]["message"]
    # of those taken, the first is scored and the latest waiting one wins; those it replaced
    # while they waited are dropped as behind
    taken = set(range(3, 3 + burst))
    scored = [m["seq"] for m in flood + after if m["type"] == "live"]
    assert scored[0] == 3 and scored[-2] == 2 + burst and set(scored[:-1]) <= taken
    behind = [m for m in flood + after if m.get("reason") == "behind"]
    assert behind or len(scored) == burst + 1, (scored, behind)  # none replaced: all scored
    assert scored[-1] == 43 and after[-1]["state"] == "scanning"
    assert sorted(times)[-2] < 0.6, times  # her p90 frame-to-result held during the flood


def test_a_fourth_live_page_of_one_user_is_refused_until_one_closes(resident):
    _cookies(resident)

    async def run():
        pages = []
        for _ in range(3):
            ws, _ = await _open(resident)
            assert json.loads(await ws.receive_from(timeout=60))["type"] == "ready"
            pages.append(ws)
        fourth, _ = await _open(resident)
        refused = await _close_code(fourth)
        await pages.pop().disconnect()
        again, _ = await _open(resident)
        ready = json.loads(await again.receive_from(timeout=60))
        for ws in [*pages, again]:
            await ws.disconnect()
        return refused, ready

    refused, ready = async_to_sync(run)()
    assert refused == 4429 and ready["type"] == "ready"


def test_a_closed_socket_leaves_no_task_behind(resident):
    _cookies(resident)

    async def run():
        ws, _ = await _open(resident)
        await ws.receive_from(timeout=60)
        first, second = gb_frames(2)
        await ws.send_to(bytes_data=first)
        await ws.send_to(bytes_data=second)  # one scored, one waiting
        working: set = set()
        for _ in range(500):
            working = {t for t in asyncio.all_tasks() if "_work" in repr(t.get_coro())}
            if working:
                break
            await asyncio.sleep(0)
        await ws.disconnect()  # the tab closes with a frame in flight
        left = {t for t in asyncio.all_tasks() if "_work" in repr(t.get_coro())}
        return working, left

    working, left = async_to_sync(run)()
    assert len(working) == 1  # the socket's one task, while it scored the frame
    assert left == set()


def test_an_instructor_of_her_cohort_watches_read_only_and_nobody_else(
    redis_layer, resident, other_resident, instructor, other_instructor, cohort, other_cohort
):
    mine = upload(resident, images.phantom())
    not_mine = upload(other_resident, images.phantom())
    _cookies(resident, other_resident, instructor, other_instructor)
    path = f"/ws/live/watch/{resident.pk}/"

    async def run():
        codes = []
        for user in (None, other_resident, resident, other_instructor):
            ws, connected = await _open(user, path)
            codes.append(await _close_code(ws) if connected else "not accepted")
        watch, connected = await _open(instructor, path)
        assert connected
        assert await watch.receive_nothing(timeout=0.3)
        ws, _ = await _open(resident)
        await ws.receive_from(timeout=60)
        started = json.loads(await watch.receive_from(timeout=5))
        await watch.send_to(text_data=json.dumps({"type": "captured", "scan_id": mine.pk}))
        await _send_paced(ws, gb_frames(2))
        await _messages(ws, lambda m: m.get("seq") == 2)
        seen = await _messages(watch, lambda m: m["type"] == "live" and m["frames"] == 2)
        await ws.send_to(text_data=json.dumps({"type": "captured", "scan_id": not_mine.pk}))
        await ws.send_to(text_data=json.dumps({"type": "captured", "scan_id": mine.pk}))
        capture = await _messages(watch, lambda m: m["type"] == "capture")
        await ws.disconnect()
        ended = await _messages(watch, lambda m: m["type"] == "session")
        await watch.disconnect()
        return codes, started, seen, capture, ended

    codes, started, seen, capture, ended = async_to_sync(run)()
    assert codes == [4401, 4404, 4404, 4404]
    assert started == {"type": "session", "state": "started"}
    assert [m["type"] for m in seen] == ["live", "live"]  # the watcher's own message was ignored
    assert seen[-1]["plane"] == PLANE and "seq" not in seen[-1]
    assert capture == [{"type": "capture", "scan_id": mine.pk, "auto": False}]  # hers only
    assert ended == [{"type": "session", "state": "ended"}]
    from abvlmq_web.competency.models import AuditLog

    assert AuditLog.objects.filter(action="live.watch", actor=instructor, subject=resident).exists()


def test_a_model_without_a_live_head_says_so_and_closes(resident, settings, tmp_path):
    """Last in this module: it makes the process's scorer the head-less model's."""
    settings.ABVLMQ_MODEL_DIR = tmp_path  # a checkpoint folder with no live_head.npz
    _cookies(resident)

    async def run():
        ws, connected = await _open(resident)
        assert connected
        message = json.loads(await ws.receive_from(timeout=10))
        return message, await _close_code(ws)

    message, code = async_to_sync(run)()
    assert message["type"] == "unavailable" and "no live head" in message["message"]
    assert code == 4503
