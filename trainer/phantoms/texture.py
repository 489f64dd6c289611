"""Tissue echo model, speckle and log compression on the beam grid.

Echo amplitudes are linear and relative to liver parenchyma (1.0). ``att`` is the amplitude
attenuation per depth unit (natural-log units); the time-gain compensation assumes soft tissue
(``SOFT_ATT``), so fluid (att ~ 0) leaves a bright stripe behind it (posterior enhancement) and
gas or bone (large att) a shadow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SOFT_ATT = 4.5


@dataclass(frozen=True)
class Tissue:
    echo: float
    att: float = SOFT_ATT
    fine: float = 0.12  # small-scale heterogeneity
    coarse: float = 0.08  # large-scale heterogeneity
    grain: float = 0.0  # extra granular texture (pancreas, fat)


TISSUES: dict[str, Tissue] = {
    "liver": Tissue(1.0, fine=0.10, coarse=0.10),
    "spleen": Tissue(1.15, fine=0.05, coarse=0.05),
    "cortex": Tissue(0.62, fine=0.10, coarse=0.05),
    "medulla": Tissue(0.22, att=2.5, fine=0.05, coarse=0.0),
    "sinus": Tissue(2.6, fine=0.45, coarse=0.2, grain=0.5),
    "pancreas": Tissue(1.9, fine=0.2, coarse=0.08, grain=0.35),
    "fat": Tissue(0.55, fine=0.4, coarse=0.2, grain=0.3),
    "retro_fat": Tissue(1.7, fine=0.35, coarse=0.25, grain=0.4),
    "muscle": Tissue(0.5, fine=0.15, coarse=0.1),
    "fascia": Tissue(3.2, att=4.0, fine=0.2),
    "skin": Tissue(3.6, att=4.0, fine=0.2),
    "deep": Tissue(1.0, fine=0.4, coarse=0.4, grain=0.9),
    "bowel": Tissue(0.9, fine=0.4, coarse=0.3, grain=0.5),
    "bowel_wall": Tissue(0.35, att=3.0),
    "blood": Tissue(0.025, att=0.25, fine=0.0, coarse=0.0),
    "bile": Tissue(0.012, att=0.1, fine=0.0, coarse=0.0),
    "urine": Tissue(0.012, att=0.1, fine=0.0, coarse=0.0),
    "sludge": Tissue(0.4, att=1.0, fine=0.3, coarse=0.2),
    "wall": Tissue(4.2, fine=0.15),
    "diaphragm": Tissue(4.2, att=3.6, fine=0.15),
    "gas": Tissue(6.0, att=60.0, fine=0.3),
    "bone": Tissue(7.0, att=90.0, fine=0.2),
    "thyroid": Tissue(1.5, fine=0.08, coarse=0.05),
    "tendon": Tissue(1.8, fine=0.3, coarse=0.1, grain=0.2),
}


def box_blur(a: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Moving average of width 2*radius+1 along ``axis`` (edges replicated), via cumsum."""
    if radius <= 0:
        return a
    pad = [(0, 0)] * a.ndim
    pad[axis] = (radius + 1, radius)
    p = np.pad(a, pad, mode="edge")
    c = np.cumsum(p, axis=axis, dtype=np.float32)
    n = a.shape[axis]
    hi = np.take(c, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
    lo = np.take(c, np.arange(0, n), axis=axis)
    return (hi - lo) / (2 * radius + 1)


def smooth(a: np.ndarray, rr: int, rt: int, passes: int = 2) -> np.ndarray:
    for _ in range(passes):
        a = box_blur(a, rr, 0)
        a = box_blur(a, rt, 1)
    return a


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], rr: int, rt: int) -> np.ndarray:
    """Zero-mean, unit-std correlated noise (cheap: generated small and upsampled)."""
    f = max(1, min(rr, rt) // 2)
    small = (shape[0] // f + 2, shape[1] // f + 2)
    n = rng.standard_normal(small, dtype=np.float32)
    n = smooth(n, max(1, rr // f), max(1, rt // f))
    n = np.repeat(np.repeat(n, f, axis=0), f, axis=1)[: shape[0], : shape[1]]
    if f > 1:
        n = smooth(n, f // 2 + 1, f // 2 + 1, passes=1)
    n -= n.mean()
    return n / (n.std() + 1e-6)


def speckle(rng: np.random.Generator, shape: tuple[int, int], rr: int = 1, rt: int = 1):
    """Correlated complex Gaussian field (its magnitude is Rayleigh speckle), as (re, im)."""
    re = smooth(rng.standard_normal(shape, dtype=np.float32), rr, rt, passes=1)
    im = smooth(rng.standard_normal(shape, dtype=np.float32), rr, rt, passes=1)
    k = 1.0 / np.sqrt(2.0 * np.mean(re * re + im * im) / 2.0 + 1e-9)
    return re * k, im * k


def log_compress(env: np.ndarray, gain_db: float, dyn_range: float = 56.0) -> np.ndarray:
    """Envelope -> 0..255 grey levels; 0 dB (liver speckle) lands near grey 110."""
    db = 20.0 * np.log10(env + 1e-6) + gain_db
    lo = -dyn_range * 0.46
    return np.clip((db - lo) * (255.0 / dyn_range), 0.0, 255.0)
