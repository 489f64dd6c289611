"""Non-standard images: wrong anatomy, off-plane sweeps and non-abdominal textures.

They carry no key structures; the record labels them ``["NS"]`` with ``NS.not_standard``.
"""

from __future__ import annotations

from collections.abc import Callable

from .scene import Builder, liver_vessels
from .shapes import Blob, blob, ellipse


def ns_bowel(b: Builder):
    b.add(Blob(0.0, 0.5, 2.0, 0.6), "retro_fat", gain=0.7)
    for _ in range(int(b.rng.integers(3, 6))):
        z = b.u(0.2, 0.75)
        x = b.X(b.u(-0.7, 0.7), z)
        r = b.u(0.06, 0.11)
        loop = blob(b.rng, x, z, r * b.u(1.0, 1.8), r, b.u(0, 3))
        b.add(loop, "bowel_wall")
        b.add(loop.scaled(0.55, x, z), "bowel", gain=1.6)
        if b.rng.random() < 0.5:
            b.add(Blob(x, z - r * 0.3, r * 0.5, r * 0.12), "gas")


def ns_bladder(b: Builder):
    z = b.u(0.35, 0.45)
    b.add(Blob(0.0, 0.6, 2.0, 0.6), "muscle")
    bl = blob(b.rng, b.X(b.u(-0.1, 0.1), z), z, b.u(0.3, 0.42), b.u(0.16, 0.22), 0.0, rough=0.05)
    b.add(bl.grown(0.008), "wall")
    b.add(bl, "urine")
    b.add(blob(b.rng, 0.0, z + 0.33, 0.22, 0.1), "thyroid", gain=0.7)


def ns_liver_sweep(b: Builder):
    b.add(ellipse(0.0, 0.5, 1.8, 0.6), "liver")
    liver_vessels(b, (b.X(-0.8, 0.4), b.X(0.8, 0.4), b.wall + 0.05, 0.85), 9)


def ns_kidney_transverse(b: Builder):
    z = b.u(0.45, 0.6)
    b.add(Blob(0.0, 0.6, 2.0, 0.6), "retro_fat", gain=0.7)
    k = blob(b.rng, b.X(b.u(-0.2, 0.2), z), z, 0.16, 0.14, 0.0, rough=0.05)
    b.add(k.grown(0.02), "retro_fat")
    b.add(k, "cortex")
    b.add(Blob(k.cx + 0.03, k.cz, 0.08, 0.06, 0.3), "sinus")
    b.add(Blob(k.cx + 0.14, k.cz, 0.06, 0.035), "retro_fat")


def ns_soft_tissue(b: Builder):
    # non-abdominal: layered fat and striated muscle over a bone surface
    z = b.wall
    while z < 0.75:
        t = b.u(0.08, 0.16)
        b.add(Blob(0.0, z + t / 2, 3.0, t / 2), "muscle" if b.rng.random() < 0.6 else "fat")
        for _ in range(3):
            zz = z + b.u(0, t)
            b.add(Blob(0.0, zz, 3.0, 0.004, b.u(-0.05, 0.05)), "fascia", gain=0.6)
        z += t
    b.add(Blob(0.0, b.u(0.8, 0.88), 3.0, 0.02, b.u(-0.08, 0.08)), "bone")


def ns_thyroid(b: Builder):
    z = b.u(0.3, 0.4)
    b.add(Blob(0.0, 0.5, 3.0, 0.7), "muscle")
    for s in (-1, 1):
        b.add(blob(b.rng, s * b.X(0.45, z), z, 0.22, 0.12), "thyroid")
        b.add(ellipse(s * b.X(0.8, z), z + 0.05, 0.07, 0.07), "blood")
    b.add(Blob(0.0, z - 0.02, 0.12, 0.05), "gas")


NON_STANDARD: dict[str, Callable[[Builder], None]] = {
    "bowel": ns_bowel,
    "bladder": ns_bladder,
    "liver_sweep": ns_liver_sweep,
    "kidney_transverse": ns_kidney_transverse,
    "soft_tissue": ns_soft_tissue,
    "thyroid": ns_thyroid,
}
