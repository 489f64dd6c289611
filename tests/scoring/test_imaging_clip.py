"""Cine clips through intake: multi-frame DICOM and MP4/MOV/AVI videos, each frame
de-identified as a still would be, limits on frames, duration, size and pixels, and the clip
stored as H.264 MP4 that decodes back."""

from __future__ import annotations

from fractions import Fraction
from io import BytesIO
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import ImageDraw, ImageFont
from pydicom.data import get_testdata_file

from scoring.imaging import IntakeError, IntakeLimits, load_scan
from scoring.imaging.clip import clip_kind, encode_mp4, load_clip, sample_indices
from trainer.phantoms import generate

CINE_BYTES = Path(get_testdata_file("examples_ybr_color.dcm")).read_bytes()  # 30 US frames


def phantom_frames(n: int = 12, index: int = 1):
    """Scanner screens (index 1 has screen furniture with burned-in text), seed per frame."""
    return [generate(index=index, seed=s)[0].convert("RGB") for s in range(n)]


def video(frames, fps: float, fmt: str, codec: str, pix_fmt: str = "yuv420p") -> bytes:
    out = BytesIO()
    with av.open(out, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = frames[0].size
        stream.pix_fmt = pix_fmt
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(image), "rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def decode(mp4: bytes) -> tuple[str, list[np.ndarray]]:
    with av.open(BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return stream.codec_context.name, frames


@pytest.mark.slow
def test_every_sampled_frame_of_a_dicom_clip_is_what_the_stills_intake_makes_of_it():
    data = CINE_BYTES

    clip = load_clip(data, sample=8)

    assert (clip.kind, clip.frames, round(clip.fps)) == ("dicom", 30, 30)
    assert clip.sample_indices == [1, 5, 9, 13, 16, 20, 24, 28]
    for index, sample in zip(clip.sample_indices, clip.samples, strict=True):
        still = load_scan(data, frame=index).image
        assert sample.size == still.size
        assert (np.asarray(sample) == np.asarray(still)).all()
    assert clip.is_ultrasound
    assert clip.metadata["crop_box"] == load_scan(data).metadata["crop_box"]


@pytest.mark.slow
def test_the_stored_clip_is_h264_with_every_frame_deidentified():
    frames = phantom_frames(12)
    data = video(frames, 6, "mp4", "libx264")

    clip = load_clip(data, sample=4)

    codec, stored = decode(clip.video)
    assert codec == "h264"
    assert len(stored) == 12
    assert stored[0].shape[:2] == (clip.height + clip.height % 2, clip.width + clip.width % 2)
    assert (clip.width, clip.height) != frames[0].size  # cropped to the sector
    # The furniture around the sector (where the screen text sits) is gone in every frame:
    # the stored frames are the size of the sector, not of the screen.
    assert all(f.shape[0] < frames[0].size[1] for f in stored)
    assert clip.sample_times == [round(i / 6, 3) for i in clip.sample_indices]


@pytest.mark.slow
def test_no_trace_of_burned_in_patient_text_survives_in_any_sampled_frame():
    """Every frame carries a patient name above the sector; losslessly encoded (FFV1), the
    clip with the name and the clip without it give identical de-identified frames."""
    plain = phantom_frames(6)
    named = []
    for image in plain:
        image = image.copy()
        ImageDraw.Draw(image).text((6, 34), "DOE^JANE MRN 0012345", fill=(255, 255, 255),
                                   font=ImageFont.load_default(14))  # fmt: skip
        named.append(image)
    clips = [load_clip(video(f, 6, "avi", "ffv1", "bgr0"), sample=6) for f in (plain, named)]

    assert clips[0].sample_indices == clips[1].sample_indices == list(range(6))
    for a, b in zip(clips[0].samples, clips[1].samples, strict=True):
        assert (np.asarray(a) == np.asarray(b)).all()
    assert any((np.asarray(p) != np.asarray(n)).any() for p, n in zip(plain, named, strict=True))


@pytest.mark.parametrize(
    ("fmt", "codec", "kind"), [("mov", "libx264", "mov"), ("avi", "mpeg4", "avi")]
)
@pytest.mark.slow
def test_mov_and_avi_are_read_too(fmt, codec, kind):
    data = video(phantom_frames(6, index=6), 5, fmt, codec)
    assert clip_kind(data) == kind
    clip = load_clip(data, sample=3)
    assert (clip.kind, clip.frames, len(clip.samples)) == (kind, 6, 3)


def test_a_still_is_no_clip():
    buf = BytesIO()
    generate(index=6, seed=0)[0].save(buf, format="PNG")
    assert clip_kind(buf.getvalue()) is None
    assert clip_kind(Path(get_testdata_file("US1_UNCR.dcm")).read_bytes()) is None


@pytest.mark.slow
def test_a_clip_longer_than_allowed_is_refused():
    data = video(phantom_frames(12, index=6), 6, "mp4", "libx264")  # 2 s
    with pytest.raises(IntakeError) as caught:
        load_clip(data, max_seconds=1)
    assert caught.value.code == "too_long"


@pytest.mark.slow
def test_a_clip_with_more_frames_than_allowed_is_refused():
    data = video(phantom_frames(12, index=6), 6, "mp4", "libx264")
    with pytest.raises(IntakeError) as caught:
        load_clip(data, limits=IntakeLimits(max_frames=5))
    assert caught.value.code == "too_many_frames"
    with pytest.raises(IntakeError) as caught:
        load_clip(CINE_BYTES, limits=IntakeLimits(max_frames=20))
    assert caught.value.code == "too_many_frames"


def test_size_and_pixel_limits_hold_for_clips():
    data = video(phantom_frames(4, index=6), 6, "mp4", "libx264")
    with pytest.raises(IntakeError) as caught:
        load_clip(data, limits=IntakeLimits(max_bytes=len(data) - 1))
    assert caught.value.code == "too_large"
    with pytest.raises(IntakeError) as caught:
        load_clip(data, limits=IntakeLimits(max_pixels=100_000))
    assert caught.value.code == "too_many_pixels"


def test_a_truncated_video_is_refused_as_corrupt():
    data = video(phantom_frames(8, index=6), 6, "mp4", "libx264")
    with pytest.raises(IntakeError) as caught:
        load_clip(data[: len(data) // 3])
    assert caught.value.code == "corrupt"


@pytest.mark.parametrize(
    ("frames", "k", "expected"),
    [(30, 8, [1, 5, 9, 13, 16, 20, 24, 28]), (3, 8, [0, 1, 2]), (1, 8, [0])],
)
def test_samples_spread_evenly(frames, k, expected):
    assert sample_indices(frames, k) == expected


def test_odd_sized_frames_encode():
    frames = [f.crop((0, 0, 101, 77)) for f in phantom_frames(3, index=6)]
    codec, stored = decode(encode_mp4(frames, 10))
    assert codec == "h264" and stored[0].shape == (78, 102, 3)
