"""Intake fast and exact (issue 30): the detector looks at what needs looking at, Tesseract
verifies what it left, and a clip's frames keep no text that the still's intake removes."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from bench import deid
from bench.intake import scanner_screen
from scoring.imaging import (
    Furniture,
    IntakeLimits,
    deidentify,
    find_scan_area,
    load_scan,
    ocr,
    textfind,
)
from scoring.imaging.clip import deidentify_frames
from scoring.imaging.decoded import Decoded
from trainer.phantoms import generate


def _png(img: Image.Image) -> bytes:
    buf = BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_a_clean_phantom_is_not_read_by_tesseract_when_the_detector_has_no_doubt(monkeypatch):
    calls = []
    real = ocr.read_words
    monkeypatch.setattr(ocr, "read_words", lambda rgb: calls.append(rgb.shape) or real(rgb))
    img, _ = generate(index=0, seed=777, size=512)  # no screen text of its own
    textfind._seen.clear()
    result = load_scan(_png(img.convert("RGB")))
    assert result.is_ultrasound
    assert result.metadata["text_regions_masked"] == 0
    assert calls == []


def test_without_the_detector_tesseract_reads_the_whole_image(monkeypatch):
    calls = []
    real = ocr.read_words
    monkeypatch.setattr(ocr, "read_words", lambda rgb: calls.append(rgb.shape) or real(rgb))
    img, _ = generate(index=0, seed=777, size=512)
    result = load_scan(_png(img.convert("RGB")), detector="off")
    assert calls and calls[0][:2] == (result.image.height, result.image.width)


def test_tesseract_reads_the_parts_it_is_given_and_places_words_back():
    """Two lines of text far apart, read in one call on a card of the two parts."""
    card = np.zeros((400, 500, 3), np.uint8)
    img = Image.fromarray(card)
    font = ImageFont.load_default(22)
    ImageDraw.Draw(img).text((20, 30), "DOE JANE 0012345", fill=(220, 220, 220), font=font)
    ImageDraw.Draw(img).text((240, 330), "SMITH JOHN", fill=(220, 220, 220), font=font)
    rgb = np.asarray(img).copy()
    within = np.zeros(rgb.shape[:2], bool)
    within[20:70, 10:300] = True
    within[320:370, 230:400] = True
    words = ocr._read_within(rgb, within)
    assert len(words) >= 3
    for (x0, y0, x1, y1), _ in words:
        assert within[(y0 + y1) // 2, (x0 + x1) // 2]
    masked, count = ocr.mask_words(rgb, np.ones(rgb.shape[:2], bool), within)
    assert count >= 3
    assert ocr.read_words(masked) == []


def test_an_empty_region_to_verify_reads_nothing_and_changes_nothing():
    img, _ = generate(index=0, seed=777, size=224)
    rgb = np.asarray(img.convert("RGB")).copy()
    out, count = ocr.mask_words(rgb, np.ones(rgb.shape[:2], bool), np.zeros(rgb.shape[:2], bool))
    assert count == 0 and np.array_equal(out, rgb)


def _changed(rgb: np.ndarray, result) -> np.ndarray:
    """Pixels of the frame that intake changed by more than 8 levels or left out of its crop,
    in the frame's own coordinates."""
    x0, y0, x1, y1 = result.crop_box
    stored = np.zeros_like(rgb)
    stored[y0:y1, x0:x1] = np.asarray(result.image)
    return np.abs(stored.astype(int) - rgb.astype(int)).max(axis=2) > 8


def _frames_of(screens: list[Image.Image], n: int) -> list[np.ndarray]:
    """``n`` frames, the i-th showing ``screens[i * len(screens) // n]``: the anatomy in the
    sector moves a pixel or two a frame, the screen around it and the labels typed on the
    screen stay put (the pixels where a screen differs from the first, which has none)."""
    frames = []
    base = np.asarray(screens[0])
    _, sector = find_scan_area(base)
    for i in range(n):
        arr = np.asarray(screens[i * len(screens) // n])
        typed = (arr != base).any(axis=2)
        moved = np.roll(base, (i % 5) - 2, axis=0)
        frame = np.where(sector[:, :, None], moved, base)
        frames.append(np.where(typed[:, :, None], arr, frame).astype(np.uint8))
    return frames


def _clip_keeps_no_text_the_still_removes(frames: list[np.ndarray], keep=frozenset()) -> None:
    decoded = (Decoded(rgb=f.copy(), frames=len(frames), frame_index=i, metadata={})
               for i, f in enumerate(frames))  # fmt: skip
    stored, _, furniture = deidentify_frames(decoded, len(frames), "png", "required", set(keep),
                                             IntakeLimits())  # fmt: skip
    for i, (rgb, (image, box)) in enumerate(zip(frames, stored, strict=True)):
        still = load_scan(_png(Image.fromarray(rgb)))
        in_clip = type("R", (), {"crop_box": box, "image": image})
        masked_by_still = _changed(rgb, still)
        # a pixel the still masked and the clip left as it was would be text the clip kept
        kept = masked_by_still & ~_changed(rgb, in_clip)
        assert kept.sum() <= 0.001 * kept.size, (i, int(kept.sum()))
    assert furniture.runs == 1  # the screen around the sector was looked at once


@pytest.mark.slow
def test_a_clips_frames_keep_no_text_that_the_stills_intake_removes():
    """Frames of one clip share the furniture and carry what text was found: whatever pixel the
    still's intake changes in a frame (the text it masks), the clip's intake changes too."""
    plain = scanner_screen(1, 4545, (640, 480), labels=False)
    typed = scanner_screen(1, 4545, (640, 480))
    _clip_keeps_no_text_the_still_removes(_frames_of([plain, typed, typed, typed], 7))


@pytest.mark.slow
@pytest.mark.parametrize("appears", [2, 3, 6])
def test_a_label_typed_mid_clip_is_illegible_from_the_frame_it_appears(appears):
    """Frames between two with the lift view rely on it for grey labels over bright tissue:
    what it finds is masked in them after the fact, and at the clip's end the last frame gets
    it too. In every frame that shows the label, it is no more legible in the clip than the
    still's intake leaves it (its strokes against their neighbourhood: see
    test_imaging_labels_illegible)."""
    from tests.scoring.test_imaging_labels_illegible import _stand_out

    plain = scanner_screen(9, 4646, (640, 480), labels=False)
    typed = scanner_screen(9, 4646, (640, 480))  # a label the lift view alone finds whole
    strokes = (np.asarray(typed) != np.asarray(plain)).any(axis=2)
    assert strokes.sum() > 100
    n = 8
    frames = _frames_of([plain] * appears + [typed] * (n - appears), n)
    decoded = (Decoded(rgb=f.copy(), frames=n, frame_index=i, metadata={})
               for i, f in enumerate(frames))  # fmt: skip
    stored, _, _ = deidentify_frames(decoded, n, "png", "required", set(), IntakeLimits())
    for i in range(appears, n):
        rgb = frames[i]
        was = _stand_out(rgb.max(axis=2).astype(np.float32), strokes)
        still = _stand_out(_grey(rgb, load_scan(_png(Image.fromarray(rgb)))), strokes)
        image, box = stored[i]
        clip = _stand_out(_grey(rgb, type("R", (), {"crop_box": box, "image": image})), strokes)
        assert was >= 15  # legible before (the strokes with their antialiased edges)
        assert clip <= max(6.0, 0.1 * was, still + 3), (i, was, still, clip)


def _grey(rgb: np.ndarray, result) -> np.ndarray:
    """The stored image in the frame's coordinates (left out of the crop: black), its
    brightest channel."""
    x0, y0, x1, y1 = result.crop_box
    out = np.zeros(rgb.shape[:2], np.float32)
    out[y0:y1, x0:x1] = np.asarray(result.image).max(axis=2)
    return out


def test_a_clip_looks_at_its_furniture_again_when_the_screen_changes():
    screen = scanner_screen(2, 4545, (640, 480))
    arr = np.asarray(screen)
    other = arr.copy()
    other[:30] = 255 - other[:30]  # the title bar changed: another patient's screen
    furniture = Furniture()
    for i, rgb in enumerate((arr, arr, other)):
        deidentify(Decoded(rgb=rgb.copy(), frames=3, frame_index=i, metadata={}), "png",
                   furniture=furniture)  # fmt: skip
    assert furniture.runs == 2


# --------------------------------------------------------------------------- anatomy kept


def _rims(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sector, and the pixels the pixel rules take for text when they look everywhere (as
    they did before the detector bounded them): bright thin anatomy."""
    from scoring.imaging import mask_text

    _, sector = find_scan_area(rgb)
    _, rims = mask_text(rgb * sector[:, :, None], sector)
    return sector, rims


@pytest.mark.parametrize(
    ("what", "make"),
    [
        ("vessel walls and near-field reverberation", lambda: deid._sector(17, 7, 512)[0]),
        ("the diaphragm", lambda: _clean(["LLA"])),
    ],
)
def test_bright_anatomy_survives_intake(what, make):
    rgb = np.asarray(make().convert("RGB"))
    sector, rims = _rims(rgb)
    assert rims.sum() > 50, f"{what}: the phantom has no bright thin anatomy to keep"
    result = load_scan(_png(Image.fromarray(rgb)))
    x0, y0, x1, y1 = result.crop_box
    after = np.zeros_like(rgb)
    after[y0:y1, x0:x1] = np.asarray(result.image)
    changed = np.abs(after.astype(int) - rgb.astype(int)).max(axis=2) > 8
    assert (changed & rims).sum() <= 0.01 * rims.sum(), what
    assert (changed & sector).sum() <= 0.003 * sector.sum(), what


def _clean(planes: list[str]) -> Image.Image:
    """A phantom of ``planes`` with no screen text of its own."""
    for index in range(40):
        img, rec = generate(index=index, seed=31, size=512, planes=planes)
        if not rec.get("chrome"):
            return img
    raise AssertionError("no phantom without chrome")


def test_clean_phantoms_lose_no_more_than_a_fraction_of_their_sector():
    shares = [deid.changed_share(np.asarray(got[0])) for i in range(30)
              if (got := deid._sector(i, 5, 512)) is not None]  # fmt: skip
    assert len(shares) >= 10
    assert max(shares) <= 0.003, shares


def test_at_most_the_set_number_of_intakes_run_at_once(monkeypatch):
    """A burst of uploads in the web process's threads: intakes wait for a slot (memory)."""
    import threading
    import time

    import scoring.imaging as intake

    running, most = [0], [0]
    lock = threading.Lock()
    real = intake.deidentify

    def counted(*a, **k):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.05)
            return real(*a, **k)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(intake, "deidentify", counted)
    img, _ = generate(index=2, seed=777, size=224)
    data = _png(img.convert("RGB"))
    threads = [threading.Thread(target=load_scan, args=(data,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 2  # ABVLMQ_INTAKE_CONCURRENCY unset: two at once, the others waited
