"""PNG, JPEG and BMP through Pillow, with the pixel guard checked before any decoding."""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image, ImageOps

from scoring.imaging.decoded import Decoded, check_dimensions, choose_frame, gray_to_rgb, to_uint8
from scoring.imaging.types import MAX_WORK_SIDE, IntakeError, IntakeLimits

_PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "bmp": "BMP"}
_CORRUPT = "The {name} file is damaged or incomplete (was the upload cut short?). Export it again."


def decode_raster(data: bytes, kind: str, limits: IntakeLimits, frame: int | None) -> Decoded:
    name = kind.upper()
    try:
        # Image.open reads the header only. Pillow's own bomb guard (Image.MAX_IMAGE_PIXELS)
        # raises here for absurd sizes; our stricter limit is checked right after.
        im = Image.open(BytesIO(data), formats=[_PIL_FORMAT[kind]])
    except Image.DecompressionBombError as exc:
        raise IntakeError(
            "too_many_pixels",
            f"The image is larger than the {limits.max_pixels / 1e6:g} megapixels we accept.",
        ) from exc
    except Exception as exc:  # any header failure is a damaged file
        raise IntakeError("corrupt", _CORRUPT.format(name=name)) from exc
    with im:
        frames = int(getattr(im, "n_frames", 1))  # animated PNG
        check_dimensions(im.width, im.height, frames, limits)
        index = choose_frame(frames, frame)
        try:
            if index:
                im.seek(index)
            if kind == "jpeg" and max(im.size) > MAX_WORK_SIDE:
                # decode at 1/2, 1/4 or 1/8 scale straight from the DCT: never the full frame
                scale = max(im.size) / MAX_WORK_SIDE
                im.draft("RGB", (int(im.width / scale), int(im.height / scale)))
            im.load()
            if kind == "jpeg":
                im = ImageOps.exif_transpose(im)  # phone photos of a screen come rotated
            rgb = _to_rgb(im)
        except IntakeError:
            raise
        except Exception as exc:  # truncated data, bad zlib/huffman streams, ...
            raise IntakeError("corrupt", _CORRUPT.format(name=name)) from exc
    metadata: dict[str, str | int] = {"mode": im.mode}
    return Decoded(rgb=rgb, frames=frames, frame_index=index, metadata=metadata)


def _to_rgb(im: Image.Image) -> np.ndarray:
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit grayscale PNG: no window in the file, so stretch min..max.
        values = np.asarray(im)
        return gray_to_rgb(to_uint8(values, float(values.min()), float(values.max())))
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        # Transparent parts become black, like the background around a scan.
        black = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(black, im.convert("RGBA"))
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
