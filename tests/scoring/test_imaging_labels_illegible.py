"""No label typed inside the sector is legible after intake (issue 30): names, dates and plane
labels in grey 180 and white 235, DejaVu 12-18 px, typed over bright speckle, dark tissue and
the fan's dark bands of twelve 512 px phantoms. Legible is measured, not read: a label's strokes
stand out of what lies around them (each pixel against the mean of its 7 x 7 neighbourhood,
strokes against the pixels of the label's box between them); before intake they stand 40-150
levels out, after intake they must stand out no more than a tenth of that, or 6 levels."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest

from bench import deid
from scoring.imaging import load_scan
from scoring.imaging.sector import _box_sum, _dilate

LABELS = ("J.SMITH", "2026-03-14", "LT LIVER", "DOE JANE", "ID 482913", "RT KIDNEY")
UNDER = ("bright", "dark", "band")


def _stand_out(grey: np.ndarray, strokes: np.ndarray) -> float:
    """How far the strokes stand out of their 7 x 7 neighbourhood, against the rest of the
    label's box (2 px around the strokes, their antialiased edge left out)."""
    ones = np.ones(grey.shape, np.float32)
    lifted = grey - _box_sum(grey.astype(np.float32), 3) / _box_sum(ones, 3)
    ys, xs = np.nonzero(strokes)
    box = np.zeros(grey.shape, bool)
    box[ys.min() - 2 : ys.max() + 3, xs.min() - 2 : xs.max() + 3] = True
    between = box & ~_dilate(strokes)
    return float(lifted[strokes].mean() - lifted[between].mean())


def _labelled_phantoms(count: int = 12):
    made = 0
    for index in range(100):
        got = deid._sector(index, 21, 512)
        if got is None:
            continue
        img, mask = got
        screen = deid.Screen(512, 512)
        screen.img.paste(img, (0, 0))
        screen.sector[:] = mask
        rng = np.random.default_rng([21, index])
        labels = []
        for k, colour in enumerate(("grey", "white")):
            text = LABELS[(2 * made + k) % len(LABELS)]
            first = len(screen.inside)
            want = UNDER[(made + k) % len(UNDER)]
            deid.place_label(screen, rng, text, deid.INSIDE_COLOURS[colour], colour, want)
            if len(screen.inside) > first:
                strokes = np.zeros((512, 512), bool)
                glyphs = np.concatenate(screen.inside[first:])
                strokes[glyphs[:, 0], glyphs[:, 1]] = True
                labels.append((f"{text} ({screen.inside_kind[-1]})", strokes))
        yield screen, labels
        made += 1
        if made == count:
            return


def _stored(screen, **intake) -> np.ndarray:
    buf = BytesIO()
    screen.img.save(buf, format="PNG")
    result = load_scan(buf.getvalue(), **intake)
    x0, y0, x1, y1 = result.crop_box
    grey = np.zeros((512, 512), np.float32)
    grey[y0:y1, x0:x1] = np.asarray(result.image.convert("L"))
    return grey


@pytest.mark.slow
def test_no_label_typed_inside_the_sector_is_legible_after_intake():
    seen = 0
    kinds = set()
    for screen, labels in _labelled_phantoms():
        before = np.asarray(screen.img.convert("L")).astype(np.float32)
        after = _stored(screen)
        for name, strokes in labels:
            was, now = _stand_out(before, strokes), _stand_out(after, strokes)
            assert was >= 30, f"{name} was not legible to begin with ({was:.0f})"
            assert now <= max(6.0, 0.1 * was), f"{name}: {was:.0f} levels before, {now:.0f} after"
            seen += 1
            kinds.add(name.split("(")[1])
    assert seen >= 20
    assert len(kinds) >= 5  # grey and white over bright, dark and banded tissue


@pytest.mark.slow
def test_the_measure_sees_labels_that_intake_without_the_detector_leaves():
    """The same labels through Tesseract and the pixel rules alone: some stay legible, so the
    measure above can fail."""
    legible = 0
    for screen, labels in _labelled_phantoms(4):
        before = np.asarray(screen.img.convert("L")).astype(np.float32)
        after = _stored(screen, detector="off")
        for _, strokes in labels:
            was, now = _stand_out(before, strokes), _stand_out(after, strokes)
            legible += now > max(6.0, 0.1 * was)
    assert legible >= 2
