"""Find the scan sector in a frame and wipe annotation text inside it.

A scanner screen is a dark canvas with one large, densely textured area (the curvilinear fan or
the linear rectangle) and thin bright furniture around it: patient name, hospital, date, depth
ticks, logos. Cropping to the sector removes the burned-in identifying text; the rest of the
furniture is zeroed by the sector mask; text typed *inside* the sector is found by its shape
(thin, near-white or vividly coloured, high contrast) and filled in from its neighbours.
"""

from __future__ import annotations

from collections import deque
from functools import reduce

import numpy as np
from PIL import Image, ImageDraw

from scoring.imaging.types import Box

SIGNAL_MARGIN = 10  # above the background level: clears JPEG ringing on a black canvas
CELL_FILL = 0.5  # a cell is "tissue" when this share of its pixels carries signal
MIN_SECTOR_SHARE = 0.01  # of the frame; anything smaller is furniture, not a scan
FAINT_MARGIN = 3  # above the background level: faint speckle of a dim far field
FAINT_FILL = 0.3  # a cell of faint speckle, next to the sector, is sector too
FAINT_MAX = 120  # faint speckle is dim; text strokes are bright
PART_SHARE = 0.15  # pieces of the sector at least this share of the largest are kept
MAX_FLAT_SHARE = 0.4  # a cell with this share of pixels at its median level is flat, not tissue
GRAPHIC_LEVEL = 230  # drawn graphics (a Doppler box's outline) are near-white ...
GRAPHIC_LENGTH = 40  # ... and straight for this many pixels


def find_scan_area(img: np.ndarray) -> tuple[Box, np.ndarray]:
    """Return ``(bbox, mask)`` of the scan sector in an (H, W) or (H, W, 3) uint8 image.

    ``bbox`` is ``(left, top, right, bottom)`` with right/bottom exclusive; ``mask`` is a
    (H, W) bool array, the convex hull of the sector (a fan and a rectangle are both convex, and
    the hull closes anechoic holes such as a full bladder). When no sector is found the whole
    frame is returned.
    """
    value = img.max(axis=2) if img.ndim == 3 else img  # (H, W): colour overlays count as signal
    # The canvas is black on most scanners and dark gray on some: take a low percentile.
    level = min(int(np.percentile(value[::4, ::4], 5)) + SIGNAL_MARGIN, 40)
    signal = value > level
    h, w = signal.shape
    full: tuple[Box, np.ndarray] = ((0, 0, w, h), np.ones((h, w), bool))
    # Work on a coarse grid of cells: fast, and text lines (sparse strokes, a few cells tall)
    # fall apart there while speckle stays dense.
    c = max(2, -(-max(h, w) // 100))
    gh, gw = h // c, w // c
    if gh < 5 or gw < 5:
        return full
    fill = signal[: gh * c, : gw * c].reshape(gh, c, gw, c).mean(axis=(1, 3))  # (gh, gw)
    # Tissue is speckled: a cell mostly of one flat colour (a title bar, a side panel, a logo,
    # even with text on it) is not, so a bar drawn right above the sector does not join it.
    # Speckle puts only a few per cent of a cell's pixels within one level of its median.
    block = value[: gh * c, : gw * c].reshape(gh, c, gw, c).transpose(0, 2, 1, 3)
    block = block.reshape(gh, gw, c * c).astype(np.int16)  # (gh, gw, c*c)
    median = np.median(block, axis=2, keepdims=True)
    flat = (np.abs(block - median) <= 1).mean(axis=2) >= MAX_FLAT_SHARE  # (gh, gw)
    parts = _cell_parts((fill >= CELL_FILL) & ~flat)
    if not parts or parts[0].sum() < MIN_SECTOR_SHARE * gh * gw:
        # no speckle anywhere (a flat test pattern, a rendered diagram): flat areas count
        flat = np.zeros_like(flat)
        parts = _cell_parts(fill >= CELL_FILL)
    if not parts or parts[0].sum() < MIN_SECTOR_SHARE * gh * gw:
        return full
    # A full bladder or a dark band can cut one sector into pieces: keep every large piece.
    sector = np.logical_or.reduce([p for p in parts if p.sum() >= PART_SHARE * parts[0].sum()])
    # Dim edges: grow into cells of faint speckle (an attenuated far field, the fan's rim),
    # never into flat canvas or panels, so what is kept is the whole sector.
    faint = value > min(level, int(np.percentile(value[::4, ::4], 5)) + FAINT_MARGIN)
    # faint *and* dim: the grey continuum of weak speckle, not the bright strokes of text
    dim = faint & (value <= FAINT_MAX)
    weak_fill = dim[: gh * c, : gw * c].reshape(gh, c, gw, c).mean(axis=(1, 3))
    weak = (weak_fill >= FAINT_FILL) & ~flat
    weak[: int(np.nonzero(sector.any(axis=1))[0][0])] = False  # never up: bars sit above
    for _ in range(gh + gw):
        grown = sector | (_dilate(sector) & weak)
        if (grown == sector).all():
            break
        sector = grown
    # Back to pixels: the signal within one cell of the sector, then its convex hull.
    near = np.repeat(np.repeat(_dilate(sector), c, axis=0), c, axis=1)
    solid = _rank(_rank(faint, 3, np.minimum), 3, np.maximum)
    points = np.zeros((h, w), bool)  # thin marks next to the sector (arrows, ticks) left out
    points[: gh * c, : gw * c] = solid[: gh * c, : gw * c] & near
    if not points.any():
        return full
    mask = _hull_mask(points)
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1), mask


def mask_text(
    rgb: np.ndarray, sector: np.ndarray, within: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fill annotation text and graphics inside ``sector`` from their neighbours (``within``
    it only, when given: these rules also match bright anatomy - a vessel's wall, the
    near-field reverberation, the sector's rim - so with the learned detector they act only
    around what it found or was unsure of).

    Text candidates are pixels that are near-white (or vividly coloured, but only when the
    sector holds almost no colour, i.e. no Doppler overlay whose flow must stay), thinner than
    5 px, much brighter than their 5x5 neighbourhood, and clustered like glyph strokes.
    Returns the new (H, W, 3) image and the (H, W) bool mask of what was filled.
    """
    hi, lo = rgb.max(axis=2), rgb.min(axis=2)
    chroma = hi - lo
    bright = (lo >= 200) & (chroma <= 40)
    coloured = (hi >= 180) & (chroma >= 100)
    if sector.any() and coloured[sector].mean() < 0.005:  # no Doppler: colour is annotation
        bright |= coloured
    thin = bright & ~_rank(_rank(bright, 5, np.minimum), 5, np.maximum)  # not kept by an opening
    contrast = hi.astype(np.int16) - _rank(hi, 5, np.minimum) >= 100
    candidates = thin & contrast & sector
    if within is not None:
        # outside what the detector found or doubted, graphics only: a Doppler box's outline,
        # a ruler, a long straight line no tissue draws
        candidates &= within | _straight_lines(thin & contrast & sector & (lo >= GRAPHIC_LEVEL))
    text = candidates & (_box_sum(candidates, 3) >= 5)  # clustered in 7x7
    # Hysteresis: grow into the dimmer, antialiased parts of the same strokes.
    weak = (((lo >= 140) & (chroma <= 40)) | bright) & contrast & sector
    for _ in range(3):
        text |= _rank(text, 3, np.maximum) & weak
    text = _rank(text, 3, np.maximum) & sector  # and their soft edges
    if not text.any():
        return rgb, text
    return inpaint(rgb, text, sector), text


def _straight_lines(mask: np.ndarray, length: int = GRAPHIC_LENGTH) -> np.ndarray:
    """The pixels of ``mask`` on a horizontal or vertical run at least ``length`` long (within a
    pixel of straight): drawn graphics, which anatomy, curved and speckled, does not make."""
    out = np.zeros_like(mask)
    for axis in (0, 1):
        m = mask if axis == 1 else mask.T
        # a run along each row: the count of set pixels in a window of ``length`` along it
        c = np.concatenate([np.zeros((m.shape[0], 1), np.int32), m.cumsum(axis=1)], axis=1)
        full = (c[:, length:] - c[:, :-length]) >= length - 2  # a gap of 2 pixels allowed
        hit = np.zeros_like(m)
        for k in np.flatnonzero(full.any(axis=1)):
            for start in np.flatnonzero(full[k]):
                hit[k, start : start + length] = True
        hit &= m
        out |= hit if axis == 1 else hit.T
    return out


def inpaint(rgb: np.ndarray, hole: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Replace ``hole`` pixels by the mean of the valid pixels around them, widening the window
    where a hole is too large, and working inwards from what was filled where it is larger still
    (a box over two lines of text); what stays unreachable (no valid pixel at all) is black."""
    out = rgb.copy()
    ys, xs = np.nonzero(hole)
    r_max = 15
    y0, y1 = max(ys.min() - r_max, 0), min(ys.max() + r_max + 1, rgb.shape[0])
    x0, x1 = max(xs.min() - r_max, 0), min(xs.max() + r_max + 1, rgb.shape[1])
    patch = rgb[y0:y1, x0:x1].astype(np.float32)  # (h, w, 3), only around the holes
    todo = hole[y0:y1, x0:x1].copy()
    keep = (valid[y0:y1, x0:x1] & ~todo).astype(np.float32)
    filled = patch.copy()
    for r in (2, 5, *[r_max] * 8):
        if not todo.any() or not keep.any():
            break
        den = _box_sum(keep, r)
        num = np.stack([_box_sum(filled[:, :, k] * keep, r) for k in range(3)], axis=2)
        ok = todo & (den > 0)
        filled[ok] = num[ok] / den[ok][:, None]
        todo &= ~ok
        if r == r_max:
            keep[ok] = 1.0  # the next pass reaches further in from what this one filled
    filled[todo] = 0
    out[y0:y1, x0:x1] = np.clip(np.rint(filled), 0, 255).astype(np.uint8)
    return out


def _box_sum(a: np.ndarray, r: int) -> np.ndarray:
    """Sum over the (2r+1) x (2r+1) window around each pixel, zero padded; via an integral image."""
    acc = np.int32 if a.dtype == bool else np.float64  # counts stay exact and small
    p = np.pad(a, ((r + 1, r), (r + 1, r))).astype(acc).cumsum(0).cumsum(1)
    k = 2 * r + 1
    return (p[k:, k:] - p[:-k, k:] - p[k:, :-k] + p[:-k, :-k]).astype(np.float32)


def _rank(a: np.ndarray, size: int, op: np.ufunc) -> np.ndarray:
    """Min or max (``op``) over the size x size window around each pixel, edges replicated.
    Separable, so 2 * size passes of whole-array numpy; 10x faster than Pillow's rank filter."""
    r = size // 2
    h, w = a.shape
    p = np.pad(a, r, mode="edge")
    rows = reduce(op, (p[:, i : i + w] for i in range(size)))  # (h + 2r, w)
    return reduce(op, (rows[i : i + h] for i in range(size)))


def _erode(m: np.ndarray) -> np.ndarray:
    p = np.pad(m, 1, constant_values=False)
    h, w = m.shape
    return np.logical_and.reduce(
        [p[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)]
    )


def _dilate(m: np.ndarray) -> np.ndarray:
    p = np.pad(m, 1, constant_values=False)
    h, w = m.shape
    return np.logical_or.reduce([p[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)])


def _cell_parts(tissue: np.ndarray) -> list[np.ndarray]:
    """Connected pieces of tissue cells after an opening (drops thin text and ticks) and a
    closing (joins speckle patches split by dark structures), largest first."""
    cells = _dilate(_erode(tissue))
    return _components(_erode(_dilate(cells)))


def _components(m: np.ndarray) -> list[np.ndarray]:
    """The 4-connected components of a small boolean grid, largest first (breadth-first)."""
    h, w = m.shape
    flat = m.ravel()
    seen = np.zeros(flat.size, bool)
    found: list[list[int]] = []
    for start in np.flatnonzero(flat):
        if seen[start]:
            continue
        seen[start] = True
        queue, comp = deque([int(start)]), []
        while queue:
            i = queue.popleft()
            comp.append(i)
            y, x = divmod(i, w)
            for j, inside in (
                (i - w, y > 0),
                (i + w, y < h - 1),
                (i - 1, x > 0),
                (i + 1, x < w - 1),
            ):
                if inside and flat[j] and not seen[j]:
                    seen[j] = True
                    queue.append(j)
        found.append(comp)
    out = []
    for comp in sorted(found, key=len, reverse=True):
        mask = np.zeros(flat.size, bool)
        mask[comp] = True
        out.append(mask.reshape(h, w))
    return out


def _hull_mask(points: np.ndarray) -> np.ndarray:
    """Rasterised convex hull of the True pixels (only each row's end points matter)."""
    h, w = points.shape
    rows = np.nonzero(points.any(axis=1))[0]
    left = points[rows].argmax(axis=1)
    right = w - 1 - points[rows, ::-1].argmax(axis=1)
    pts = sorted(
        {(int(x), int(y)) for y, a, b in zip(rows, left, right, strict=True) for x in (a, b)}
    )
    hull = _convex_hull(pts)
    canvas = Image.new("L", (w, h), 0)
    if len(hull) >= 3:
        ImageDraw.Draw(canvas).polygon(hull, fill=1, outline=1)
    else:
        ImageDraw.Draw(canvas).line(hull * 2 if len(hull) == 1 else hull, fill=1)
    return np.asarray(canvas, dtype=bool)


def _convex_hull(pts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Andrew's monotone chain over points sorted by (x, y)."""
    if len(pts) <= 2:
        return pts

    def cross(o: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> int:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[int, int]] = []
    upper: list[tuple[int, int]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]
