"""scoring.live without the model: a frame's bytes refused before they are decoded, the head's
file and its read-outs, and what the page sees of a window of frames (smoothing, out of
distribution, a frozen screen)."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from scoring.calibration import PlaneCalibration
from scoring.live import FrameRefused, FrameResult, LiveHead, Smoother, decode_frame
from scoring.rubric import default_rubric

RUBRIC = default_rubric()
PLANES = tuple(RUBRIC.planes)
STRUCTURES = tuple(RUBRIC.structures)


def encoded(img: Image.Image, fmt: str) -> bytes:
    buf = BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_jpeg_or_png_frame_is_read(fmt):
    img = decode_frame(encoded(Image.new("RGB", (112, 90), (40, 40, 40)), fmt))
    assert img.size == (112, 90) and img.mode == "RGB"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"hello", "not_an_image"),
        (encoded(Image.new("RGB", (20, 20)), "GIF"), "not_an_image"),
        (b"\xff\xd8\xff" + b"\x00" * 100, "not_an_image"),  # a JPEG's signature, then junk
        (encoded(Image.new("L", (2000, 20)), "PNG"), "bad_size"),
        (encoded(Image.new("L", (4, 4)), "PNG"), "bad_size"),
        (b"\x89PNG\r\n\x1a\n" + bytes(600_000), "too_large"),
    ],
)
def test_a_frame_that_is_no_image_or_too_large_is_refused_with_its_reason(data, code):
    with pytest.raises(FrameRefused) as refused:
        decode_frame(data, max_bytes=512 * 1024)
    assert refused.value.code == code


def head(dim: int = 6) -> LiveHead:
    rng = np.random.default_rng(0)
    return LiveHead(
        planes=PLANES, structures=STRUCTURES, mean=rng.normal(size=dim),
        scale=rng.uniform(0.5, 2, dim), plane_w=rng.normal(size=(dim, len(PLANES))),
        plane_b=rng.normal(size=len(PLANES)), structure_w=rng.normal(size=(dim, len(STRUCTURES))),
        structure_b=rng.normal(size=len(STRUCTURES)), score_w=rng.normal(size=dim), score_b=6.0,
        calibration=PlaneCalibration((0.2, 0.9), (0.3, 0.8)),
    )  # fmt: skip


def test_the_head_is_saved_beside_a_checkpoint_and_reads_the_same(tmp_path):
    h = head()
    h.save(tmp_path, {"recipe": "test"})
    again = LiveHead.load(tmp_path)
    x = np.random.default_rng(1).normal(size=(5, 6))
    a, b = h.predict(x), again.predict(x)
    for key in ("planes", "structures", "score"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-5)
    assert np.allclose(a["planes"].sum(axis=1), 1) and (a["score"] >= 0).all()
    assert (a["score"] <= 10).all()
    assert again.calibration == h.calibration and again.confidence(0.55) == pytest.approx(0.55)
    assert LiveHead.load(tmp_path / "elsewhere") is None
    with pytest.raises(ValueError, match="another checkpoint"):
        h.predict(np.zeros((1, 7)))


def result(plane: str | None, p: float = 0.9, score: float = 7.0, grey: float = 0.0, ood=1.0):
    planes = dict.fromkeys(PLANES, (1 - p) / (len(PLANES) - 1))
    if plane:
        planes[plane] = p
    structures = dict.fromkeys(STRUCTURES, 0.1) | {"gallbladder": 0.8}
    return FrameResult(
        known=plane is not None, plane=plane, confidence=p if plane else 0.0, planes=planes,
        structures=structures, score=score, ood=ood, ood_threshold=10.0,
        grey=np.full((32, 32), grey, np.float32),
    )  # fmt: skip


def test_the_view_is_smoothed_over_the_window():
    s = Smoother(RUBRIC, window=1.5)
    s.add(result("GB", 0.9, 8.0, grey=10), now=0.0)
    s.add(result("GB", 0.7, 6.0, grey=20), now=0.2)
    view = s.add(result("RKL", 0.6, 7.0, grey=30), now=0.4)
    assert view["state"] == "scanning" and view["plane"] == "GB" and view["frames"] == 3
    assert view["confidence"] == pytest.approx((0.9 + 0.7) / 3, abs=1e-3)  # named 2 of 3
    assert view["quality"] == pytest.approx(7.0) and view["grade"] == "Good"
    assert [(x["id"], x["shown"]) for x in view["structures"]] == [
        ("gallbladder", True),
        ("right_lobe", False),
    ]
    # two seconds on, the old frames have left the window
    later = s.add(result("RKL", 0.8, 3.0, grey=40), now=2.5)
    assert later["plane"] == "RKL" and later["frames"] == 1 and later["grade"] == "Poor"


def test_mostly_unknown_frames_are_not_a_scan_of_a_known_plane():
    s = Smoother(RUBRIC)
    s.add(result("GB", grey=1), now=0.0)
    s.add(result(None, ood=30.0, grey=50), now=0.2)
    view = s.add(result(None, ood=40.0, grey=90), now=0.4)
    assert view["state"] == "unknown" and "plane" not in view
    assert view["message"] == "Not a scan of a known plane." and view["ood"] == 40.0


def test_a_picture_that_does_not_change_for_two_seconds_is_frozen():
    s = Smoother(RUBRIC)
    views = [s.add(result("GB", grey=5.0), now=t / 5) for t in range(12)]  # 2.2 s, the same
    assert views[5]["state"] == "scanning"  # 1 s still
    assert views[-1]["state"] == "frozen"
    assert s.add(result("GB", grey=60.0), now=2.4)["state"] == "scanning"  # the probe moved
