"""The scene: painted parts, key structures, and the regions of plane-specific defects.

Templates (``planes.py``) describe anatomy in an *anatomy frame* equal to the scene at zoom 1;
the builder maps it into the scene, scaled by ``zoom`` about the bottom of the body wall (a
too-deep setting shows the same anatomy smaller, high in the field). A key structure is either
an ``organ`` (complete when it lies wholly in the sector) or a ``tube`` (a vessel or duct:
complete when shown along its course; it may leave through the side edges, and is incomplete
when only a fragment is in plane).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .geometry import Geometry
from .shapes import Blob, Shape, Similar, Tube, Union, bezier_tube


@dataclass
class Part:
    shape: Shape
    tissue: str
    gain: float = 1.0
    owner: str | None = None


@dataclass
class Struct:
    id: str
    kind: str  # "organ" | "tube"
    extent: Shape
    children: tuple[str, ...] = ()
    truncated: bool = False


@dataclass
class Scene:
    layers: list[Part] = field(default_factory=list)
    structs: dict[str, Struct] = field(default_factory=dict)
    # plane item -> ("struct", ids) | ("shadow", shape) | None
    regions: dict[str, tuple | None] = field(default_factory=dict)
    target_depth: float = 0.5

    def move(self, sid: str, dx: float, dz: float) -> None:
        ids = {sid, *self.structs[sid].children}
        for p in self.layers:
            if p.owner in ids:
                p.shape = p.shape.moved(dx, dz)
        for i in ids:
            if i in self.structs:
                s = self.structs[i]
                s.extent = s.extent.moved(dx, dz)


class Builder:
    """Collects parts; skips structures meant to be missing; truncates tubes meant incomplete."""

    def __init__(self, rng, geo: Geometry, corner: float, wall: float, zoom: float, intent, flags):
        self.rng, self.geo, self.corner, self.wall, self.zoom = rng, geo, corner, wall, zoom
        self.intent: dict[str, str] = intent  # id -> "ok" | "incomplete" | "missing"
        self.flags: set[str] = flags  # plane items to render
        self.scene = Scene()

    # -- frames -------------------------------------------------------------
    def hw(self, z: float) -> float:
        return self.geo.half_width(z)

    def X(self, u: float, z: float) -> float:
        return u * self.hw(z)

    def u(self, a: float, b: float) -> float:
        return float(self.rng.uniform(a, max(a, b)))

    def _scene(self, shape: Shape) -> Shape:
        if self.zoom == 1.0:
            return shape
        return Similar(shape, self.zoom, 0.0, 0.0, 0.0, self.wall)

    def wants(self, sid: str | None) -> bool:
        return sid is None or self.intent.get(sid, "ok") != "missing"

    def has(self, flag: str) -> bool:
        return flag in self.flags

    # -- adding -------------------------------------------------------------
    def add(
        self,
        shape: Shape,
        tissue: str,
        owner: str | None = None,
        gain: float = 1.0,
        scene_coords: bool = False,
    ) -> Shape:
        s = shape if scene_coords else self._scene(shape)
        if self.wants(owner):
            self.scene.layers.append(Part(s, tissue, gain, owner))
        return s

    def struct(
        self, sid: str, kind: str, extent: Shape, children=(), scene_coords=False, truncated=False
    ) -> None:
        if not self.wants(sid):
            return
        e = extent if scene_coords else self._scene(extent)
        self.scene.structs[sid] = Struct(sid, kind, e, tuple(children), truncated)

    def organ(
        self, sid: str | None, parts: list[tuple[Shape, str, float]], extent: Shape, children=()
    ) -> None:
        for shape, tissue, gain in parts:
            self.add(shape, tissue, sid, gain)
        if sid is not None:
            self.struct(sid, "organ", extent, children)

    def vessel(
        self,
        sid: str | None,
        tube: Tube,
        fluid: str = "blood",
        wall: float = 0.0,
        wall_tissue: str = "wall",
        unclear: bool = False,
        scene_coords=False,
    ) -> Tube:
        """A vessel or duct; truncated to a tapered fragment when it is meant incomplete."""
        truncated = False
        if sid is not None and self.intent.get(sid) == "incomplete":
            span = self.u(0.3, 0.5)
            t0 = self.u(0.05, 0.95 - span)
            tube = tube.part(t0, t0 + span)
            truncated = True
        if unclear:
            # an unclear lumen: low-level echoes fill it and the wall blurs into the tissue
            fluid, wall, wall_tissue = "sludge", wall * 0.5, "liver"
        if wall > 0:
            self.add(tube.grown(wall), wall_tissue, sid, scene_coords=scene_coords)
        self.add(tube, fluid, sid, scene_coords=scene_coords)
        if sid is not None:
            self.struct(sid, "tube", tube, scene_coords=scene_coords, truncated=truncated)
        return tube

    def long_tube(self, z_left: float, z_right: float, r: float, sag: float = 0.0) -> Tube:
        """A vessel crossing the whole field (scene coordinates, so it still crosses when zoomed).

        Its ends lie beyond the side edges; depths are given in the anatomy frame.
        """
        zl = self.wall + (z_left - self.wall) * self.zoom
        zr = self.wall + (z_right - self.wall) * self.zoom
        xl = -(self.geo.half_width(zl) + 0.12)
        xr = self.geo.half_width(zr) + 0.12
        zm = (zl + zr) / 2 + sag * self.zoom
        rr = r * self.zoom
        return bezier_tube((xl, zl), (0.0, zm), (xr, zr), rr, rr, n=14)

    def region(self, item: str, value) -> None:
        if item in self.flags:
            self.scene.regions[item] = value


# -- reusable organs ---------------------------------------------------------


def egg(rng, cx, cz, a, b, ang, rough=0.04) -> Blob:
    wob = (
        (1, float(rng.uniform(0.08, 0.16)), 0.0),
        *((k, float(rng.uniform(0.2, 1.0) * rough), float(rng.uniform(0, 6.28))) for k in (2, 3)),
    )
    return Blob(cx, cz, a, b, ang, wob)


def kidney(b: Builder, sid: str, cx, cz, length, width, ang, sinus_unclear=False) -> None:
    rng = b.rng
    body = Blob(
        cx,
        cz,
        length / 2,
        width / 2,
        ang,
        ((2, 0.04, float(rng.uniform(0, 6.28))), (3, 0.03, float(rng.uniform(0, 6.28)))),
    )
    parts: list[tuple[Shape, str, float]] = [
        (body.grown(0.018), "retro_fat", 1.0),
        (body, "cortex", 1.0),
    ]
    ca, sa = math.cos(ang), math.sin(ang)
    if not sinus_unclear:
        for i in range(6):
            t = -0.7 + 1.4 * i / 5
            side = 1 if i % 2 else -1
            lx, lz = t * length / 2 * 0.8, side * width * 0.24
            px, pz = cx + lx * ca - lz * sa, cz + lx * sa + lz * ca
            parts.append(
                (Blob(px, pz, width * 0.12, width * 0.09, ang + side * 0.2), "medulla", 1.0)
            )
    sinus = Blob(
        cx,
        cz,
        length * 0.32,
        width * 0.16,
        ang,
        tuple((k, float(rng.uniform(0.05, 0.14)), float(rng.uniform(0, 6.28))) for k in (3, 5, 7)),
    )
    parts.append((sinus, "cortex" if sinus_unclear else "sinus", 1.25 if sinus_unclear else 1.0))
    b.organ(sid, parts, body)


def liver_vessels(b: Builder, bounds, n: int) -> None:
    """A few small out-of-plane vessel sections scattered in the liver (texture, not key)."""
    x0, x1, z0, z1 = bounds
    for _ in range(n):
        cx, cz = b.u(x0, x1), b.u(z0, z1)
        r = b.u(0.008, 0.02)
        if b.rng.random() < 0.5:
            b.add(Blob(cx, cz, r * 1.5 + 0.005, r + 0.005, b.u(0, 3)), "wall")
        b.add(Blob(cx, cz, r * 1.5, r, b.u(0, 3)), "blood")


def arc_tube(blob: Blob, phi0: float, phi1: float, offset: float, r: float) -> Tube:
    """A tube along a blob's outline (angles in its own frame), ``offset`` outside it."""
    phis = np.linspace(phi0, phi1, 14)
    ca, sa = math.cos(blob.ang), math.sin(blob.ang)
    xs, zs = [], []
    for p in phis:
        lim = 1.0 + sum(a * math.cos(k * p + ph) for k, a, ph in blob.wobble)
        u = (blob.a * lim + offset) * math.cos(p)
        v = (blob.b * lim + offset) * math.sin(p)
        xs.append(blob.cx + u * ca - v * sa)
        zs.append(blob.cz + u * sa + v * ca)
    return Tube(tuple(xs), tuple(zs), tuple([r] * len(xs)))


def union(*shapes: Shape) -> Union:
    return Union(tuple(shapes))
