"""The learned text detector in intake (scoring.imaging.textfind): PP-OCRv4, for real.

Labels typed inside the sector, the kind Tesseract lets through (grey over bright tissue, over
the fan's dark band), are found and filled; speckle, colour Doppler and reverberation are not
taken for text on clean phantoms and on real vendor screens; a model file that is not the one
measured is refused, and the upload with it.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom.data import get_testdata_file

from bench import deid
from scoring.imaging import IntakeError, load_scan, textfind
from scoring.imaging.sector import find_scan_area


def _png(img: Image.Image) -> bytes:
    buf = BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_components_are_8_connected_boxes():
    mask = np.zeros((10, 12), bool)
    mask[1, 1:4] = True
    mask[2, 4] = True  # touches the run above only by a corner: the same component
    mask[6:9, 8:11] = True
    mask[6, 0] = True
    assert sorted(textfind.components(mask)) == [(1, 1, 3, 5), (6, 0, 7, 1), (6, 8, 9, 11)]
    assert textfind.components(np.zeros((4, 4), bool)) == []


def test_labels_typed_inside_the_sector_are_removed_where_tesseract_alone_leaves_them():
    """Four generated screens (bench.deid: a name and an ID inside the fan, each in grey or
    white over bright tissue, dark tissue or a dark band, the six kinds in turn)."""
    report = deid.measure(4, seed=3, baseline=True)
    # the first screen's grey name over bright tissue is all but invisible and is missed (the
    # bench's figures and the closing note of issue 21 say how often)
    # measured: 0.76 with the detector, 0.35 without
    assert report["phi_recall_inside_sector"] >= 0.7
    assert report["without_text_detector"]["phi_recall_inside_sector"] <= 0.5
    assert report["ocr_words_left"] == 0
    # title bars and footers: a line cut by the crop's edge is looked at whole
    assert report["phi_recall_outside_sector"] == 1.0


def test_a_grey_name_over_the_dark_band_is_not_readable_after_intake():
    """The issue's own case: a grey "DOE JANE" over the fan's dark band, which was stored as
    readable as it was uploaded before the detector."""
    for index in range(60):
        got = deid._sector(index, 3, 448)
        if got is None:
            continue
        img, mask = got
        screen = deid.Screen(648, 548)
        screen.img.paste(img, (100, 50))
        screen.sector[50:498, 100:548] = mask
        rng = np.random.default_rng([3, index])
        deid.place_label(screen, rng, "DOE JANE", (180, 180, 180), "grey", "band")
        if screen.inside_kind and screen.inside_kind[0] == "grey_band":
            break
    assert screen.inside_kind[0] == "grey_band"
    before = np.asarray(screen.img)
    result = load_scan(_png(screen.img))
    after = np.asarray(result.image)
    assert result.metadata["text_regions_masked"] >= 1
    for glyph in screen.inside:
        assert deid._survives(glyph, before, after, result.crop_box, 1) <= 0.1
    without = load_scan(_png(screen.img), detector="off")  # Tesseract and the pixel rules only
    kept = [deid._survives(g, before, np.asarray(without.image), without.crop_box, 1) > 0.1
            for g in screen.inside]  # fmt: skip
    assert sum(kept) >= len(kept) // 2


@pytest.mark.parametrize("n", [18, 30, 45])
def test_a_small_grey_name_over_bright_fine_speckle_is_found_whole(n):
    """bench.deid seed 11's screens 12, 21 and 30: "SMITH JOHN" and "GARCIA LUIS" in 12-13 px grey
    (180) over bright, fine speckle (a mean of about 146), readable to the eye, which the image
    view and the key view both missed (stored unchanged), or found from the middle on ("GARC"
    left). Every pixel of every letter lies in what the detector marks."""
    screen = deid.screen(n, 11, deid._fonts())
    assert screen is not None and screen.inside_kind[0] == "grey_bright"
    name = [g for g, kind in zip(screen.inside, screen.inside_kind, strict=True)
            if kind == "grey_bright"]  # fmt: skip
    rgb = np.asarray(screen.img)
    found, _ = textfind.find_text(rgb * screen.sector[:, :, None], screen.sector)
    for glyph in name:
        assert found[glyph[:, 0], glyph[:, 1]].all(), glyph.min(axis=0)


def test_a_flat_colour_is_a_labels_and_carries_its_box_to_the_first_letter():
    """bench.deid seed 11's screen 30: "GARCIA LUIS" in 13 px grey over bright speckle, whose
    network box began at the "I" ("GARC" was stored readable). The label's fill level, found in
    a box over its last letters, carries the box to its first letter and no further."""
    screen = deid.screen(45, 11, deid._fonts())
    assert screen is not None
    name = [g for g, kind in zip(screen.inside, screen.inside_kind, strict=True)
            if kind == "grey_bright"]  # fmt: skip
    pixels = np.concatenate(name)
    (top, left), (bottom, right) = pixels.min(axis=0), pixels.max(axis=0) + 1
    top, bottom = int(top) - 4, int(bottom) + 4
    grey = np.asarray(screen.img.convert("L"))
    box = ((left + right) // 2, top, int(right) + 2, bottom)  # over "LUIS"
    level, rate = textfind.flat_level(grey, box)
    assert level == 180 and rate < 0.02
    x0, y0, x1, y1 = textfind.extend_along_line(grey, box, level, rate)
    line = bottom - top
    assert left - 2 * line <= x0 <= left and right <= x1 <= right + 2 * line
    assert (y0, y1) == (top, bottom)
    # the speckle two lines below has no fill colour, so there is nothing to carry
    below = (box[0], top + 2 * line, box[2], bottom + 2 * line)
    assert textfind.flat_level(grey, below) is None
    # nor has a smooth patch whose levels come in even steps (a quantised scanner image)
    steps = (np.arange(240)[None, :] // 3 % 40 * 2 + 100).repeat(80, axis=0).astype(np.uint8)
    assert textfind.flat_level(steps, (100, 20, 180, 40)) is None


def test_speckle_is_not_text_on_clean_phantoms():
    """Phantoms without any screen text: the detector marks little. Measured on these eight:
    0.7 % of the sector on average, nothing on six, 4.6 % and 1.2 % on two whose acoustic
    shadows hold horizontal bands, which the network scores as lines of text (a known
    weakness: those boxes are filled from their neighbours)."""
    shares = []
    for index in range(40):
        got = deid._sector(index, 5, 448)
        if got is None:  # one with its own screen furniture
            continue
        img, _ = got
        share = deid.flagged_share(np.asarray(img))
        shares.append(share)
        if len(shares) == 8:
            break
    assert len(shares) == 8
    assert float(np.mean(shares)) <= 0.015, shares
    assert sorted(shares)[-3] <= 0.01, shares  # all but the worst two
    assert max(shares) <= 0.06, shares


def _intake_share(data: bytes) -> tuple[float, int]:
    """Intake, with the share of the sector the detector marked on the way."""
    share, result = deid.intake_flagged_share(data)
    assert result.is_ultrasound and share is not None
    return share, int(result.metadata["text_regions_masked"])


@pytest.mark.parametrize(
    ("name", "most"),
    [
        ("US1_UNCR.dcm", 0.03),  # power Doppler: the flow is not text ("PWR" on the bars is)
        ("OBXXXX1A.dcm", 0.03),  # probe in air: reverberation bands, a measurement caption
        ("examples_ybr_color.dcm", 0.01),  # JPEG baseline cardiac cine
        ("examples_palette.dcm", 0.01),  # a palette image: no key view on quantised levels
    ],
)
def test_real_vendor_screens_lose_little_of_their_sector(name, most):
    path = get_testdata_file(name)
    assert path is not None
    share, _ = _intake_share(open(path, "rb").read())  # noqa: SIM115
    assert share <= most


def test_a_cyan_title_over_the_sectors_shoulder_is_removed_and_is_not_colour_doppler():
    """bench.deid seed 11's screen 2: a 26 px cyan title line hangs over a convex sector's
    shoulder. Its letters in the sector were 1.5 % of the sector in vivid colour, so it passed for
    colour Doppler, the detector looked at the darkest channel (cyan's 90 over the bar's 38), and
    the bottoms of "MERCY" were stored. Flow is drawn in blobs; letters are strokes."""
    screen = deid.screen(1, 11, deid._fonts())
    assert screen is not None
    before = np.asarray(screen.img)
    result = load_scan(_png(screen.img))
    after = np.asarray(result.image)
    (x0, y0, x1, y1), sector = find_scan_area(before)  # as intake sees it: the title's in it
    inside = sector[y0:y1, x0:x1]
    assert not textfind.is_doppler(before[y0:y1, x0:x1] * inside[:, :, None], inside)
    for glyph in screen.chars:
        assert deid._survives(glyph, before, after, result.crop_box, 1) <= 0.1, glyph.min(axis=0)


def test_colour_flow_is_colour_doppler():
    rng = np.random.default_rng(2)
    rgb = np.repeat(rng.integers(20, 200, (200, 200, 1), dtype=np.uint8), 3, axis=2)
    sector = np.ones((200, 200), bool)
    assert not textfind.is_doppler(rgb, sector)
    rgb[80:100, 60:110] = (200, 30, 20)  # a vessel's flow, toward the probe
    rgb[100:112, 60:110] = (30, 60, 220)  # and away from it
    assert textfind.is_doppler(rgb, sector)


def test_labels_on_a_real_aloka_screen_are_found():
    """GDCM's ALOKA sample has "LOI" and a depth "12." typed inside its sector."""
    path = get_testdata_file("gdcm-US-ALOKA-16.dcm")
    assert path is not None
    share, regions = _intake_share(open(path, "rb").read())  # noqa: SIM115
    assert regions >= 2
    assert share <= 0.02


def test_a_label_on_a_tile_seam_of_a_large_image_is_found():
    """Large sectors go through the network in tiles; a label across a seam is found whole."""
    rng = np.random.default_rng(4)
    h, w = 700, 1400
    tissue = rng.gamma(2.0, 30.0, (h // 4, w // 4)).clip(0, 255).astype(np.uint8)
    grey = np.asarray(Image.fromarray(tissue).resize((w, h), Image.Resampling.BICUBIC))
    img = Image.fromarray(np.stack([grey] * 3, axis=2))
    seam = int(textfind.MAX_INPUT_SIDE / textfind.SCALE) - textfind.TILE_OVERLAP
    font = ImageFont.truetype(deid.DEJAVU[0], 16) if deid.Path(deid.DEJAVU[0]).is_file() else None
    ImageDraw.Draw(img).text((seam - 60, 300), "MULLER ANNA", fill=(235, 235, 235), font=font)
    rgb = np.asarray(img)
    found, count = textfind.find_text(rgb, np.ones((h, w), bool))
    assert count >= 1
    ink = (np.asarray(img.convert("L")) >= 230) & (grey < 230)  # the label's, not the tissue's
    ink[:, : seam - 65] = False
    ink[:, seam + 70 :] = False
    ink[:280] = False
    ink[330:] = False
    assert ink.sum() > 150
    assert found[ink].mean() >= 0.95


def test_the_detector_can_be_left_off_for_bulk_phantom_work():
    img, _ = deid._sector(1, 3, 384) or deid._sector(2, 3, 384)
    result = load_scan(_png(img), ocr="off")
    assert result.metadata["text_regions_masked"] == 0
    assert "text_regions_masked" in result.metadata


def test_a_model_file_that_is_not_the_measured_one_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "det.onnx"
    fake.write_bytes(b"not the PP-OCRv4 detector")
    monkeypatch.setenv(textfind.MODEL_ENV, str(fake))
    textfind._session.cache_clear()
    try:
        assert not textfind.available()
        img, _ = deid._sector(1, 3, 384) or deid._sector(2, 3, 384)
        with pytest.raises(IntakeError) as err:
            load_scan(_png(img))
        assert err.value.code == "text_detector_unavailable"
        # "optional" stores the scan with the other checks, as for Tesseract
        assert load_scan(_png(img), ocr="optional", detector="optional").is_ultrasound
    finally:
        monkeypatch.delenv(textfind.MODEL_ENV)
        textfind._session.cache_clear()
    assert textfind.available()


def test_the_same_pixels_are_looked_at_once(monkeypatch):
    """A scan sent again gets the boxes it got the first time, without the network; other
    pixels are looked at afresh."""
    s = next(x for n in range(20) if (x := deid.screen(n, 3, deid._fonts())) is not None)
    data = _png(s.img)
    first = load_scan(data)
    calls = []
    real = textfind.probability
    monkeypatch.setattr(textfind, "probability", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = load_scan(data)
    assert calls == []
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))
    assert again.metadata["text_regions_masked"] == first.metadata["text_regions_masked"] >= 1
    other = np.asarray(s.img).copy()
    other[0, 0] = 255 - other[0, 0]  # a pixel outside the sector: the crop is the same...
    ys, xs = s.sector.nonzero()
    other[ys[len(ys) // 2], xs[len(xs) // 2]] ^= 1  # ...one in the middle of the sector differs
    load_scan(_png(Image.fromarray(other)))
    assert calls
