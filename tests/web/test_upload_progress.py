"""A clip's progress reaches the pages (issue 32, item 4): while the upload request runs,
/ws/uploads/<key>/ carries each frame read and de-identified and the encoding, to that user's
page only; while the worker assesses the sampled frames, /ws/scans/<id>/ says how many are
assessed after each batch, before the answer's events. Real parts: the ASGI app, the
configured channel layer (Redis), the clip intake on a real MP4, the analysis (the scripted
engine, and the committed demo model)."""

from __future__ import annotations

import threading
from io import BytesIO
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.files.base import ContentFile
from django.db import connection

from abvlmq_web.cine.models import Clip, ClipFrame
from abvlmq_web.scans.analysis import analysis_run
from abvlmq_web.scans.events import UploadProgress
from abvlmq_web.scans.models import Analysis, Scan
from abvlmq_web.scans.services import scan_upload
from tests.web import images
from tests.web.conftest import ORIGIN, session_cookie
from tests.web.test_cine_clips import mp4
from trainer.phantoms import generate

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


DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"


def _stored_clip(owner, frames: int, size: int) -> Scan:
    """A clip's scan as intake leaves it (the test of intake is above): ``frames`` sampled
    phantom frames (``size`` px) of a 24-frame clip, its analysis queued."""
    pngs = [images.png_bytes(generate(index=6, seed=n, size=size)[0]) for n in range(frames)]
    scan = Scan(owner=owner, kind="mp4", frames=24, width=size, height=size, is_ultrasound=True)
    scan.image.save("scan.png", ContentFile(pngs[0]), save=False)
    scan.save()
    clip = Clip(scan=scan, frames=24, fps=6.0, duration=4.0, width=size, height=size)
    clip.video.save("clip.mp4", ContentFile(b"not read by the analysis"), save=False)
    clip.save()
    for n, png in enumerate(pngs):
        frame = ClipFrame(clip=clip, index=3 * n, time=n / 2, width=size, height=size)
        frame.image.save("frame.png", ContentFile(png), save=False)
        frame.save()
    Analysis.objects.create(scan=scan, rubric_version="")
    return scan


def _scan_socket_during(user, scan: Scan, during) -> list[dict]:
    """Open /ws/scans/<id>/ as ``user``, run ``during`` in a thread, collect until "done"."""
    from abvlmq_web.asgi import application

    headers = [ORIGIN, (b"cookie", session_cookie(user))]

    def in_thread():
        try:
            during()
        finally:
            connection.close()  # the thread's own connection: the test database is dropped after

    async def run():
        ws = WebsocketCommunicator(application, f"/ws/scans/{scan.pk}/", headers=headers)
        accepted, _ = await ws.connect(timeout=5)
        assert accepted
        worker = threading.Thread(target=in_thread)
        worker.start()
        got = []
        while not got or got[-1]["type"] != "done":
            got.append(await ws.receive_json_from(timeout=120))
        worker.join(timeout=120)
        await ws.disconnect()
        return got

    return async_to_sync(run)()


@pytest.mark.parametrize(
    "engine,frames,batch,counts",
    [
        ("scripted_engine", 8, 4, [0, 4, 8]),
        # the demo model on its own size of phantom, a few frames: seconds, not a minute
        pytest.param("demo_model", 3, 2, [0, 2, 3], marks=pytest.mark.ml),
    ],
)
def test_the_scans_socket_counts_the_clips_frames_assessed_before_the_answer(
    people, redis_layer, settings, engine, frames, batch, counts
):
    size = 512
    if engine == "demo_model":
        settings.ABVLMQ_ENGINE = "scoring.engine:Engine"
        settings.ABVLMQ_MODEL_DIR = DEMO
        size = 224
    settings.ABVLMQ_CLIP_BATCH = batch
    scan = _stored_clip(people["resident"], frames, size)

    got = _scan_socket_during(
        people["resident"], scan, lambda: analysis_run(analysis_id=scan.analysis.pk)
    )

    progress = [m for m in got if m["type"] == "progress"]
    assert progress == [
        {"type": "progress", "stage": "assess", "done": n, "total": frames} for n in counts
    ]
    assert all("seq" not in m for m in progress)  # not events: nothing saved, nothing numbered
    events = [m for m in got if m["type"] != "progress"]
    assert got[: len(progress)] == progress  # every count before the answer's first event
    assert [m["seq"] for m in events] == list(range(1, len(events) + 1))
    scan.refresh_from_db()
    assert scan.analysis.status == "done"
    assert scan.analysis.events.count() == len(events)
    assert scan.clip.sampled.exclude(result={}).count() == frames  # each one counted, assessed
