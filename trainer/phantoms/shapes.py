"""Vectorised 2-D shapes in scene coordinates: ellipses, smooth blobs, polygons, tubes.

Every shape answers ``mask(x, z)`` for arrays of points and ``bounds()`` (a box that
contains it), and can be moved or grown. Masks are only evaluated inside the bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

Bounds = tuple[float, float, float, float]  # xmin, xmax, zmin, zmax


class Shape:
    def bounds(self) -> Bounds:
        raise NotImplementedError

    def _mask(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def grown(self, d: float) -> Shape:
        raise NotImplementedError

    def moved(self, dx: float, dz: float) -> Shape:
        return Similar(self, 1.0, dx, dz, 0.0, 0.0)

    def scaled(self, k: float, cx: float, cz: float) -> Shape:
        return Similar(self, k, 0.0, 0.0, cx, cz)

    def mask(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Boolean mask with the shape of ``x``; evaluates only points inside the bounds."""
        x0, x1, z0, z1 = self.bounds()
        sel = (x >= x0) & (x <= x1) & (z >= z0) & (z <= z1)
        out = np.zeros(x.shape, dtype=bool)
        if sel.any():
            out[sel] = self._mask(x[sel], z[sel])
        return out

    def sample(self, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
        """Points of a regular n x n grid over the bounds that fall inside the shape."""
        x0, x1, z0, z1 = self.bounds()
        gx, gz = np.meshgrid(np.linspace(x0, x1, n), np.linspace(z0, z1, n))
        m = self._mask(gx.ravel(), gz.ravel())
        return gx.ravel()[m], gz.ravel()[m]


def _rot(x, z, cx, cz, ang):
    c, s = math.cos(ang), math.sin(ang)
    dx, dz = x - cx, z - cz
    return dx * c + dz * s, -dx * s + dz * c


@dataclass(frozen=True)
class Blob(Shape):
    """An ellipse with a smooth radial wobble: r(phi) = 1 + sum(a_k cos(k phi + p_k))."""

    cx: float
    cz: float
    a: float
    b: float
    ang: float = 0.0
    wobble: tuple[tuple[int, float, float], ...] = ()

    def bounds(self) -> Bounds:
        r = max(self.a, self.b) * (1.0 + sum(abs(w[1]) for w in self.wobble))
        return (self.cx - r, self.cx + r, self.cz - r, self.cz + r)

    def _mask(self, x, z):
        u, v = _rot(x, z, self.cx, self.cz, self.ang)
        u, v = u / self.a, v / self.b
        rho2 = u * u + v * v
        if not self.wobble:
            return rho2 <= 1.0
        phi = np.arctan2(v, u)
        lim = np.ones_like(phi)
        for k, amp, ph in self.wobble:
            lim += amp * np.cos(k * phi + ph)
        return rho2 <= lim * lim

    def grown(self, d: float) -> Blob:
        return replace(self, a=self.a + d, b=self.b + d)


def ellipse(cx, cz, a, b, ang=0.0) -> Blob:
    return Blob(cx, cz, a, b, ang)


def blob(rng: np.random.Generator, cx, cz, a, b, ang=0.0, rough=0.06, orders=(2, 3, 4)) -> Blob:
    wob = tuple(
        (k, float(rng.uniform(0.3, 1.0) * rough), float(rng.uniform(0, 6.28))) for k in orders
    )
    return Blob(cx, cz, a, b, ang, wob)


@dataclass(frozen=True)
class Polygon(Shape):
    xs: tuple[float, ...]
    zs: tuple[float, ...]

    def bounds(self) -> Bounds:
        return (min(self.xs), max(self.xs), min(self.zs), max(self.zs))

    def _mask(self, x, z):
        inside = np.zeros(x.shape, dtype=bool)
        xs, zs = self.xs, self.zs
        n = len(xs)
        for i in range(n):
            xa, za, xb, zb = xs[i], zs[i], xs[(i + 1) % n], zs[(i + 1) % n]
            if za == zb:
                continue
            cross = (za > z) != (zb > z)
            xint = xa + (z - za) * (xb - xa) / (zb - za)
            inside ^= cross & (x < xint)
        return inside

    def grown(self, d: float) -> Polygon:
        cx, cz = sum(self.xs) / len(self.xs), sum(self.zs) / len(self.zs)
        out_x, out_z = [], []
        for x, z in zip(self.xs, self.zs, strict=True):
            r = math.hypot(x - cx, z - cz) or 1.0
            out_x.append(x + (x - cx) / r * d)
            out_z.append(z + (z - cz) / r * d)
        return Polygon(tuple(out_x), tuple(out_z))


def smooth_polygon(points: list[tuple[float, float]], iterations: int = 2) -> Polygon:
    """Chaikin corner cutting: a closed polygon with rounded corners."""
    pts = np.asarray(points, dtype=float)
    for _ in range(iterations):
        nxt = np.roll(pts, -1, axis=0)
        q = 0.75 * pts + 0.25 * nxt
        r = 0.25 * pts + 0.75 * nxt
        pts = np.stack([q, r], axis=1).reshape(-1, 2)
    return Polygon(tuple(pts[:, 0].tolist()), tuple(pts[:, 1].tolist()))


@dataclass(frozen=True)
class Tube(Shape):
    """A polyline with a radius at each vertex (tapering allowed)."""

    xs: tuple[float, ...]
    zs: tuple[float, ...]
    rs: tuple[float, ...]

    def bounds(self) -> Bounds:
        r = max(self.rs)
        return (min(self.xs) - r, max(self.xs) + r, min(self.zs) - r, max(self.zs) + r)

    def _mask(self, x, z):
        out = np.zeros(x.shape, dtype=bool)
        for i in range(len(self.xs) - 1):
            xa, za, xb, zb = self.xs[i], self.zs[i], self.xs[i + 1], self.zs[i + 1]
            ra, rb = self.rs[i], self.rs[i + 1]
            dx, dz = xb - xa, zb - za
            ll = dx * dx + dz * dz or 1e-12
            t = np.clip(((x - xa) * dx + (z - za) * dz) / ll, 0.0, 1.0)
            ex, ez = x - (xa + t * dx), z - (za + t * dz)
            rr = ra + t * (rb - ra)
            out |= ex * ex + ez * ez <= rr * rr
        return out

    def grown(self, d: float) -> Tube:
        return replace(self, rs=tuple(r + d for r in self.rs))

    def length(self) -> float:
        return float(np.sum(np.hypot(np.diff(self.xs), np.diff(self.zs))))

    def part(self, t0: float, t1: float, taper: float = 0.25) -> Tube:
        """The stretch between arc-length fractions t0..t1, tapering to a point at cut ends."""
        xs, zs, rs = np.array(self.xs), np.array(self.zs), np.array(self.rs)
        seg = np.hypot(np.diff(xs), np.diff(zs))
        cum = np.concatenate([[0.0], np.cumsum(seg)]) / max(seg.sum(), 1e-12)
        ts = np.linspace(t0, t1, 12)
        nx, nz, nrad = np.interp(ts, cum, xs), np.interp(ts, cum, zs), np.interp(ts, cum, rs)
        k = max(1, round(taper * len(ts)))
        ramp = np.linspace(0.15, 1.0, k + 1)[:-1]
        if t0 > 0:
            nrad[:k] *= ramp
        if t1 < 1:
            nrad[-k:] *= ramp[::-1]
        return Tube(tuple(nx.tolist()), tuple(nz.tolist()), tuple(nrad.tolist()))


def bezier_tube(p0, p1, p2, r0: float, r1: float | None = None, n: int = 12, p3=None) -> Tube:
    """A tube along a quadratic (or cubic, with ``p3``) Bezier curve."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    a, b, c = np.array(p0), np.array(p1), np.array(p2)
    if p3 is None:
        pts = (1 - t) ** 2 * a + 2 * (1 - t) * t * b + t**2 * c
    else:
        d = np.array(p3)
        pts = (1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t**2 * c + t**3 * d
    r1 = r0 if r1 is None else r1
    rs = np.linspace(r0, r1, n)
    return Tube(tuple(pts[:, 0].tolist()), tuple(pts[:, 1].tolist()), tuple(rs.tolist()))


@dataclass(frozen=True)
class Similar(Shape):
    """``inner`` scaled by ``k`` about (cx, cz), then moved by (dx, dz)."""

    inner: Shape
    k: float
    dx: float
    dz: float
    cx: float
    cz: float

    def _fwd(self, x, z):
        return self.cx + (x - self.cx) * self.k + self.dx, self.cz + (
            z - self.cz
        ) * self.k + self.dz

    def bounds(self) -> Bounds:
        x0, x1, z0, z1 = self.inner.bounds()
        a, c = self._fwd(x0, z0)
        b, d = self._fwd(x1, z1)
        return (min(a, b), max(a, b), min(c, d), max(c, d))

    def _mask(self, x, z):
        ix = self.cx + (x - self.dx - self.cx) / self.k
        iz = self.cz + (z - self.dz - self.cz) / self.k
        return self.inner._mask(ix, iz)

    def grown(self, d: float) -> Similar:
        return replace(self, inner=self.inner.grown(d / self.k))


@dataclass(frozen=True)
class Union(Shape):
    parts: tuple[Shape, ...] = field(default_factory=tuple)

    def bounds(self) -> Bounds:
        bs = [p.bounds() for p in self.parts]
        return (
            min(b[0] for b in bs),
            max(b[1] for b in bs),
            min(b[2] for b in bs),
            max(b[3] for b in bs),
        )

    def _mask(self, x, z):
        out = np.zeros(x.shape, dtype=bool)
        for p in self.parts:
            out |= p.mask(x, z)
        return out

    def grown(self, d: float) -> Union:
        return Union(tuple(p.grown(d) for p in self.parts))


@dataclass(frozen=True)
class Difference(Shape):
    keep: Shape
    cut: Shape

    def bounds(self) -> Bounds:
        return self.keep.bounds()

    def _mask(self, x, z):
        return self.keep._mask(x, z) & ~self.cut.mask(x, z)

    def grown(self, d: float) -> Difference:
        return Difference(self.keep.grown(d), self.cut)
