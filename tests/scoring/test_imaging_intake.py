"""Scan intake: type sniffing, limits and errors for PNG, JPEG and BMP uploads."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from scoring.imaging import IntakeError, IntakeLimits, IntakeResult, load_scan, sniff_type


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def noise_image(w: int = 256, h: int = 192, seed: int = 0) -> Image.Image:
    """Incompressible gray noise: its PNG is long enough to cut in the middle of the pixels."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 120, (h, w), dtype=np.uint8), "L")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def forged_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height: a decompression bomb's calling card."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def refusal(data: bytes, **kwargs: object) -> IntakeError:
    with pytest.raises(IntakeError) as info:
        load_scan(data, **kwargs)
    return info.value


# --- sniffing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "kind"), [("PNG", "png"), ("JPEG", "jpeg"), ("BMP", "bmp"), ("GIF", "gif")]
)
def test_it_sniffs_the_type_from_the_bytes(fmt: str, kind: str) -> None:
    assert sniff_type(encode(noise_image(32, 32), fmt)) == kind


def test_it_sniffs_other_files_by_their_magic_numbers() -> None:
    assert sniff_type(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n") == "pdf"
    assert sniff_type(b"PK\x03\x04" + b"\x00" * 40) == "zip"
    assert sniff_type(b"RIFF\x10\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff_type(b"\x00\x00\x00\x18ftypheic\x00\x00") == "heic"
    assert sniff_type(b"BM is how this note starts, but it is text\n") == "text"
    assert sniff_type(b"\x13\x37\x00\x01garbage\xff") == "unknown"
    assert sniff_type(b"") == "empty"


@pytest.mark.slow
def test_it_accepts_a_png_jpeg_and_bmp_whatever_they_are_called() -> None:
    for fmt in ("PNG", "JPEG", "BMP"):
        result = load_scan(encode(noise_image(), fmt))
        assert isinstance(result, IntakeResult)
        assert result.kind == fmt.lower()
        assert result.image.mode == "RGB"
        assert result.frames == 1
        assert result.original_size == (256, 192)


# --- refusals -----------------------------------------------------------------------------------


def test_it_rejects_a_renamed_pdf() -> None:
    error = refusal(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n")
    assert error.code == "unsupported_type"
    assert isinstance(error, ValueError)
    assert error.message == (
        "This file is a PDF, not an image. Upload a PNG, JPEG, BMP or DICOM scan."
    )


def test_it_names_an_image_format_it_does_not_take() -> None:
    error = refusal(encode(noise_image(32, 32), "GIF"))
    assert error.code == "unsupported_type"
    assert "GIF" in error.message


def test_it_rejects_an_empty_file() -> None:
    assert refusal(b"").code == "empty"


def test_it_rejects_a_truncated_png() -> None:
    data = encode(noise_image(), "PNG")
    error = refusal(data[: len(data) // 2])
    assert error.code == "corrupt"
    assert "damaged or incomplete" in error.message


def test_it_rejects_a_truncated_jpeg() -> None:
    data = encode(noise_image().convert("RGB"), "JPEG", quality=95)
    assert refusal(data[: len(data) // 3]).code == "corrupt"


def test_it_rejects_a_file_over_the_size_limit() -> None:
    data = encode(noise_image(), "PNG")
    error = refusal(data, limits=IntakeLimits(max_bytes=len(data) - 1))
    assert error.code == "too_large"
    assert "MB" in error.message


def test_it_rejects_a_30000_by_30000_png_without_decoding_it() -> None:
    data = forged_png(30000, 30000)
    assert len(data) < 200
    error = refusal(data)
    assert error.code == "too_many_pixels"


def test_its_own_pixel_limit_holds_even_with_pillows_guard_switched_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    error = refusal(forged_png(30000, 30000))
    assert error.code == "too_many_pixels"
    assert "16 megapixels" in error.message


def test_it_applies_a_smaller_pixel_limit_from_the_header() -> None:
    error = refusal(forged_png(200, 100), limits=IntakeLimits(max_pixels=19_999))
    assert error.code == "too_many_pixels"


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_frames"):
        IntakeLimits(max_frames=0)


def test_a_single_image_has_only_frame_zero() -> None:
    assert refusal(encode(noise_image(), "PNG"), frame=1).code == "bad_frame"


def test_the_output_carries_no_exif_or_text_chunks() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "Patient: DOE^JANE, St Elsewhere")
    result = load_scan(encode(noise_image(), "PNG", pnginfo=info))
    assert result.image.info == {}
    assert "DOE" not in repr(result.metadata)


def test_a_16_bit_grayscale_png_is_stretched_to_8_bits() -> None:
    ramp = np.tile(np.linspace(1000, 3000, 200, dtype=np.uint16), (150, 1))
    ramp[:20] = 0
    ramp[-20:] = 0
    result = load_scan(encode(Image.fromarray(ramp), "PNG"))
    pixels = np.asarray(result.image)
    assert pixels.dtype == np.uint8
    assert pixels.max() >= 250  # min..max: the brightest sample maps to white


# --- robustness ---------------------------------------------------------------------------------

_HEADS = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00",
    b"\x00" * 128 + b"DICM",
    b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=st.sampled_from(_HEADS), tail=st.binary(max_size=600))
def test_garbage_only_ever_raises_an_intake_error(head: bytes, tail: bytes) -> None:
    """Whatever a client uploads, the web process sees IntakeError or a result, nothing else."""
    try:
        result = load_scan(head + tail)
    except IntakeError as error:
        assert error.code in {
            "empty",
            "unsupported_type",
            "corrupt",
            "too_many_pixels",
            "too_many_frames",
        }
        assert error.message
    else:
        assert result.image.mode == "RGB"


def test_the_default_cap_refuses_a_5409_by_6299_tile_from_its_header() -> None:
    """34 MP is over the 16 MP default: refused before a single pixel is decoded."""
    error = refusal(forged_png(5409, 6299))
    assert error.code == "too_many_pixels" and "5409 x 6299" in error.message


@pytest.mark.slow
def test_a_large_accepted_frame_is_shrunk_before_the_work_and_reported_in_its_own_pixels() -> None:
    from trainer.phantoms import generate

    img, _ = generate(index=6, seed=0, size=512)
    big = img.convert("RGB").resize((4096, 3072))  # 12.6 MP: accepted, worked on at 1/2
    result = load_scan(encode(big, "PNG"), ocr="off")
    assert result.metadata["downscale"] == 2
    assert result.original_size == (4096, 3072)
    x0, y0, x1, y1 = result.crop_box  # in the upload's pixels
    assert x1 - x0 == 2 * result.image.width and y1 - y0 == 2 * result.image.height
    assert x1 <= 4096 and y1 <= 3072
