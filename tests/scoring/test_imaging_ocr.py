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
    monkeypatch.setenv("PATH", "/nonexistent")  # the real lookup finds no tesseract
    with pytest.raises(IntakeError) as err:
        load_scan(_png(img))
    assert err.value.code == "ocr_unavailable" and "not stored" in err.value.message
    assert load_scan(_png(img), ocr="optional").metadata["ocr_words_masked"] == 0
