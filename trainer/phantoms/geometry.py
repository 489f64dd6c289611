"""Probe geometry and scan conversion.

The scene lives in *depth units*: ``z`` runs from the skin line (0) to the bottom of the
field of view (1) along the centre beam, ``x`` is lateral in the same unit. A curvilinear
probe has its virtual apex at ``(0, -r0)``; beams fan out over ``[-half, half]``. A linear
probe is a rectangle of width ``width``.

Rendering happens on a *beam grid* (rows = samples along a beam, columns = beams), which is
what a scanner sees: shadows and enhancement run along columns, depth gain along rows. The
scan converter maps that grid to image pixels through a cached lookup table; geometries are
drawn from a small discrete set so the tables are computed once per process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Discrete geometry choices: small enough to cache a lookup table for each.
CURVED_HALF_DEG = (30.0, 34.0, 38.0)
CURVED_R0 = (0.16, 0.24, 0.32)
LINEAR_WIDTH = (0.8, 0.95, 1.1)


@dataclass(frozen=True)
class Geometry:
    kind: str  # "curvilinear" | "linear"
    half: float = 0.0  # half opening angle (radians), curvilinear
    r0: float = 0.0  # apex to skin distance (depth units), curvilinear
    width: float = 0.0  # field width (depth units), linear

    # -- scene extent -------------------------------------------------------
    def extent(self) -> tuple[float, float, float, float]:
        """(xmin, xmax, zmin, zmax) of the field of view in scene units."""
        if self.kind == "linear":
            return (-self.width / 2, self.width / 2, 0.0, 1.0)
        xr = (self.r0 + 1.0) * math.sin(self.half)
        return (-xr, xr, self.r0 * math.cos(self.half) - self.r0, 1.0)

    def half_width(self, z: float) -> float:
        """Lateral half width of the field at depth ``z`` (along a horizontal line)."""
        if self.kind == "linear":
            return self.width / 2
        r = self.r0 + 1.0
        zz = z + self.r0
        side = zz * math.tan(self.half)
        arc = math.sqrt(max(r * r - zz * zz, 0.0))
        return min(side, arc)

    def polar(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional beam-grid coordinates: (depth fraction 0..1, lateral fraction 0..1)."""
        if self.kind == "linear":
            return z, (x + self.width / 2) / self.width
        zz = z + self.r0
        r = np.hypot(x, zz)
        th = np.arctan2(x, zz)
        return r - self.r0, (th + self.half) / (2 * self.half)

    def contains(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        d, t = self.polar(np.asarray(x, dtype=np.float64), np.asarray(z, dtype=np.float64))
        return (d >= 0) & (d <= 1) & (t >= 0) & (t <= 1)

    def lateral_ok(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Inside the lateral bounds (beam range), whatever the depth."""
        _, t = self.polar(np.asarray(x, dtype=np.float64), np.asarray(z, dtype=np.float64))
        return (t >= 0) & (t <= 1)

    def grid(self, nr: int, nt: int) -> tuple[np.ndarray, np.ndarray]:
        """Scene coordinates (x, z) of the beam grid, each of shape (nr, nt)."""
        d = np.linspace(0.0, 1.0, nr)[:, None]
        t = np.linspace(0.0, 1.0, nt)[None, :]
        if self.kind == "linear":
            x = (t - 0.5) * self.width + 0 * d
            z = d + 0 * t
        else:
            th = (t - 0.5) * 2 * self.half
            r = self.r0 + d
            x = r * np.sin(th)
            z = r * np.cos(th) - self.r0
        return x.astype(np.float32), z.astype(np.float32)


@dataclass(frozen=True)
class ScanTable:
    """Everything derived from (geometry, image size, sector box); cached."""

    geometry: Geometry
    size: int
    nr: int
    nt: int
    scale: float  # pixels per depth unit
    origin: tuple[float, float]  # pixel position of scene (0, 0) (skin line on centre beam)
    sector_box: tuple[int, int, int, int]
    pix: np.ndarray  # (P,) flat pixel index of sector pixels
    px: np.ndarray  # (P,) pixel column
    py: np.ndarray  # (P,) pixel row
    sx: np.ndarray  # (P,) scene x of each sector pixel
    sz: np.ndarray  # (P,) scene z
    i0: np.ndarray  # (P,) flat beam-grid index of the upper-left neighbour
    fr: np.ndarray  # (P,) fractional offset along depth
    ft: np.ndarray  # (P,) fractional offset across beams
    near: np.ndarray  # (P,) flat beam-grid index of the nearest sample
    depth_frac: np.ndarray  # (P,) depth fraction (0..1) of each sector pixel
    lat_frac: np.ndarray  # (P,) lateral (beam) fraction (0..1) of each sector pixel
    grid_x: np.ndarray  # (nr, nt) scene x of the beam grid
    grid_z: np.ndarray  # (nr, nt) scene z of the beam grid

    def to_pixel(self, x: float, z: float) -> tuple[float, float]:
        return self.origin[0] + x * self.scale, self.origin[1] + z * self.scale

    def convert(self, beams: np.ndarray, background: float = 0.0) -> np.ndarray:
        """Bilinear scan conversion of a (nr, nt) beam image to a (size, size) float image."""
        flat = beams.reshape(-1)
        nt = self.nt
        a = flat[self.i0]
        b = flat[self.i0 + 1]
        c = flat[self.i0 + nt]
        d = flat[self.i0 + nt + 1]
        top = a + (b - a) * self.ft
        bot = c + (d - c) * self.ft
        out = np.full(self.size * self.size, background, dtype=np.float32)
        out[self.pix] = top + (bot - top) * self.fr
        return out.reshape(self.size, self.size)

    def convert_mask(self, beams: np.ndarray) -> np.ndarray:
        """Nearest-neighbour scan conversion of a boolean beam mask, as (P,) over sector pixels."""
        return beams.reshape(-1)[self.near]

    def corner_depth(self) -> float:
        g = self.geometry
        return 1.0 if g.kind == "linear" else (g.r0 + 1.0) * math.cos(g.half) - g.r0

    def sector_mask(self) -> np.ndarray:
        m = np.zeros(self.size * self.size, dtype=bool)
        m[self.pix] = True
        return m.reshape(self.size, self.size)


def sample_geometry(rng: np.random.Generator, linear_share: float = 0.15) -> Geometry:
    if rng.random() < linear_share:
        return Geometry("linear", width=float(rng.choice(LINEAR_WIDTH)))
    return Geometry(
        "curvilinear",
        half=math.radians(float(rng.choice(CURVED_HALF_DEG))),
        r0=float(rng.choice(CURVED_R0)),
    )


def layout_box(size: int, chrome: bool) -> tuple[float, float, float, float]:
    """The pixel area the sector must fit in: the full image, or the screen's middle."""
    if chrome:
        return (0.13 * size, 0.11 * size, 0.84 * size, 0.95 * size)
    return (0.02 * size, 0.02 * size, 0.98 * size, 0.985 * size)


@lru_cache(maxsize=48)
def scan_table(geometry: Geometry, size: int, chrome: bool) -> ScanTable:
    xmin, xmax, zmin, zmax = geometry.extent()
    bx1, by1, bx2, by2 = layout_box(size, chrome)
    scale = min((bx2 - bx1) / (xmax - xmin), (by2 - by1) / (zmax - zmin))
    ox = (bx1 + bx2) / 2  # centre beam in the middle of the box
    oy = by1 - zmin * scale  # top of the field at the top of the box
    nr = max(64, int(size * 0.7))
    nt = max(48, int(size * 0.5)) if geometry.kind == "curvilinear" else max(48, int(size * 0.45))

    yy, xx = np.mgrid[0:size, 0:size]
    sx = (xx.reshape(-1) + 0.5 - ox) / scale
    sz = (yy.reshape(-1) + 0.5 - oy) / scale
    d, t = geometry.polar(sx, sz)
    inside = (d >= 0) & (d <= 1) & (t >= 0) & (t <= 1)
    pix = np.flatnonzero(inside).astype(np.int32)
    d, t = d[inside], t[inside]
    fr_full = d * (nr - 1)
    ft_full = t * (nt - 1)
    ir = np.minimum(np.floor(fr_full).astype(np.int32), nr - 2)
    it = np.minimum(np.floor(ft_full).astype(np.int32), nt - 2)
    near = (np.rint(fr_full).astype(np.int32) * nt + np.rint(ft_full).astype(np.int32)).astype(
        np.int32
    )
    px = (pix % size).astype(np.int32)
    py = (pix // size).astype(np.int32)
    gx, gz = geometry.grid(nr, nt)
    box = (int(px.min()), int(py.min()), int(px.max()) + 1, int(py.max()) + 1)
    return ScanTable(
        geometry=geometry,
        size=size,
        nr=nr,
        nt=nt,
        scale=float(scale),
        origin=(float(ox), float(oy)),
        sector_box=box,
        pix=pix,
        px=px,
        py=py,
        sx=sx[inside].astype(np.float32),
        sz=sz[inside].astype(np.float32),
        i0=(ir * nt + it).astype(np.int32),
        fr=(fr_full - ir).astype(np.float32),
        ft=(ft_full - it).astype(np.float32),
        near=near,
        depth_frac=d.astype(np.float32),
        lat_frac=t.astype(np.float32),
        grid_x=gx,
        grid_z=gz,
    )
