"""A learned text detector beside Tesseract: PP-OCRv4's detection network on CPU.

Tesseract reads words; it has to be told to ignore what it reads from speckle (confidence and
height floors), and those floors let faint labels through: a grey name typed over bright
tissue, a label over the fan's dark band. A scene-text detector answers a different question -
*where is text*, readable or not - and was trained on text over busy backgrounds. This module
runs PaddleOCR's PP-OCRv4 detector (a DBNet, 4.7 MB, Apache-2.0) with onnxruntime. The ONNX
file is the one shipped inside the ``rapidocr-onnxruntime`` wheel, a pinned dependency: nothing
is downloaded at run time, the file is checked against its SHA-256, and the package itself is
never imported (only located), so OpenCV, which it pulls in, is never loaded.

Three views of the sector go through the network, each enlarged 2.5x (scanner labels are 12-18 px
tall; the detector sees them best at 30-45 px: on bench.deid's 2 x 30 screens 2.5x and 3x find
the same labels within 3 characters of 1,000, 2x misses 1 % more, and 2.5x costs 0.7x of 3x):

1. the image itself, grey (the brightest channel, so coloured labels count);
2. a *key* view: scanners draw a label in one flat colour, so in a small tile of the sector the
   label's level is over-represented against its neighbours in the histogram, where speckle's
   histogram is smooth. The pixels at such a level, white on black, show the label's strokes
   alone; the speckle behind it is gone, so a grey label over bright tissue stands out;
3. a *lift* view: each pixel's brightness above the mean of its neighbourhood (31 x 31), three
   times as steep. A 12 px grey name over bright, fine speckle (180 over a mean of 146) scores
   nothing in the image itself and has too few pixels at its exact level for the key view at
   that size; lifted, its strokes stand out of the speckle as a line of text does. The lift also
   makes bright blobs look like words, so a box found only in this view counts when it holds a
   flat colour (below), as a typed label does and speckle does not.

Speed (issue 30): each view goes through the network only where it can find something: the
image at 1x first and at 2.5x around what that saw, the key view around its white pixels, the
lift view around a flat colour's hint (a looser key view); the strips of screen furniture along
the crop's edges through the image view alone. What any view scored above ``DOUBT`` without
becoming a box is handed to Tesseract to verify (``Found.doubt``).

A label's flat colour also says where it ends: the network scores the first and last letters of
a line lowest (a faint "G" of "GARCIA" over bright tissue not at all), so a box whose pixels hold
a level far more often than the rows above and below it (the label's fill: antialiased letters
keep it in their cores) is carried along its line while the next line-height of the row still
holds that level well above its rate in those rows.

A detection is a connected region of the probability map above ``THRESH`` whose box averages at
least ``BOX_THRESH`` (PaddleOCR's DB post-processing, without polygons: labels are horizontal).
Each box grows back by the network's shrink (DB's unclip, 1.6 x area / perimeter) and a half
height at each end, where the first and last letters score lowest. Speckle is not text to it:
on clean phantoms and on real vendor screens, the share of the sector it flags is measured by
``python -m bench.deid`` and by the tests.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from scoring.imaging.types import Box, IntakeError

log = logging.getLogger(__name__)

PACKAGE = "rapidocr_onnxruntime"
MODEL_FILE = "models/ch_PP-OCRv4_det_infer.onnx"
MODEL_SHA256 = "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"
MODEL_ENV = "ABVLMQ_TEXT_DETECTOR_MODEL"  # a site may point at its own copy of the same file

SCALE = 2.5  # enlargement before the network
CONTEXT = 40  # rows of the frame each side of the crop's top and bottom edges, looked at too
# (24 cut a 26 px title line that hangs over a convex sector's shoulder: its bottoms stayed)
MAX_INPUT_SIDE = 2048  # pixels per side of one tile at the network's input (memory bound)
TILE_OVERLAP = 160  # source pixels shared by neighbouring tiles: a label is whole in one
THRESH = 0.3  # DB's pixel threshold
BOX_THRESH = 0.4  # mean probability over a region's box
WEAK_BOX_THRESH = 0.15  # ... for a region on the line of one above BOX_THRESH
MIN_SIDE = 3  # source pixels: a region thinner than this is not a line of text
LINES_RATIO = 0.5  # edges along / across a region below this: horizontal lines, not letters
MAX_LINE = 24  # source pixels: a region taller is not one (its text would be ~40 px tall);
# colour Doppler's flow and bright walls can score as high as text, as blobs
DOPPLER_SHARE = 0.005  # of the sector in vivid colour: colour Doppler, not a coloured label
KEY_TILE = 48  # the key view's histogram tiles (half-overlapping)
KEY_MIN_PIXELS = 200  # tissue pixels a tile needs before its histogram is trusted
KEY_SIGMA = 6.0  # a level is a spike when it exceeds its neighbours by this many sigma ...
KEY_EXCESS = 20  # ... and by this many pixels
KEY_USED_LEVELS = 0.9  # share of the levels between the 5th and 95th percentiles in use
KEY_FLOOR = 30  # levels at or below this are the canvas and the anechoic dark, not labels
LIFT_RADIUS = 15  # the lift view's neighbourhood: (2r + 1)^2 pixels of the sector
LIFT_GAIN = 3.0  # ... and its steepness ...
LIFT_OFFSET = 20.0  # ... and the level a pixel as bright as its neighbourhood gets
GATE_SIGMA = 3.0  # the lift view runs only where a tile holds a level this many sigma ...
GATE_EXCESS = 6  # ... and pixels over its neighbours (a looser key view: a flat colour's hint)
WINDOW_MARGIN = 32  # source pixels around a gate's pixels that go through the network too
WHOLE_SHARE = 0.6  # windows covering this share of a view: the view goes through whole
COARSE_SCALE = 1.0  # the image view first at this scale ...
COARSE_GATE = 0.03  # ... then at SCALE where it scored above this (and a margin around)
DOUBT = 0.1  # a region any view scores above this, not taken for text, is left to Tesseract
FLAT_MIN = 8  # pixels at one level a box needs before that level can be its fill ...
FLAT_RATIO = 6.0  # ... at this many times that level's rate in the rows above and below ...
FLAT_SPIKE = 3.5  # ... and this many times as many as the levels 2 and 3 away in the box


class DetectorUnavailable(IntakeError):
    def __init__(self, why: str) -> None:
        super().__init__(
            "text_detector_unavailable",
            "The server cannot check this image for text (the text detector is not installed "
            "correctly), so it was not stored. Tell the site's administrator.",
        )
        self.why = why


def model_path() -> Path:
    """The detector's ONNX file: ``$ABVLMQ_TEXT_DETECTOR_MODEL``, else the one in the wheel."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DetectorUnavailable(f"the {PACKAGE} package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE


def available() -> bool:
    try:
        _session()
    except DetectorUnavailable:
        return False
    return True


@lru_cache(maxsize=1)
def _session():
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise DetectorUnavailable("onnxruntime is not installed") from exc
    path = model_path()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DetectorUnavailable(f"cannot read {path}: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
        raise DetectorUnavailable(f"{path} is not the PP-OCRv4 detector this code was measured on")
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("ABVLMQ_TEXT_DETECTOR_THREADS", "2"))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # no memory pattern: onnxruntime plans and keeps one per input shape, and the windows the
    # views go through come in every shape (a web process grew by 200 MB more over four large
    # screens with it; the same speed without it)
    options.enable_mem_pattern = False
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def probability(grey: np.ndarray, scale: float = SCALE) -> np.ndarray:
    """The detector's text probability for each pixel of an (H, W) uint8 image, (H, W) float32.
    Large images go through in overlapping tiles, so memory stays bounded."""
    h, w = grey.shape
    step = max(64, int(MAX_INPUT_SIDE / scale) - TILE_OVERLAP)
    out = np.zeros((h, w), np.float32)
    for y in range(0, max(h - TILE_OVERLAP, 1), step):
        for x in range(0, max(w - TILE_OVERLAP, 1), step):
            y1, x1 = min(y + step + TILE_OVERLAP, h), min(x + step + TILE_OVERLAP, w)
            tile = _probability_once(grey[y:y1, x:x1], scale)
            np.maximum(out[y:y1, x:x1], tile, out=out[y:y1, x:x1])
    return out


def probability_within(
    grey: np.ndarray, windows: list[tuple[int, int, int, int]], scale: float = SCALE
) -> np.ndarray:
    """``probability`` over the windows (left, top, right, bottom) only; zero elsewhere."""
    h, w = grey.shape
    if sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in windows) >= WHOLE_SHARE * h * w:
        return probability(grey, scale)  # mostly covered: one pass costs less than many
    out = np.zeros((h, w), np.float32)
    for x0, y0, x1, y1 in windows:
        np.maximum(out[y0:y1, x0:x1], probability(grey[y0:y1, x0:x1], scale),
                   out=out[y0:y1, x0:x1])  # fmt: skip
    return out


def windows(mask: np.ndarray, margin: int = WINDOW_MARGIN) -> list[tuple[int, int, int, int]]:
    """Boxes (left, top, right, bottom) around the True pixels of ``mask``, ``margin`` pixels
    wider on every side, found on a grid of 8 px cells (nearby pixels share one window)."""
    h, w = mask.shape
    c = 8
    gh, gw = -(-h // c), -(-w // c)
    padded = np.zeros((gh * c, gw * c), bool)
    padded[:h, :w] = mask
    cells = padded.reshape(gh, c, gw, c).any(axis=(1, 3))
    if not cells.any():
        return []
    r = -(-margin // c)
    grown = np.zeros_like(cells)
    for y, x in np.argwhere(cells):
        grown[max(y - r, 0) : y + r + 1, max(x - r, 0) : x + r + 1] = True
    return [
        (x0 * c, y0 * c, min(x1 * c, w), min(y1 * c, h)) for y0, x0, y1, x1 in components(grown)
    ]


def _probability_once(grey: np.ndarray, scale: float) -> np.ndarray:
    session = _session()
    h, w = grey.shape
    height = max(32, round(h * scale / 32) * 32)  # the network wants multiples of 32
    width = max(32, round(w * scale / 32) * 32)
    big = Image.fromarray(grey).resize((width, height), Image.Resampling.BILINEAR)
    x = np.asarray(big, np.float32) / 127.5 - 1.0  # PaddleOCR's mean 0.5, std 0.5
    x = np.broadcast_to(x, (1, 3, height, width)).copy()  # grey in all three channels
    prob = session.run(None, {session.get_inputs()[0].name: x})[0][0, 0]
    small = Image.fromarray(prob.astype(np.float32)).resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(small, np.float32)


def key_view(grey: np.ndarray, sector: np.ndarray) -> np.ndarray:
    """White where a pixel has a level that is over-represented in its tile (a label's flat
    colour), black elsewhere: the labels' strokes without the speckle behind them."""
    found = spikes(grey, sector, KEY_SIGMA, KEY_EXCESS)
    if found is None:
        return np.zeros(grey.shape, np.uint8)
    return np.where(found, np.uint8(255), np.uint8(0))


def spikes(grey: np.ndarray, sector: np.ndarray, sigma: float, excess_min: float):
    """The (H, W) bool mask of pixels within a level of one that is over-represented in its
    tile (by ``sigma`` and ``excess_min`` pixels); None for a palette or posterised image, where
    every level is a spike."""
    h, w = grey.shape
    found = np.zeros((h, w), bool)
    tissue = grey[sector & (grey > KEY_FLOOR)]
    if tissue.size < KEY_MIN_PIXELS:
        return found
    low, high = np.percentile(tissue, [5, 95]).astype(int)
    used = np.bincount(tissue, minlength=256)[low : high + 1] > 0
    if used.mean() < KEY_USED_LEVELS:
        return None
    half = KEY_TILE // 2
    levels = grey.astype(np.int16)
    for y in range(0, max(h - half, 1), half):
        for x in range(0, max(w - half, 1), half):
            window = (slice(y, y + KEY_TILE), slice(x, x + KEY_TILE))
            tile, inside = grey[window], sector[window]
            values = tile[inside & (tile > KEY_FLOOR)]
            if values.size < KEY_MIN_PIXELS:
                continue
            count = np.bincount(values, minlength=256).astype(np.float32)
            # each level k in 3..252 against the median of k-3, k-2, k+2, k+3 (k+-1 share its
            # antialiased edge pixels)
            around = np.median(np.stack([count[0:-5], count[1:-4], count[4:-1], count[5:]]), axis=0)
            excess = count[3:-2] - around
            over = np.flatnonzero(excess > sigma * np.sqrt(around + 1) + excess_min) + 3
            for level in over:
                found[window] |= (np.abs(levels[window] - level) <= 1) & inside
    return found


def regions(prob: np.ndarray, grey: np.ndarray | None = None) -> list[tuple[int, int, int, int]]:
    """Boxes (left, top, right, bottom; right/bottom exclusive) of the text regions in a
    probability map, grown back to the text's full extent. A weaker region (box mean at least
    ``WEAK_BOX_THRESH``) counts when it lies on the line of a strong one, within two line heights
    of it: the last letter after a space ("O'BRIEN K") scores lowest of all. With ``grey`` (the
    image), a region whose edges run almost all along it (reverberation bands, a bright wall:
    horizontal lines, no letter's vertical strokes) is not text."""
    h, w = prob.shape
    strong, weak = [], []
    for y0, x0, y1, x1 in components(prob > THRESH):
        if min(y1 - y0, x1 - x0) < MIN_SIDE or y1 - y0 > MAX_LINE:
            continue
        score = float(prob[y0:y1, x0:x1].mean())
        if score < WEAK_BOX_THRESH or (grey is not None and _lines_only(grey[y0:y1, x0:x1])):
            continue
        (strong if score >= BOX_THRESH else weak).append((y0, x0, y1, x1))
    for y0, x0, y1, x1 in weak:
        for sy0, sx0, sy1, sx1 in strong:
            overlap = min(y1, sy1) - max(y0, sy0)
            gap = max(sx0 - x1, x0 - sx1)
            if overlap >= 0.5 * min(y1 - y0, sy1 - sy0) and gap <= 2 * (sy1 - sy0):
                strong.append((y0, x0, y1, x1))
                break
    boxes = []
    for y0, x0, y1, x1 in strong:
        bh, bw = y1 - y0, x1 - x0
        grow = int(np.ceil(1.6 * bh * bw / (2 * (bh + bw))))  # DB's unclip
        ends = grow + (bh + 2 * grow + 1) // 4  # first and last letters score lowest
        boxes.append((max(x0 - ends, 0), max(y0 - grow, 0), min(x1 + ends, w), min(y1 + grow, h)))
    return boxes


def _lines_only(patch: np.ndarray) -> bool:
    """True when a patch's brightness changes far more from row to row than along its rows:
    horizontal lines, not letters (each letter has vertical strokes as strong as its bars)."""
    f = patch.astype(np.float32)
    along = float(np.abs(np.diff(f, axis=1)).mean()) if f.shape[1] > 1 else 0.0
    across = float(np.abs(np.diff(f, axis=0)).mean()) if f.shape[0] > 1 else 0.0
    return along < LINES_RATIO * across


def components(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (y0, x0, y1, x1) of the 8-connected components of ``mask``, from its runs
    (a union-find over each row's runs and the ones they touch in the row above)."""
    parent: list[int] = []
    bbox: list[list[int]] = []

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    previous: list[tuple[int, int, int]] = []  # (start, end exclusive, run id) of row y - 1
    last = -2
    for y in np.flatnonzero(mask.any(axis=1)).tolist():
        starts, ends = np.flatnonzero(edges[y] == 1), np.flatnonzero(edges[y] == -1)
        current = []
        above = previous if last == y - 1 else []
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            rid = len(parent)
            parent.append(rid)
            bbox.append([y, a, y + 1, b])
            for pa, pb, pid in above:
                if pa <= b and a <= pb:  # touching, diagonals included
                    ra, rb = find(pid), find(rid)
                    if ra != rb:
                        parent[rb] = ra
            current.append((a, b, rid))
        previous, last = current, y
    merged: dict[int, list[int]] = {}
    for i, box in enumerate(bbox):
        r = find(i)
        m = merged.setdefault(r, list(box))
        m[0], m[1] = min(m[0], box[0]), min(m[1], box[1])
        m[2], m[3] = max(m[2], box[2]), max(m[3], box[3])
    return [tuple(m) for m in merged.values()]  # type: ignore[misc]


def is_doppler(rgb: np.ndarray, sector: np.ndarray) -> bool:
    """Whether the sector holds colour Doppler: at least ``DOPPLER_SHARE`` of it in vivid
    colour that fills a 5 x 5 square (flow is drawn in blobs; a coloured label, even a line of
    26 px cyan letters over the sector's shoulder, in strokes thinner than that)."""
    if rgb.ndim == 2 or not sector.any():
        return False
    hi, lo = rgb.max(axis=2), rgb.min(axis=2)
    vivid = (hi >= 120) & (hi.astype(np.int16) - lo >= 80)
    if vivid[sector].mean() < DOPPLER_SHARE:
        return False
    solid = _window_sum(vivid.astype(np.float64), 2) >= 25 - 0.5  # the 5 x 5 square all vivid
    return bool(solid[sector].mean() >= DOPPLER_SHARE)


def _view(rgb: np.ndarray, sector: np.ndarray, doppler: bool | None = None) -> np.ndarray:
    """The grey image the detector sees: the brightest channel (a yellow or cyan label is as
    bright as a white one), or where the sector holds colour Doppler, the darkest channel, so the
    flow's vivid blobs go dark and grey or white labels stay. ``doppler`` is the decision made
    on the whole sector, for a strip of the frame (where a cyan title line over the sector's
    shoulder is most of the little sector there, and would pass for flow)."""
    if rgb.ndim == 2:
        return rgb
    if doppler is None:
        doppler = is_doppler(rgb, sector)
    return rgb.min(axis=2) if doppler else rgb.max(axis=2)


def lift_view(grey: np.ndarray, sector: np.ndarray) -> np.ndarray:
    """Each sector pixel's brightness above the mean of its neighbourhood in the sector (the
    canvas and the anechoic dark left out of the mean), ``LIFT_GAIN`` times as steep; outside the
    sector black."""
    tissue = (sector & (grey > KEY_FLOOR)).astype(np.float64)
    g = grey.astype(np.float64)
    mean = _window_sum(g * tissue, LIFT_RADIUS) / np.maximum(_window_sum(tissue, LIFT_RADIUS), 1)
    lifted = np.clip((g - mean) * LIFT_GAIN + LIFT_OFFSET, 0, 255)
    return np.where(sector, lifted, 0).astype(np.uint8)


def _window_sum(a: np.ndarray, r: int) -> np.ndarray:
    """The sum of ``a`` over the (2r + 1)^2 window around each pixel (cut at the edges)."""
    h, w = a.shape
    c = np.zeros((h + 1, w + 1), np.float64)
    c[1:, 1:] = a.cumsum(0).cumsum(1)
    y0, y1 = np.clip(np.arange(h) - r, 0, h), np.clip(np.arange(h) + r + 1, 0, h)
    x0, x1 = np.clip(np.arange(w) - r, 0, w), np.clip(np.arange(w) + r + 1, 0, w)
    return c[np.ix_(y1, x1)] - c[np.ix_(y0, x1)] - c[np.ix_(y1, x0)] + c[np.ix_(y0, x0)]


def flat_level(grey: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, float] | None:
    """The level a box is filled with, as a typed label is, and that level's rate (per pixel) in
    the rows above and below the box; None when no level is at least ``FLAT_MIN`` pixels of the
    box, ``FLAT_RATIO`` times as frequent as above and below it and a spike in the box's own
    histogram (speckle, a quantised image, or a lossy image's blurred levels)."""
    x0, y0, x1, y1 = box
    bh = y1 - y0
    beside = np.concatenate(  # the rows above and below: the label's line goes on left and right
        [grey[max(y0 - bh, 0) : y0, x0:x1].ravel(), grey[y1 : y1 + bh, x0:x1].ravel()]
    )
    inner = np.bincount(grey[y0:y1, x0:x1].ravel(), minlength=256).astype(np.float64)
    outer = np.bincount(beside, minlength=256)
    rate = (outer + 1) / (beside.size + 256)  # a level never seen beside the box: a small rate
    expected = rate * (y1 - y0) * (x1 - x0)
    excess = inner - expected
    excess[: KEY_FLOOR + 1] = 0  # the canvas and the anechoic dark are flat, and no label
    level = int(np.argmax(excess))  # the level with the most pixels more than expected
    if inner[level] < FLAT_MIN or inner[level] < FLAT_RATIO * expected[level]:
        return None
    # ... and a spike in the box's own histogram, as the key view's (antialiasing fills the
    # levels next to it, so those two and three away): a smooth or quantised region's most
    # frequent level has neighbours nearly as frequent
    around = np.median(inner[[max(level - 3, 0), max(level - 2, 0), level + 2, level + 3]]
                       if level <= 252 else inner[[level - 3, level - 2]])  # fmt: skip
    if inner[level] < FLAT_SPIKE * (around + 1):
        return None
    return level, float(rate[level])


def extend_along_line(
    grey: np.ndarray, box: tuple[int, int, int, int], level: int, rate: float
) -> tuple[int, int, int, int]:
    """Carry a box along its line, a half line-height at a time, while the next line-height of
    the row holds ``level`` at least ``FLAT_RATIO`` times its rate above and below the box (and
    3 pixels); a word's space (one window short) is crossed, two are the label's end."""
    x0, y0, x1, y1 = box
    w = grey.shape[1]
    bh = y1 - y0
    step = max(bh // 2, 1)
    row = (grey[y0:y1] == level).sum(axis=0)
    need = max(3.0, FLAT_RATIO * rate * bh * bh)
    for direction in (-1, 1):
        misses, edge = 0, x0 if direction < 0 else x1
        while misses < 2:
            a, b = (edge - bh, edge) if direction < 0 else (edge, edge + bh)
            if a < 0 or b > w:
                break
            if row[a:b].sum() >= need:
                misses = 0
                if direction < 0:
                    x0 = a
                else:
                    x1 = b
            else:
                misses += 1
            edge += direction * step
    return x0, y0, x1, y1


def _boxes(
    grey: np.ndarray, sector: np.ndarray, image_only: bool = False, lift: bool = True
) -> tuple[list[Box], list[Box]]:
    """The text boxes, and the regions any view scored above ``DOUBT`` that are not text boxes
    (for Tesseract to verify). The image goes through the network at 1x, then at ``SCALE``
    only around what scored above ``COARSE_GATE`` there (on bench.deid's screens the same labels
    as the whole image at ``SCALE``, for about a third of the work); the key view only
    around its white pixels (black elsewhere: nothing there to find); the lift view only around
    a flat colour's hint (a looser key view), since its boxes count only with a flat colour."""
    # the image at 1x first (a sixth of the work), then at SCALE only where it saw anything
    coarse = probability(grey, COARSE_SCALE)
    prob = probability_within(grey, windows(coarse > COARSE_GATE))
    boxes = regions(prob, grey)
    if image_only:
        return boxes, [(x0, y0, x1, y1) for y0, x0, y1, x1 in components(prob > DOUBT)]
    key = key_view(grey, sector)
    if key.any():
        key_prob = probability_within(key, windows(key > 0))
        boxes += regions(key_prob, grey)
        np.maximum(prob, key_prob, out=prob)
    lift_prob = np.zeros_like(prob)
    if lift:
        hint = spikes(grey, sector, GATE_SIGMA, GATE_EXCESS)
        lifted_view = lift_view(grey, sector)
        lift_prob = (
            probability(lifted_view)
            if hint is None
            else probability_within(lifted_view, windows(hint))
        )
    lifted = regions(lift_prob, grey)
    found = []
    for i, box in enumerate(boxes + lifted):
        flat = flat_level(grey, box)
        if flat is None:
            if i < len(boxes):  # the lift view's boxes count with a flat colour only
                found.append(box)
            continue
        found.append(extend_along_line(grey, box, *flat))
    np.maximum(prob, lift_prob, out=prob)
    doubt = [(x0, y0, x1, y1) for y0, x0, y1, x1 in components(prob > DOUBT)]
    return found, doubt


# The same pixels give the same boxes: an upload sent again (a retry, a second assignment), or a
# still frame repeated in a clip, is not looked at twice. Boxes only: a few bytes an entry.
SEEN_MAX = 256
_seen: OrderedDict[bytes, tuple[list[Box], list[Box]]] = OrderedDict()
_seen_lock = threading.Lock()


def find_text(
    rgb: np.ndarray, sector: np.ndarray, doppler: bool | None = None
) -> tuple[np.ndarray, int]:
    """Where text lies in an (H, W, 3) image: an (H, W) bool mask of the detected boxes and
    their count. Each view is looked at separately and the boxes joined. ``doppler``: whether
    the scan holds colour Doppler, when ``rgb`` is only a strip of it (see ``_view``)."""
    found = look(rgb, sector, doppler)
    return found.mask, len(found.boxes)


@dataclass
class Found:
    """What the detector found on an image: the text boxes, their (H, W) mask, and the regions
    it had a doubt about (scored above ``DOUBT`` in some view without being text boxes)."""

    boxes: list[Box]
    doubt: list[Box]
    mask: np.ndarray

    def doubt_mask(self) -> np.ndarray:
        out = np.zeros_like(self.mask)
        for x0, y0, x1, y1 in self.doubt:
            out[y0:y1, x0:x1] = True
        return out


def look(
    rgb: np.ndarray,
    sector: np.ndarray,
    doppler: bool | None = None,
    image_only: bool = False,
    lift: bool = True,
) -> Found:
    """The detector over an (H, W, 3) image (see ``find_text``), with its doubts.
    ``image_only``: the image view alone (a strip of screen furniture over the dark canvas,
    where labels are not typed over tissue). ``lift=False``: without the lift view (a clip's
    frame between two that have it: a label it alone finds stays put on the screen)."""
    _session()  # a detector that cannot run refuses every image, seen before or not
    grey = np.ascontiguousarray(_view(rgb, sector, doppler), np.uint8)
    h, w = grey.shape
    mask = np.zeros((h, w), bool)
    if min(h, w) < 8:
        return Found([], [], mask)
    digest = hashlib.blake2b(grey.tobytes(), digest_size=16)
    digest.update(np.packbits(sector).tobytes() + repr((grey.shape, image_only, lift)).encode())
    key = digest.digest()
    with _seen_lock:
        seen = _seen.get(key)
        if seen is not None:
            _seen.move_to_end(key)
    if seen is None:
        seen = _boxes(grey, sector, image_only, lift)
        with _seen_lock:
            _seen[key] = seen
            while len(_seen) > SEEN_MAX:
                _seen.popitem(last=False)
    boxes, doubt = seen
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    return Found(list(boxes), list(doubt), mask)
