"""Clips through the web: an MP4 or a multi-frame DICOM uploaded through the API becomes a scan
with a de-identified H.264 clip and sampled frames; the worker's analysis assesses the sample a
batch at a time and shows the best frame; the clip API gives the timeline; outsiders see nothing."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from io import BytesIO
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from abvlmq_web.cine.models import Clip
from abvlmq_web.progress.services import preference_set
from abvlmq_web.scans import services as scans_services
from abvlmq_web.scans.analysis import analysis_run
from abvlmq_web.scans.models import Scan
from tests.web import images, scripted
from tests.web.conftest import api
from trainer.phantoms import generate

pytestmark = pytest.mark.slow  # a second or more each, measured


def mp4(n: int = 12, fps: float = 6, index: int = 1) -> bytes:
    """A short scanner-screen clip (index 1: furniture with burned-in text), H.264."""
    out = BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width = stream.height = 512
        stream.pix_fmt = "yuv420p"
        for seed in range(n):
            rgb = np.asarray(generate(index=index, seed=seed)[0].convert("RGB"))
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def post(user, name: str, data: bytes):
    return api(user).post("/api/scans/", {"file": images.file(name, data)}, format="multipart")


_INTAKES: dict[bytes, object] = {}


@pytest.fixture
def cached_clip(resident, monkeypatch):
    """Rita's MP4 uploaded through the API. The clip's intake (every frame de-identified and
    OCR-checked: 20-30 s on 2 cores) runs for real on the module's first upload; later uploads
    of the same bytes reuse its result, a stand-in for speed. The intake itself is checked by
    the first test here and by tests/scoring/test_imaging_clip.py."""
    real = scans_services.clip_load

    def cached(data, *, limits, progress=None):  # the stand-in reports no progress
        key = hashlib.sha256(data).digest()
        if key not in _INTAKES:
            _INTAKES[key] = real(data, limits=limits)
        return _INTAKES[key]

    monkeypatch.setattr(scans_services, "clip_load", cached)
    response = post(resident, "loop.mp4", mp4())
    assert response.status_code == 201, response.json()
    return Scan.objects.get(pk=response.json()["id"])


def test_an_mp4_upload_becomes_a_scan_with_a_deidentified_h264_clip(cached_clip):
    clip = cached_clip.clip
    assert (cached_clip.kind, cached_clip.frames, clip.frames, clip.fps) == ("mp4", 12, 12, 6.0)
    assert [f.index for f in clip.sampled.all()] == [0, 2, 3, 5, 6, 8, 9, 11]
    with av.open(clip.video.open("rb")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert len(list(container.decode(stream))) == 12
    assert (clip.width, clip.height) != (512, 512)  # cropped to the sector, furniture gone
    assert cached_clip.analysis.status == "queued"


def test_the_analysis_assesses_the_sample_a_batch_at_a_time_and_shows_the_best_frame(
    cached_clip, settings
):
    settings.ABVLMQ_CLIP_BATCH = 4
    scripted.ScriptedEngine.batches.clear()

    analysis_run(analysis_id=cached_clip.analysis.pk)

    assert scripted.ScriptedEngine.batches == [4, 4]
    frames = list(cached_clip.clip.sampled.all())
    assert [f.chosen for f in frames] == [i == 4 for i in range(8)]  # the scripted best
    assert [f.grade for f in frames] == ["Good"] * 4 + ["Excellent"] + ["Good"] * 3
    cached_clip.refresh_from_db()
    analysis = cached_clip.analysis
    assert (analysis.status, analysis.score, analysis.grade) == ("done", 10.0, "Excellent")
    assert cached_clip.intake["frame_index"] == frames[4].index
    shown = np.asarray(Image.open(cached_clip.image.open("rb")))
    assert (shown == np.asarray(Image.open(frames[4].image.open("rb")))).all()
    types = [e.type for e in analysis.events.order_by("seq")]
    assert types == ["structure", "structure", "plane", "score", "done"]


def test_the_clip_api_gives_the_timeline_and_serves_the_clip_with_ranges(cached_clip, resident):
    analysis_run(analysis_id=cached_clip.analysis.pk)
    client = api(resident)

    body = client.get(f"/api/scans/{cached_clip.pk}/clip/").json()

    assert (body["frames"], body["fps"], body["status"]) == (12, 6.0, "done")
    assert [f["time"] for f in body["sampled"]] == [0.0, 0.333, 0.5, 0.833, 1.0, 1.333, 1.5, 1.833]
    assert [f["chosen"] for f in body["sampled"]].count(True) == 1
    assert body["sampled"][0]["result"]["deductions"][0]["item"] == "GB.gallbladder.incomplete"
    frame = client.get(body["sampled"][4]["image_url"])
    assert frame.status_code == 200 and frame["Content-Type"] == "image/png"
    whole = b"".join(client.get(body["video_url"]).streaming_content)
    part = client.get(body["video_url"], HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206 and part.content == whole[100:200]
    assert part["Content-Range"] == f"bytes 100-199/{len(whole)}"


def test_self_assess_first_keeps_the_frames_grades_back_until_she_gives_hers(
    cached_clip, resident, instructor, cohort
):
    analysis_run(analysis_id=cached_clip.analysis.pk)
    url = f"/api/scans/{cached_clip.pk}/clip/"
    shown = api(resident).get(url).json()
    assert shown["concealed"] is False and all(f["grade"] for f in shown["sampled"])
    preference_set(user=resident, self_assess_first=True)

    body = api(resident).get(url).json()

    assert body["concealed"] is True
    assert api(resident).get(f"/api/scans/{cached_clip.pk}/").json()["analysis"]["concealed"]
    assert [f["time"] for f in body["sampled"]] == [f["time"] for f in shown["sampled"]]
    for frame in body["sampled"]:
        assert (frame["score"], frame["grade"], frame["confidence"], frame["result"]) == (
            None, "", None, {},
        )  # fmt: skip
    assert api(resident).get(body["sampled"][0]["image_url"]).status_code == 200
    # her instructor is on no such rule: he sees every frame's grade
    theirs = api(instructor).get(url).json()
    assert theirs["concealed"] is False and theirs["sampled"] == shown["sampled"]
    response = api(resident).post(
        f"/api/analyses/{cached_clip.analysis.pk}/self-assessment/",
        {"planes": ["GB"], "score": 7},
        format="json",
    )
    assert response.status_code == 201
    after = api(resident).get(url).json()
    assert after["concealed"] is False and after["sampled"] == shown["sampled"]


def test_outsiders_see_no_clip(cached_clip, people):
    for who in ("other_resident", "other_instructor"):
        client = api(people[who])
        assert client.get(f"/api/scans/{cached_clip.pk}/clip/").status_code == 404
        assert client.get(f"/api/scans/{cached_clip.pk}/clip.mp4").status_code == 404
    assert api(people["instructor"]).get(f"/api/scans/{cached_clip.pk}/clip/").status_code == 200


def test_a_multi_frame_dicom_is_a_clip_too(resident):
    data = Path(get_testdata_file("examples_ybr_color.dcm")).read_bytes()
    response = post(resident, "cine.dcm", data)
    scan = Scan.objects.get(pk=response.json()["id"])
    assert (scan.kind, scan.frames, scan.clip.sampled.count()) == ("dicom", 30, 8)
    analysis_run(analysis_id=scan.analysis.pk)
    assert Clip.objects.get(scan=scan).sampled.filter(chosen=True).count() == 1


def test_clip_limits_are_the_uploads_and_refusals_read_like_them(resident, settings):
    settings.ABVLMQ_CLIP_MAX_SECONDS = 1
    response = post(resident, "loop.mp4", mp4())  # 2 s
    assert response.status_code == 400
    assert response.json()["code"] == "too_long"
    settings.ABVLMQ_CLIP_MAX_SECONDS = 60
    settings.ABVLMQ_MAX_FRAMES = 10
    assert post(resident, "loop.mp4", mp4()).json()["code"] == "too_many_frames"
    assert not Scan.objects.exists()
