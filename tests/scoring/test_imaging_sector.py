"""Scan intake: finding the scan sector, wiping text, and telling scans from other pictures."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

from scoring.imaging import find_scan_area, load_scan

W, H = 480, 360


def speckle(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Ultrasound-like speckle: Rayleigh noise, smoothed a little, dimmer with depth, <= 190."""
    noise = rng.rayleigh(1.0, (h + 1, w + 1))
    grains = (noise[:-1, :-1] + noise[1:, :-1] + noise[:-1, 1:] + noise[1:, 1:]) / 4
    depth = np.linspace(1.0, 0.6, h)[:, None]
    return np.clip(grains * 75 * depth, 0, 190).astype(np.uint8)


def fan_mask(h: int, w: int, apex_x: float, apex_y: float, r0: float, r1: float, half_deg: float):
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(xx - apex_x, yy - apex_y)
    angle = np.degrees(np.arctan2(xx - apex_x, yy - apex_y))
    return (r >= r0) & (r <= r1) & (np.abs(angle) <= half_deg)


def bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def png(img: Image.Image) -> bytes:
    buf = BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def screenshot(seed: int = 0):
    """A curvilinear scan on a black screen with white text around and inside the fan.

    Returns the PNG bytes, the fan mask, and masks of the outside and inside text pixels.
    """
    rng = np.random.default_rng(seed)
    fan = fan_mask(H, W, W / 2, -60, 110, 400, 36)
    gray = np.where(fan, speckle(rng, H, W), 0).astype(np.uint8)
    img = Image.fromarray(gray, "L").convert("RGB")
    font = ImageFont.load_default()
    text_layer = Image.new("L", (W, H), 0)
    outside = [
        ((6, 6), "ST ELSEWHERE HOSP"),
        ((6, 20), "DOE^JANE 1970-01-01"),
        ((360, 6), "C5-1 4cm"),
    ]
    inside = [((205, 150), "LIVER"), ((210, 250), "RT KIDNEY")]
    for xy, text in outside + inside:
        ImageDraw.Draw(img).text(xy, text, fill=(255, 255, 255), font=font)
        ImageDraw.Draw(text_layer).text(xy, text, fill=255, font=font)
    drawn = np.asarray(text_layer) > 100
    top = np.zeros((H, W), bool)
    top[:40] = True
    return png(img), fan, drawn & top, drawn & ~top


# --- the sector ---------------------------------------------------------------------------------


def test_find_scan_area_finds_a_curvilinear_fan() -> None:
    rng = np.random.default_rng(1)
    fan = fan_mask(H, W, W / 2, -60, 110, 400, 36)
    img = np.where(fan, speckle(rng, H, W), 0).astype(np.uint8)
    box, mask = find_scan_area(img)
    expected = bbox(fan)
    assert all(abs(a - b) <= 3 for a, b in zip(box, expected, strict=True))
    assert mask.shape == img.shape and mask.dtype == bool
    assert (mask & fan).sum() / fan.sum() > 0.98  # covers the fan
    assert (mask & ~fan).sum() / fan.sum() < 0.05  # and little else


def test_find_scan_area_finds_a_linear_rectangle_with_an_anechoic_hole() -> None:
    rng = np.random.default_rng(2)
    img = np.zeros((300, 400, 3), np.uint8)
    img[60:260, 30:370] = speckle(rng, 200, 340)[:, :, None]
    img[120:200, 150:250] = 0  # a full bladder: black, but part of the scan
    box, mask = find_scan_area(img)
    assert box == (30, 60, 370, 260)
    assert mask[120:200, 150:250].all()


def test_find_scan_area_returns_the_whole_frame_when_there_is_no_sector() -> None:
    box, mask = find_scan_area(np.zeros((100, 120), np.uint8))
    assert box == (0, 0, 120, 100)
    assert mask.all()


def test_a_screenshot_loses_the_text_around_the_fan_and_inside_it() -> None:
    data, fan, outside_text, inside_text = screenshot()
    result = load_scan(data)
    assert result.is_ultrasound, result.message
    x0, y0, x1, y1 = result.crop_box
    expected = bbox(fan)
    assert all(abs(a - b) <= 3 for a, b in zip(result.crop_box, expected, strict=True))
    # Outside text: cropped away, or zeroed where the crop box still reaches it.
    pixels = np.asarray(result.image)
    canvas = np.zeros((H, W, 3), np.uint8)
    canvas[y0:y1, x0:x1] = pixels
    assert canvas[outside_text].max() == 0
    # Inside text: no longer bright, filled in from the speckle around it.
    assert canvas[inside_text].max() < 200
    assert 30 < canvas[inside_text].mean() < 150
    assert result.metadata["text_pixels_masked"] >= inside_text.sum()


def test_speckle_itself_is_left_alone() -> None:
    data, fan, _, inside_text = screenshot(seed=3)
    original = np.asarray(Image.open(BytesIO(data)).convert("L"))
    result = load_scan(data)
    x0, y0, x1, y1 = result.crop_box
    out = np.asarray(result.image)[:, :, 0]
    region = fan[y0:y1, x0:x1]
    far_from_text = region.copy()
    ys, xs = np.nonzero(inside_text)
    far_from_text[ys.min() - y0 - 8 : ys.max() - y0 + 8, xs.min() - x0 - 8 : xs.max() - x0 + 8] = (
        False
    )
    unchanged = out[far_from_text] == original[y0:y1, x0:x1][far_from_text]
    assert unchanged.mean() > 0.999


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    apex_x=st.floats(180, 300),
    r0=st.floats(20, 120),
    depth=st.floats(150, 300),
    half_deg=st.floats(20, 45),
)
@pytest.mark.slow
def test_any_reasonable_fan_is_found_and_kept(
    seed: int, apex_x: float, r0: float, depth: float, half_deg: float
) -> None:
    rng = np.random.default_rng(seed)
    fan = fan_mask(H, W, apex_x, -40, r0, r0 + depth, half_deg)
    gray = np.where(fan, speckle(rng, H, W), 0).astype(np.uint8)
    result = load_scan(png(Image.fromarray(gray)))
    assert result.is_ultrasound, result.message
    x0, y0, x1, y1 = result.crop_box
    kept = fan[y0:y1, x0:x1].sum() / fan.sum()
    assert kept > 0.98
    assert (x1 - x0) * (y1 - y0) <= 1.1 * np.prod(np.subtract(bbox(fan)[2:], bbox(fan)[:2]))


# --- not ultrasound -----------------------------------------------------------------------------


def photo(seed: int = 0) -> Image.Image:
    """A colourful outdoor-like picture: sky, grass, a sun, some flowers."""
    rng = np.random.default_rng(seed)
    img = np.zeros((H, W, 3), np.float64)
    sky = np.linspace(0, 1, H // 2)[:, None, None]
    img[: H // 2] = (1 - sky) * [70, 130, 230] + sky * [170, 210, 250]
    img[H // 2 :] = [50, 150, 40]
    img += rng.normal(0, 12, img.shape)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    draw.ellipse((360, 30, 430, 100), fill=(255, 210, 40))
    for _ in range(30):
        x, y = int(rng.integers(0, W)), int(rng.integers(H // 2, H))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x, y, x + 12, y + 12), fill=colour)
    return pil


def document() -> Image.Image:
    """A screenshot of a text document: white page, black lines of text."""
    img = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    for i in range(20):
        draw.text(
            (20, 15 + 16 * i),
            "Patient report: liver normal in size and echotexture.",
            fill=0,
            font=font,
        )
    return img


@pytest.mark.parametrize(
    ("picture", "why"),
    [(photo, "strongly coloured"), (document, "white or light")],
    ids=["photo", "document"],
)
def test_a_picture_that_is_not_a_scan_is_recognised(
    picture: Callable[[], Image.Image], why: str
) -> None:
    result = load_scan(png(picture()))
    assert result.is_ultrasound is False
    assert result.message is not None
    assert result.message.startswith("This does not look like an ultrasound scan: ")
    assert why in result.message
    assert result.crop_box == (0, 0, W, H)
    assert result.image.size == (W, H)


def test_a_blank_image_is_not_a_scan() -> None:
    result = load_scan(png(Image.new("L", (200, 150), 0)))
    assert result.is_ultrasound is False
    assert "blank" in (result.message or "")


@pytest.mark.slow
def test_a_colour_doppler_scan_is_still_a_scan() -> None:
    rng = np.random.default_rng(5)
    fan = fan_mask(H, W, W / 2, -60, 110, 400, 36)
    gray = np.where(fan, speckle(rng, H, W), 0).astype(np.uint8)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    flow = fan_mask(H, W, W / 2, -60, 180, 300, 15)
    rgb[flow] = [220, 40, 30]  # a colour box of flow: red
    result = load_scan(png(Image.fromarray(rgb)))
    assert result.is_ultrasound, result.message
    out = np.asarray(result.image)
    assert (out[:, :, 0].astype(int) - out[:, :, 2] > 100).sum() > 0.8 * flow.sum()  # kept
