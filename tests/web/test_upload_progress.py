"""A clip's intake reports its progress to the uploading page (issue 32, item 4): while the
upload request runs, /ws/uploads/<key>/ carries each frame de-identified and the encoding, to
that user's page only. Real parts: the ASGI app, the configured channel layer (Redis), the
clip intake on a real MP4."""

from __future__ import annotations

import threading
from io import BytesIO

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from abvlmq_web.scans.events import UploadProgress
from abvlmq_web.scans.services import scan_upload
from tests.web.conftest import ORIGIN, session_cookie
from tests.web.test_cine_clips import mp4

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
KEY = "0123456789abcdef-upload"


def _listen(user, key, during, want: int = 50):
    """Open /ws/uploads/<key>/ as ``user``, run ``during`` in a thread, collect what comes
    (``want`` 0: check that nothing does)."""
    from abvlmq_web.asgi import application

    headers = [ORIGIN, (b"cookie", session_cookie(user))]

    async def run():
        ws = WebsocketCommunicator(application, f"/ws/uploads/{key}/", headers=headers)
        accepted, _ = await ws.connect(timeout=5)
        assert accepted
        worker = threading.Thread(target=during)
        worker.start()
        got = []
        if want == 0:
            worker.join(timeout=60)
            assert await ws.receive_nothing(timeout=1)
        while len(got) < want:
            got.append(await ws.receive_json_from(timeout=60))
            if got[-1]["stage"] == "encode" or got[-1]["done"] == got[-1]["total"] == 5:
                break
        worker.join(timeout=120)
        await ws.disconnect()
        return got

    return async_to_sync(run)()


def test_a_clip_upload_reports_its_frames_to_the_uploaders_page(people, redis_layer):
    resident = people["resident"]
    data = mp4(n=12)
    stored = {}

    def upload():
        stored["scan"] = scan_upload(user=resident, file=BytesIO(data), progress_key=KEY)

    got = _listen(resident, KEY, upload)
    assert stored["scan"].frames == 12
    frames = [m for m in got if m["stage"] == "deidentify"]
    assert frames and frames[-1] == {"stage": "deidentify", "done": 12, "total": 12}
    assert [m["done"] for m in frames] == sorted(m["done"] for m in frames)
    assert got[-1] == {"stage": "encode", "done": 0, "total": 12}


def test_another_users_page_with_the_same_key_hears_nothing(people, redis_layer):
    def push():
        UploadProgress(user_id=people["resident"].pk, key=KEY)("deidentify", 5, 5)

    assert _listen(people["other_resident"], KEY, push, want=0) == []
    assert _listen(people["resident"], KEY, push, want=1) == [
        {"stage": "deidentify", "done": 5, "total": 5}
    ]


def test_a_bad_key_or_no_login_is_closed_with_its_code(people):
    from abvlmq_web.asgi import application

    async def open_(path, headers):
        ws = WebsocketCommunicator(application, path, headers=headers)
        accepted, _ = await ws.connect(timeout=5)
        out = await ws.receive_output(timeout=5)
        await ws.disconnect()
        return accepted, out

    cookie = (b"cookie", session_cookie(people["resident"]))
    assert async_to_sync(open_)("/ws/uploads/short/", [ORIGIN, cookie])[1]["code"] == 4404
    assert async_to_sync(open_)(f"/ws/uploads/{KEY}/", [ORIGIN])[1]["code"] == 4401
