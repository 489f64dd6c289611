"""De-identification bench: generated scanner screens with known burned-in PHI.

    python -m bench.deid [--count 40] [--seed 3] [--out DIR]

Each screen is a phantom sector (no screen furniture of its own) placed on a dark canvas, with
patient and site text burned in where scanners put it: a title bar directly above the sector
(hospital, name, MRN, date and time), a side panel (ID, birth date, physician), a footer below
the sector (operator, exam number), and labels typed inside the sector (over bright and dark
tissue). Fonts: Pillow's bitmap font, its scalable font and DejaVu when installed, at 9-26 px,
in white, grey, yellow and cyan. The generator knows every glyph pixel of every character and
every sector pixel, so after ``scoring.imaging.load_scan`` it can say exactly:

- PHI recall: the share of characters removed (a character survives when more than 10 % of its
  glyph pixels are still in the stored image, within 8 grey levels of what was drawn). Target
  100 %.
- Sector pixels lost: the share of the sector (away from the labels typed inside it, which are
  meant to be filled) that was cropped off, zeroed or changed by more than 8 levels. Target
  <= 1 %.
- Words Tesseract still reads on the stored image (target 0), and the time per image.
"""

from __future__ import annotations

import argparse
import json
import time
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from scoring.imaging import load_scan
from scoring.imaging.ocr import read_words
from trainer.phantoms.geometry import sample_geometry, scan_table
from trainer.phantoms.render import LINEAR_SHARE, choose_planes, generate

COLOURS = [(235, 235, 235), (190, 190, 190), (240, 220, 60), (90, 220, 230)]
NAMES = ["DOE^JANE", "SMITH, JOHN", "MULLER ANNA", "GARCIA^LUIS", "O'BRIEN K"]
SITES = ["ST ELSEWHERE HOSP", "MERCY GENERAL", "UNIV CLINIC NORD", "CITY MED CTR"]


def _fonts() -> list[ImageFont.ImageFont]:
    fonts: list = [ImageFont.load_default_imagefont()]
    fonts += [ImageFont.load_default(s) for s in (9, 12, 16, 22)]
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",):
        if Path(path).is_file():
            fonts += [ImageFont.truetype(path, s) for s in (11, 15, 26)]
    return fonts


def _sector(index: int, seed: int, size: int) -> tuple[Image.Image, np.ndarray] | None:
    """A phantom without screen furniture, and its exact sector mask; None if it has chrome."""
    rng = np.random.default_rng([int(seed), int(index), int(size)])
    choose_planes(rng)
    geo = sample_geometry(rng, LINEAR_SHARE)
    if bool(rng.random() < 0.4):  # render.CHROME_SHARE: this one has its own screen text
        return None
    table = scan_table(geo, size, False)
    img, rec = generate(index=index, seed=seed, size=size)
    assert not rec.get("chrome", False)
    mask = np.zeros(size * size, bool)
    mask[table.pix] = True
    return img.convert("RGB"), mask.reshape(size, size)


class Screen:
    """A canvas with a sector and PHI text; remembers each character's glyph pixels."""

    def __init__(self, w: int, h: int) -> None:
        self.img = Image.new("RGB", (w, h), (0, 0, 0))
        self.sector = np.zeros((h, w), bool)
        self.chars: list[np.ndarray] = []  # each (N, 2) of (y, x) glyph pixels
        self.inside: list[np.ndarray] = []  # glyphs typed inside the sector

    def text(self, xy, s: str, font, fill, inside: bool = False) -> None:
        draw = ImageDraw.Draw(self.img)
        x, y = xy
        for i, ch in enumerate(s):
            cx = x + (font.getlength(s[:i]) if hasattr(font, "getlength") else 6 * i)
            if not ch.isalnum():
                draw.text((cx, y), ch, font=font, fill=fill)
                continue
            layer = Image.new("L", self.img.size, 0)
            ImageDraw.Draw(layer).text((cx, y), ch, font=font, fill=255)
            glyph = np.argwhere(np.asarray(layer) > 128)
            if len(glyph):
                draw.text((cx, y), ch, font=font, fill=fill)
                (self.inside if inside else self.chars).append(glyph)


def screen(n: int, seed: int, fonts: list) -> Screen | None:
    rng = np.random.default_rng([seed, n])
    size = int(rng.choice([384, 448, 512]))
    got = _sector(n, seed, size)
    if got is None:
        return None
    sector_img, sector_mask = got
    w, h = size + int(rng.integers(160, 320)), size + int(rng.integers(70, 140))
    s = Screen(w, h)
    ox = int(rng.integers(120, w - size - 10))
    ys, _ = np.nonzero(sector_mask)
    top = int(ys.min())
    oy = int(rng.integers(34, h - size - 26)) if h - size - 26 > 34 else 34
    s.img.paste(sector_img, (ox, oy))
    s.sector[oy : oy + size, ox : ox + size] = sector_mask
    pick = lambda: fonts[int(rng.integers(len(fonts)))]  # noqa: E731
    colour = lambda: COLOURS[int(rng.integers(len(COLOURS)))]  # noqa: E731
    # title bar directly above the sector (0-4 px gap), full width, on a dark grey band
    font = pick()
    bar_h = int(font.getbbox("Ag")[3]) + 6
    bar_y = max(0, oy + top - bar_h - int(rng.integers(0, 5)))
    ImageDraw.Draw(s.img).rectangle((0, bar_y, w, bar_y + bar_h - 1), fill=(38, 38, 52))
    title = (
        f"{SITES[n % len(SITES)]}  {NAMES[n % len(NAMES)]}  MRN {rng.integers(10**6, 10**7)}  "
        f"2025-0{1 + n % 9}-1{n % 10} 1{n % 10}:{10 + n % 50}"
    )
    s.text((4, bar_y + 3), title, font, colour())
    # side panel
    font = pick()
    y = oy + 10
    for line in (f"ID {rng.integers(1000, 9999)}-{rng.integers(100, 999)}", "DOB 1961-04-12",
                 f"Dr {NAMES[(n + 2) % len(NAMES)].split()[0]}"):  # fmt: skip
        s.text((6, y), line, font, colour())
        y += int(font.getbbox("Ag")[3]) + 8
    # footer just below the sector
    font = pick()
    bottom = oy + int(ys.max()) + int(rng.integers(2, 8))
    if bottom + 12 < h:
        s.text((ox, bottom), f"Operator {NAMES[(n + 1) % len(NAMES)]} Exam {n:05d}", font, colour())
    # labels inside the sector, over whatever tissue is there
    inside = np.argwhere(s.sector)
    for label in ("LIVER", "RT KIDNEY", "JD")[: 1 + n % 3]:
        y0, x0 = inside[int(rng.integers(len(inside)))]
        font = fonts[1 + int(rng.integers(3))]
        lw = int(font.getlength(label)) + 2
        x0 = int(min(max(x0 - lw // 2, ox), w - lw - 1))
        if s.sector[min(y0 + 10, h - 1), min(x0 + lw, w - 1)] and s.sector[y0, x0]:
            s.text((x0, int(y0)), label, font, colour(), inside=True)
    return s


def _survives(glyph: np.ndarray, before: np.ndarray, after: np.ndarray, crop, factor) -> float:
    """Share of the glyph's pixels still in the stored image, within 8 levels."""
    x0, y0, x1, y1 = crop
    ok = 0
    for y, x in glyph:
        if not (x0 <= x < x1 and y0 <= y < y1):
            continue
        v, u = (y - y0) // factor, (x - x0) // factor
        if v < after.shape[0] and u < after.shape[1]:
            ok += int(np.abs(after[v, u].astype(int) - before[y, x].astype(int)).max() <= 8)
    return ok / len(glyph)


def measure(count: int, seed: int, out: Path | None = None) -> dict:
    fonts = _fonts()
    chars = removed = inside_chars = inside_removed = 0
    lost_share, times, ocr_words = [], [], 0
    made = n = 0
    while made < count:
        s = screen(n, seed, fonts)
        n += 1
        if s is None:
            continue
        made += 1
        before = np.asarray(s.img)
        buf = BytesIO()
        s.img.save(buf, format="PNG")
        t = time.perf_counter()
        result = load_scan(buf.getvalue())
        times.append(time.perf_counter() - t)
        after = np.asarray(result.image)
        crop = result.crop_box
        factor = int(result.metadata.get("downscale", 1))
        for glyph in s.chars:
            chars += 1
            removed += _survives(glyph, before, after, crop, factor) <= 0.1
        for glyph in s.inside:
            inside_chars += 1
            inside_removed += _survives(glyph, before, after, crop, factor) <= 0.1
        # sector pixels lost, away from the labels typed inside (those are meant to be filled)
        near_label = np.zeros(s.sector.shape, bool)
        for glyph in s.inside:
            for y, x in glyph:
                near_label[max(y - 4, 0) : y + 5, max(x - 4, 0) : x + 5] = True
        keep = s.sector & ~near_label
        ys, xs = np.nonzero(keep)
        x0, y0, x1, y1 = crop
        inside_crop = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
        v = np.clip((ys - y0) // factor, 0, after.shape[0] - 1)
        u = np.clip((xs - x0) // factor, 0, after.shape[1] - 1)
        same = np.abs(after[v, u].astype(int) - before[ys, xs].astype(int)).max(axis=1) <= 8
        lost_share.append(1 - float((inside_crop & same).mean()))
        ocr_words += len(read_words(after))
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            s.img.save(out / f"{made:03d}_screen.png")
            result.image.save(out / f"{made:03d}_stored.png")
    report = {
        "screens": made,
        "phi_characters": chars + inside_chars,
        "phi_recall": round((removed + inside_removed) / max(chars + inside_chars, 1), 4),
        "phi_recall_outside_sector": round(removed / max(chars, 1), 4),
        "phi_recall_inside_sector": round(inside_removed / max(inside_chars, 1), 4),
        "sector_lost_mean": round(float(np.mean(lost_share)), 4),
        "sector_lost_max": round(float(np.max(lost_share)), 4),
        "ocr_words_left": ocr_words,
        "seconds_per_image_p50": round(float(np.median(times)), 3),
    }
    return report


def run(argv: list[str]) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.deid")
    p.add_argument("--count", type=int, default=40)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--out", type=Path, default=None, help="write each screen and its result")
    args = p.parse_args(argv)
    report = measure(args.count, args.seed, args.out)
    print(json.dumps(report, indent=1))
    report["ratios"] = {
        "phi_recall": report["phi_recall"],
        "sector_kept": 1 - report["sector_lost_mean"],
    }
    report["targets"] = {"phi_recall": 1.0, "sector_kept": 0.99}
    return report


if __name__ == "__main__":
    import sys

    run(sys.argv[1:])
