"""Clinical screen chrome around the sector: burned-in (obviously fake) patient text, probe and
preset labels, a depth scale, a focus marker and a body-marker pictogram. It exists so that
the intake's crop-to-sector and de-identification have something real-looking to remove.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .geometry import ScanTable

SURNAMES = ("DOE", "ROE", "POE", "MOE", "SAMPLE", "TEST", "PHANTOM", "NOBODY")
GIVEN = ("JANE", "JOHN", "ALEX", "SAM", "KIM", "LEE", "PAT", "ROBIN")
HOSPITALS = (
    "PHANTOM GENERAL HOSP",
    "SYNTHETIC UNIV CLINIC",
    "NOWHERE MEDICAL CTR",
    "FAKE COUNTY HOSPITAL",
)
PROBES = {"curvilinear": ("C5-1", "C6-2", "C5-2"), "linear": ("L12-5", "L9-3")}
PRESETS = ("ABD", "ABD GEN", "ABD PEN", "RENAL", "LIVER")


@lru_cache(maxsize=8)
def _font(px: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=max(6, px))


def draw(img: Image.Image, table: ScanTable, rng: np.random.Generator, meta: dict) -> Image.Image:
    size = table.size
    out = img.convert("RGB")
    d = ImageDraw.Draw(out)
    fs = max(7, size // 42)
    f = _font(fs)
    grey = (200, 200, 200)
    cyan = (150, 220, 230)
    name = f"{SURNAMES[int(rng.integers(len(SURNAMES)))]}^{GIVEN[int(rng.integers(len(GIVEN)))]}"
    pid = f"ID PHX-{int(rng.integers(10000, 99999))}"
    date = (
        f"20{int(rng.integers(18, 26)):02d}-{int(rng.integers(1, 13)):02d}-"
        f"{int(rng.integers(1, 29)):02d} {int(rng.integers(7, 19)):02d}:"
        f"{int(rng.integers(0, 60)):02d}"
    )
    hosp = HOSPITALS[int(rng.integers(len(HOSPITALS)))]
    probe = PROBES[table.geometry.kind][int(rng.integers(len(PROBES[table.geometry.kind])))]
    preset = PRESETS[int(rng.integers(len(PRESETS)))]
    x0 = int(size * 0.01)
    d.text((x0, x0), f"{name}   {pid}", fill=grey, font=f)
    d.text((x0, x0 + fs + 2), f"{hosp}   {date}", fill=grey, font=f)
    right = int(size * 0.86)
    lines = [
        probe,
        preset,
        f"D {meta['depth_cm']:.0f}cm",
        f"G {int(50 + meta['gain_db'])}",
        f"DR {int(rng.integers(55, 70))}",
        f"FR {int(rng.integers(14, 40))}Hz",
        "MI 0.9",
        "TIs 0.4",
    ]
    y = int(size * 0.12)
    for ln in lines:
        d.text((right, y), ln, fill=cyan if ln == probe else grey, font=f)
        y += fs + 3

    # depth scale beside the sector's right edge: one tick a centimetre along the centre beam
    bx2 = table.sector_box[2]
    sx = min(bx2 + 3, right - 10)
    top = table.origin[1]
    px_per_cm = table.scale / meta["depth_cm"]
    ncm = int(meta["depth_cm"])
    for cm in range(ncm + 1):
        yy = top + cm * px_per_cm
        ln = 6 if cm % 5 == 0 else 3
        d.line([(sx, yy), (sx + ln, yy)], fill=grey, width=1)
        if cm % 5 == 0 and cm:
            d.text((sx + 8, yy - fs // 2), str(cm), fill=grey, font=_font(fs - 1))
    # focus marker at the focal depth
    fy = top + meta["focus_depth"] * table.scale
    d.polygon([(sx - 1, fy), (sx + 7, fy - 4), (sx + 7, fy + 4)], fill=(240, 220, 60))

    # body marker: a torso outline with the probe position
    bm = int(size * 0.1)
    bx, by = x0 + 4, size - bm - x0 - 4
    d.ellipse([bx + bm * 0.3, by, bx + bm * 0.7, by + bm * 0.25], outline=grey)
    d.rounded_rectangle(
        [bx + bm * 0.15, by + bm * 0.25, bx + bm * 0.85, by + bm], radius=bm // 6, outline=grey
    )
    px = bx + bm * float(rng.uniform(0.25, 0.75))
    py = by + bm * float(rng.uniform(0.4, 0.8))
    ang = float(rng.uniform(0, np.pi))
    dx, dy = np.cos(ang) * bm * 0.15, np.sin(ang) * bm * 0.15
    d.line([(px - dx, py - dy), (px + dx, py + dy)], fill=(240, 220, 60), width=max(2, size // 170))
    meta["probe"] = probe
    meta["preset"] = preset
    return out
