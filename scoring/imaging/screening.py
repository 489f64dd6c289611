"""Is this an ultrasound scan at all? Conservative pixel heuristics.

A scan is mostly shades of gray (colour Doppler covers only part of it), mostly dark, and has a
dark background or at least no large light areas. We only say "not ultrasound" when an image is
clearly something else: a document or screenshot (mostly white), a colourful photo, a blank
frame, or an image bright all over with no dark parts. Anything in between passes; an instructor
sees it anyway.
"""

from __future__ import annotations

import numpy as np

_SAMPLE = 400  # judge a ~400 px thumbnail: the statistics do not need every pixel


def not_ultrasound_reason(rgb: np.ndarray, sector_share: float) -> str | None:
    """A short reason why ``rgb`` (H, W, 3 uint8) is not an ultrasound scan, or None.

    ``sector_share`` is the share of the frame covered by the detected scan sector.
    """
    step = max(1, max(rgb.shape[:2]) // _SAMPLE)
    px = rgb[::step, ::step].astype(np.int32)
    luma = px @ np.array([77, 150, 29], np.int32) >> 8  # (h, w), ITU-R 601 in integers
    chroma = px.max(axis=2) - px.min(axis=2)
    if int(luma.max()) - int(luma.min()) < 8:
        return "the image is blank (one flat colour)"
    light = float((luma > 200).mean())
    if light > 0.4:
        return (
            f"{light:.0%} of it is white or light, like a document or a screenshot; "
            "a scan is mostly dark"
        )
    colourful = float((chroma > 60).mean())
    if colourful > 0.35:
        return f"{colourful:.0%} of it is strongly coloured; a scan is mostly shades of gray"
    dark = float((luma < 24).mean())
    if dark < 0.02 and float(luma.mean()) > 110 and sector_share > 0.98:
        return "it is bright all over, with none of the dark background of a scan"
    return None
