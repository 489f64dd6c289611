"""The OCR check after masking (scoring.imaging.ocr): Tesseract, for real."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from scoring.imaging import IntakeError, load_scan
from scoring.imaging.ocr import mask_words, read_words
from trainer.phantoms import generate


def _png(img: Image.Image) -> bytes:
    buf = BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _text_card(text: str = "DOE JANE 0012345", size: int = 22) -> np.ndarray:
    img = Image.new("RGB", (360, 80), (20, 20, 20))
    ImageDraw.Draw(img).text(
        (12, 24), text, fill=(170, 170, 170), font=ImageFont.load_default(size)
    )
    return np.asarray(img).copy()


@pytest.mark.slow
def test_tesseract_reads_burned_in_words_and_masking_leaves_none():
    card = _text_card()
    assert len(read_words(card)) >= 2  # it can read what we put there
    everywhere = np.ones(card.shape[:2], bool)
    clean, count = mask_words(card, everywhere)
    assert count >= 2
    assert read_words(clean) == []


def test_words_outside_the_sector_become_black_and_inside_are_filled():
    card = _text_card()
    sector = np.zeros(card.shape[:2], bool)
    sector[:, 180:] = True
    clean, _ = mask_words(card, sector)
    left = clean[:, :180]
    assert left.max() <= 20  # the canvas level: the words there are gone, not filled
    assert read_words(clean) == []


def test_a_clean_scan_is_not_touched():
    img, _ = generate(index=6, seed=0, size=224)  # a pancreas plane without screen text
    rgb = np.asarray(img.convert("RGB")).copy()
    out, count = mask_words(rgb, np.ones(rgb.shape[:2], bool))
    assert count == 0 and np.array_equal(out, rgb)


@pytest.mark.slow
def test_grey_text_typed_inside_a_sector_is_gone_from_the_stored_image():
    """Grey, not white, so it is not the pixel rules' kind of text: OCR must catch it."""
    img, _ = generate(index=6, seed=0, size=512)
    img = img.convert("RGB")
    ImageDraw.Draw(img).text(
        (190, 250), "SMITH 1958", fill=(150, 150, 150), font=ImageFont.load_default(20)
    )
    result = load_scan(_png(img))
    assert result.is_ultrasound
    assert read_words(np.asarray(result.image)) == []
    masked = result.metadata["text_pixels_masked"] + result.metadata["ocr_words_masked"]
    assert masked > 0


def test_without_tesseract_a_required_check_refuses_the_upload(monkeypatch):
    img, _ = generate(index=6, seed=0, size=224)
    from scoring.imaging import ocr

    monkeypatch.setenv("PATH", "/nonexistent")  # the real lookup finds no tesseract program
    monkeypatch.setattr(ocr, "_LIB", None)  # ... and no library
    with pytest.raises(IntakeError) as err:
        load_scan(_png(img))
    assert err.value.code == "ocr_unavailable" and "not stored" in err.value.message
    assert load_scan(_png(img), ocr="optional").metadata["ocr_words_masked"] == 0


def _screens() -> list[np.ndarray]:
    """A scanner's screen with its furniture and labels, its title bar alone, a text card, a
    clean phantom: what the check reads in intake (whole images and cards of parts)."""
    from bench.intake import scanner_screen

    screen = np.asarray(scanner_screen(1, 4242, (640, 480))).copy()
    phantom, _ = generate(index=3, seed=5, size=224)
    return [screen, screen[:80], _text_card(), np.asarray(phantom.convert("RGB")).copy()]


def test_tesseract_in_this_process_reads_what_the_program_reads(monkeypatch):
    """The engine loaded once through libtesseract gives the same words, boxes and
    confidences as the ``tesseract`` program on the same images; and a site without the
    library (or that asks for the program) still gets its check."""
    from scoring.imaging import ocr

    assert ocr._library() is not None, "libtesseract.so.5 ships with tesseract-ocr"
    images = _screens()
    in_process = [read_words(img) for img in images]
    assert sum(len(w) for w in in_process) >= 8  # it reads the screen's furniture and the card
    monkeypatch.setattr(ocr, "_LIB", None)  # as where the library cannot be loaded
    assert [read_words(img) for img in images] == in_process


def test_reads_at_once_each_have_an_engine_and_the_same_words():
    """Intake runs in the web server's threads (two at once): Tesseract's engines are not
    thread-safe, so each read has one to itself, and reading at once changes no word; the
    engines are kept for later reads, no more of them than ever read at once."""
    from concurrent.futures import ThreadPoolExecutor

    from scoring.imaging import ocr

    images = _screens() * 2  # eight reads over three threads
    alone = [read_words(img) for img in images]
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(read_words, images))
    assert together == alone
    assert 1 <= len(ocr._idle) <= 3
