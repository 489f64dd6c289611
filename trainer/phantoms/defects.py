"""Quality defects: which rubric items an image gets, and the global ones' rendering.

Items are drawn first (for a target grade, so the score distribution is controlled); the scene
and the renderer then make each item visible. Attenuation is placed on the beam grid so that
its share of the *sector pixels* (what the rubric's "share of the sector" means) is measured
exactly, and the item follows from the measured share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scoring.rubric import Rubric

from .geometry import ScanTable
from .texture import smooth

# Share of standard-plane images per target grade (rejection sampling hits the grade exactly).
TIER_WEIGHTS = {"Excellent": 0.30, "Good": 0.27, "Moderate": 0.24, "Poor": 0.19}
TIER_RATE = {"Excellent": 0.08, "Good": 0.2, "Moderate": 0.3, "Poor": 0.45}
ATT_BANDS = {"ATT.mild": (0.0, 0.25), "ATT.moderate": (0.25, 0.5), "ATT.severe": (0.5, 1.0)}
BOUNDARIES = (0.25, 0.5)
MARGIN = 0.02  # measured shares never lie within this distance of a band boundary


def att_item(share: float) -> str | None:
    """The rubric item for an attenuated share of the sector (None when nothing is darkened)."""
    if share <= 0:
        return None
    if share < 0.25:
        return "ATT.mild"
    if share <= 0.5:
        return "ATT.moderate"
    return "ATT.severe"


def sample_items(
    rng: np.random.Generator, rubric: Rubric, planes: list[str], dual: bool = False
) -> list[str]:
    """Deduction items for a standard image, drawn for a random target grade."""
    tiers = list(TIER_WEIGHTS)
    tier = tiers[int(rng.choice(len(tiers), p=list(TIER_WEIGHTS.values())))]
    rate = TIER_RATE[tier]
    structs = [] if dual else list(rubric.planes[planes[0]].structures)
    plane_items = [
        i for p in planes for i in rubric.planes[p].items if rubric.items[i].kind == "plane"
    ]
    best: list[str] = []
    for _ in range(400):
        items: list[str] = []
        n_missing = 0
        for s in structs:
            u = rng.random()
            if u < rate * 0.45 and n_missing < len(structs) - 1:
                items.append(f"{planes[0]}.{s}.missing")
                n_missing += 1
            elif u < rate * 1.1:
                items.append(f"{planes[0]}.{s}.incomplete")
        items += [i for i in plane_items if rng.random() < rate * 0.6]
        if rng.random() < rate * 1.2:
            items.append(
                str(rng.choice(["ATT.mild", "ATT.moderate", "ATT.severe"], p=[0.5, 0.3, 0.2]))
            )
        if rng.random() < rate * 0.7:
            items.append(str(rng.choice(["GAIN.high", "GAIN.low"])))
        for g in ("DEPTH.wrong", "FOCUS.misplaced", "NOISE.artefact"):
            if rng.random() < rate * 0.5:
                items.append(g)
        best = items
        if rubric.grade(rubric.score(items)) == tier:
            break
    return best


def target_share(rng: np.random.Generator, item: str) -> float:
    near = rng.random() < 0.25  # exercise the band boundaries
    if item == "ATT.mild":
        return rng.uniform(0.215, 0.228) if near else rng.uniform(0.05, 0.21)
    if item == "ATT.moderate":
        if near:
            return rng.uniform(0.272, 0.285) if rng.random() < 0.5 else rng.uniform(0.465, 0.478)
        return rng.uniform(0.29, 0.46)
    return rng.uniform(0.522, 0.535) if near else rng.uniform(0.54, 0.8)


def _lateral_metric(side: str, t: np.ndarray, tc: float) -> np.ndarray:
    """Distance across the beams from where a shadow wedge starts (an edge or a centre)."""
    if side == "left":
        return t
    if side == "right":
        return 1.0 - t
    return np.abs(t - tc)


@dataclass
class Attenuation:
    factor: np.ndarray  # (nr, nt) multiplicative darkening of the echo (1 = none)
    mask_px: np.ndarray  # (P,) bool over sector pixels: the darkened pixels
    share: float
    item: str
    kind: str


def attenuation(rng: np.random.Generator, table: ScanTable, item: str) -> Attenuation:
    nr, nt = table.nr, table.nt
    d_px, t_px = table.depth_frac, table.lat_frac
    rows = np.linspace(0.0, 1.0, nr, dtype=np.float32)[:, None]
    cols = np.linspace(0.0, 1.0, nt, dtype=np.float32)[None, :]
    for _ in range(12):
        share = target_share(rng, item)
        kind = "depth" if rng.random() < 0.4 else "wedge"
        if kind == "depth":
            d0 = float(np.quantile(d_px, 1.0 - share))
            mask = np.broadcast_to(rows >= d0, (nr, nt))
        else:
            # start depth: shallow enough that the wedge can hold the share
            frac_below = lambda d: float(np.mean(d_px >= d))  # noqa: E731
            ds = float(rng.uniform(0.05, 0.45))
            while ds > 0.0 and frac_below(ds) < share / 0.8:
                ds -= 0.05
            ds = max(ds, 0.0)
            side = str(rng.choice(["left", "right", "middle"]))
            tc = float(rng.uniform(0.3, 0.7))
            m_px = np.sort(_lateral_metric(side, t_px[d_px >= ds], tc))
            k = min(len(m_px) - 1, round(share * len(d_px)))
            mstar = float(m_px[k])
            mask = (rows >= ds) & (_lateral_metric(side, cols, tc) <= mstar)
        mask = np.ascontiguousarray(mask)
        mask_px = table.convert_mask(mask)
        measured = float(mask_px.mean())
        if att_item(measured) == item and all(abs(measured - b) >= MARGIN for b in BOUNDARIES):
            break
    else:  # pragma: no cover - the quantile construction lands within a pixel of the target
        raise RuntimeError("could not place the attenuation region")
    f0 = float(rng.uniform(0.07, 0.2))
    start = np.argmax(mask, axis=0)[None, :] / (nr - 1)
    dark = f0 * np.exp(-float(rng.uniform(0.0, 2.0)) * np.clip(rows - start, 0, None))
    soft = smooth(mask.astype(np.float32), 1, 1, passes=1)
    factor = 1.0 - (1.0 - dark) * soft
    return Attenuation(factor.astype(np.float32), mask_px, measured, item, kind)


def focus_weights(rng: np.random.Generator, nr: int, target: float, misplaced: bool):
    """Per-row blur weight (0 sharp .. 1 blurred) and the focal depth."""
    rows = np.linspace(0.0, 1.0, nr, dtype=np.float32)
    if misplaced:
        zf = rng.uniform(0.06, 0.16) if target > 0.42 else rng.uniform(0.82, 0.94)
        w = np.clip(np.abs(rows - zf) / 0.22, 0.0, 1.0)
    else:
        zf = float(np.clip(target + rng.uniform(-0.05, 0.05), 0.1, 0.9))
        w = 0.3 * np.clip(np.abs(rows - zf) / 0.45, 0.0, 1.0)
    return w.astype(np.float32), float(zf)


def reverberation(rng: np.random.Generator, nr: int, nt: int, wall: float):
    """Additive echo of equally spaced bright lines in the near field, and its region mask."""
    add = np.zeros((nr, nt), dtype=np.float32)
    step = max(wall, 0.045) * rng.uniform(0.8, 1.1)
    n = int(rng.integers(4, 8))
    t0 = float(rng.uniform(0.0, 0.4))
    t1 = float(min(1.0, t0 + rng.uniform(0.35, 0.7)))
    j0, j1 = int(t0 * (nt - 1)), int(t1 * (nt - 1)) + 1
    amp = float(rng.uniform(2.5, 4.0))
    last = 0
    for k in range(1, n + 1):
        i = int(k * step * (nr - 1))
        if i + 2 >= nr:
            break
        add[i : i + 2, j0:j1] = amp * (0.85**k)
        last = i + 2
    region = np.zeros((nr, nt), dtype=bool)
    region[int(step * (nr - 1)) : last, j0:j1] = True
    edge = smooth(region.astype(np.float32), 0, 4, passes=1)
    return add * edge, region
