"""One phantom: choose the view and its defects, build the scene, render, box, record."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from scoring.rubric import Rubric, default_rubric

from . import chrome as chrome_mod
from .defects import attenuation, focus_weights, reverberation, sample_items
from .geometry import ScanTable, sample_geometry, scan_table
from .nonstandard import NON_STANDARD
from .planes import DUAL, DUAL_PAIRS, STANDARD
from .scene import Builder, Scene, Struct
from .texture import SOFT_ATT, TISSUES, box_blur, log_compress, smooth_field, speckle

NS_SHARE = 0.12
DUAL_SHARE = 0.06  # of all images; ~7 % of the standard ones
CHROME_SHARE = 0.4
LINEAR_SHARE = 0.12


def choose_planes(rng: np.random.Generator) -> list[str]:
    u = rng.random()
    if u < NS_SHARE:
        return ["NS"]
    if u < NS_SHARE + DUAL_SHARE:
        return list(DUAL_PAIRS[int(rng.integers(len(DUAL_PAIRS)))])
    codes = list(STANDARD)
    return [codes[int(rng.integers(len(codes)))]]


# -- structure placement -----------------------------------------------------


def classify(s: Struct, table: ScanTable) -> str:
    """'ok' | 'incomplete' | 'gone' | 'ambiguous', measured on the scene."""
    geo = table.geometry
    x, z = s.extent.sample(40 if s.kind == "organ" else 72)
    if len(x) == 0:
        return "gone"
    inside = geo.contains(x, z)
    if s.kind == "organ":
        f = float(inside.mean())
        if f >= 0.995:
            return "ok"
        if 0.2 <= f <= 0.88:
            return "incomplete"
        return "gone" if f < 0.01 else "ambiguous"
    lat = geo.lateral_ok(x, z)
    if lat.mean() < 0.5:
        return "ambiguous"
    radial_out = int((lat & ~inside).sum())
    if radial_out:
        return "ambiguous"
    return "incomplete" if s.truncated else "ok"


def make_incomplete(rng: np.random.Generator, scene: Scene, sid: str, table: ScanTable) -> None:
    """Slide an organ toward a side or the bottom edge until a set share of it is cut off."""
    s = scene.structs[sid]
    geo = table.geometry
    x, z = s.extent.sample(36)
    target = float(rng.uniform(0.4, 0.8))
    dx, dz = [(-1.0, 0.0), (1.0, 0.0), (0.0, 1.0)][int(rng.integers(3))]
    lo, hi = 0.0, 1.5
    for _ in range(16):
        mid = (lo + hi) / 2
        if geo.contains(x + mid * dx, z + mid * dz).mean() > target:
            lo = mid
        else:
            hi = mid
    scene.move(sid, lo * dx, lo * dz)


def build_scene(rng, table: ScanTable, template, intent, flags, wall, zoom):
    """Build until the measured state of every key structure matches the intent (or settle)."""
    corner = table.corner_depth()
    for _attempt in range(8):
        b = Builder(rng, table.geometry, corner, wall, zoom, intent, flags)
        template(b)
        scene = b.scene
        for sid, want in intent.items():
            if want == "incomplete" and sid in scene.structs and scene.structs[sid].kind == "organ":
                make_incomplete(rng, scene, sid, table)
        state = {sid: classify(s, table) for sid, s in scene.structs.items()}
        if all(state[sid] == intent.get(sid, "ok") for sid in state):
            return scene, state
    # settle for what was measured; drop what cannot be labelled unambiguously
    for sid, st in list(state.items()):
        if st in ("ambiguous", "gone"):
            scene.layers = [p for p in scene.layers if p.owner != sid]
            del scene.structs[sid]
            del state[sid]
    return scene, state


# -- rendering ---------------------------------------------------------------


def _paint(scene: Scene, table: ScanTable, rng, wall: float):
    nr, nt = table.nr, table.nt
    gx, gz = table.grid_x, table.grid_z
    f1 = smooth_field(rng, (nr, nt), 3, 3)
    f2 = smooth_field(rng, (nr, nt), 14, 12)
    grain = np.maximum(smooth_field(rng, (nr, nt), 1, 1), 0.0) ** 2

    def tex(t, sel=None):
        if sel is None:
            return t.echo * np.maximum(1 + t.fine * f1 + t.coarse * f2 + t.grain * grain, 0.3)
        v = 1 + t.fine * f1[sel] + t.coarse * f2[sel] + t.grain * grain[sel]
        return t.echo * np.maximum(v, 0.3)

    deep = TISSUES["deep"]
    echo = tex(deep).astype(np.float32)
    att = np.full((nr, nt), deep.att, dtype=np.float32)
    for part in scene.layers:
        m = part.shape.mask(gx, gz)
        t = TISSUES[part.tissue]
        echo[m] = tex(t, m) * part.gain
        att[m] = t.att
    # body wall: layers parallel to the probe face, i.e. rows of the beam grid
    d = np.linspace(0.0, 1.0, nr)
    layers = [
        (0.0, 0.012, "skin"),
        (0.012, wall * 0.45, "fat"),
        (wall * 0.45, wall * 0.45 + 0.008, "fascia"),
        (wall * 0.45 + 0.008, wall - 0.008, "muscle"),
        (wall - 0.008, wall, "fascia"),
    ]
    for a, b, name in layers:
        rows = (d >= a) & (d < b)
        t = TISSUES[name]
        echo[rows] = tex(t)[rows]
        att[rows] = t.att
    return echo, att


def render(scene: Scene, table: ScanTable, rng, items: list[str], wall: float, meta: dict):
    """Beam-grid physics -> scan-converted 8-bit image. Returns (image, extra regions)."""
    nr, nt = table.nr, table.nt
    echo, att = _paint(scene, table, rng, wall)
    rows = np.linspace(0.0, 1.0, nr, dtype=np.float32)[:, None]
    dd = 1.0 / (nr - 1)
    cum = np.cumsum(att, axis=0) * dd - att * dd  # attenuation before each sample
    falloff = float(rng.uniform(0.2, 0.9))
    env = echo * np.exp(-cum) * np.exp((SOFT_ATT - falloff) * rows)  # TGC leaves a falloff
    regions: dict[str, np.ndarray] = {}

    att_item = next((i for i in items if i.startswith("ATT.")), None)
    meta["attenuation_share"] = None
    if att_item:
        a = attenuation(rng, table, att_item)
        env *= a.factor
        regions[att_item] = a.mask_px
        meta["attenuation_share"] = round(a.share, 5)
        meta["attenuation_kind"] = a.kind

    # focus: lateral blur grows away from the focal depth (strongly so when misplaced)
    w, zf = focus_weights(rng, nr, scene.target_depth, "FOCUS.misplaced" in items)
    meta["focus_depth"] = round(zf, 3)
    w = w[:, None]
    rb = max(3, nt // 36)
    env = env * (1 - w) + box_blur(env, rb, 1) * w
    re, im = speckle(rng, (nr, nt))
    k = math.sqrt(2 * rb + 1)  # a box mean shrinks the std by sqrt(width)
    re = re * (1 - w) + box_blur(re, rb, 1) * k * w
    im = im * (1 - w) + box_blur(im, rb, 1) * k * w
    spk = np.sqrt(re * re + im * im)
    spk /= np.sqrt(np.mean(spk * spk, axis=1, keepdims=True)) + 1e-6
    if "FOCUS.misplaced" in items:
        regions["FOCUS.misplaced"] = table.convert_mask(
            np.ascontiguousarray(np.broadcast_to(w >= 0.75, (nr, nt)))
            & np.ascontiguousarray(
                np.broadcast_to(np.abs(rows - scene.target_depth) < 0.2, (nr, nt))
            )
        )

    env = env * spk
    noise = np.hypot(re[::-1, ::-1], im[:, ::-1])
    floor = float(rng.uniform(0.006, 0.014))
    if "NOISE.artefact" in items:
        if rng.random() < 0.55:
            add, region = reverberation(rng, nr, nt, wall)
            env = env + add * spk
            regions["NOISE.artefact"] = table.convert_mask(region)
            meta["noise_kind"] = "reverberation"
        else:
            floor = float(rng.uniform(0.12, 0.2))
            env = env * np.clip(
                1 + 0.5 * rng.standard_normal((nr, nt), dtype=np.float32), 0.2, None
            )
            meta["noise_kind"] = "heavy_noise"
    env = env + floor * noise

    gain = float(rng.uniform(-2.0, 2.0))
    if "GAIN.high" in items:
        gain = float(rng.uniform(10.0, 14.0))
    elif "GAIN.low" in items:
        gain = float(rng.uniform(-16.0, -11.0))
    meta["gain_db"] = round(gain, 2)
    beams = log_compress(env, gain, float(rng.uniform(52.0, 60.0)))
    img = table.convert(beams.astype(np.float32))
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), regions


# -- boxes -------------------------------------------------------------------


def _box(table: ScanTable, m: np.ndarray) -> list[int] | None:
    if m is None or not m.any():
        return None
    xs, ys = table.px[m], table.py[m]
    box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    return box if box[2] - box[0] >= 2 and box[3] - box[1] >= 2 else None


def _union(boxes):
    boxes = [b for b in boxes if b]
    if not boxes:
        return None
    return [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]


def _shadow_box(table: ScanTable, shape, z_end: float):
    """Box of a gas/bone reflector and the shadow it casts down to depth ``z_end``."""
    m = shape.mask(table.grid_x, table.grid_z)
    below = np.maximum.accumulate(m, axis=0) & (table.grid_z <= z_end)
    return _box(table, table.convert_mask(np.ascontiguousarray(below)))


# -- the record --------------------------------------------------------------


def generate(
    index: int,
    seed: int,
    size: int = 512,
    rubric: Rubric | None = None,
    *,
    planes: list[str] | None = None,
    deductions: list[str] | None = None,
) -> tuple[Image.Image, dict]:
    """One phantom image and its annotation record (``image`` = ``images/{index:06d}.png``).

    ``planes`` forces the view (e.g. ``["GB"]``, ``["GB", "RKL"]``, ``["NS"]``); otherwise it
    is drawn. ``deductions`` forces the intended items of a standard view (the record still
    reports what was measured, e.g. a structure that could not be cut as asked). The same
    (index, seed, size, planes, deductions) always gives the same bytes.
    """
    img, record, _maps = _generate(index, seed, size, rubric, planes, deductions, None)
    return img, record


def generate_with_maps(
    index: int, seed: int, size: int, grid: int, rubric: Rubric | None = None
) -> tuple[Image.Image, dict, np.ndarray]:
    """:func:`generate`'s image and record (the same bytes), and where each of the rubric's
    structures is displayed: ``(S, grid, grid)`` float32, the share of each cell of a
    ``grid`` x ``grid`` division of the image that the structure covers (rubric order)."""
    return _generate(index, seed, size, rubric, None, None, grid)


def structure_maps(table: ScanTable, scene: Scene, structures: list[str], grid: int) -> np.ndarray:
    """Each structure's displayed pixels, as the share of each cell they cover."""
    size = table.size
    out = np.zeros((len(structures), grid * grid), dtype=np.float32)
    cell = (table.py * grid // size) * grid + table.px * grid // size
    area = np.bincount(np.arange(size) * grid // size, minlength=grid).astype(np.float32)
    for k, sid in enumerate(structures):
        s = scene.structs.get(sid)
        if s is None:
            continue
        m = s.extent.mask(table.sx, table.sz)
        if m is None or not m.any():
            continue
        out[k] = np.bincount(cell[m], minlength=grid * grid)
    return out.reshape(len(structures), grid, grid) / np.outer(area, area)


def _intent(rng, rubric: Rubric, codes, deductions, meta: dict):
    """What the scene is drawn to show: (template, the structures to leave out or cut, the
    plane items to draw, the zoom, the intended items); the template is noted in ``meta``."""
    if codes == ["NS"]:
        kinds = list(NON_STANDARD)
        kind = kinds[int(rng.integers(len(kinds)))]
        meta["template"] = f"NS:{kind}"
        return NON_STANDARD[kind], {}, set(), 1.0, []
    dual = len(codes) == 2
    items = sample_items(rng, rubric, codes, dual=dual)
    if deductions is not None:
        items = list(deductions)
    template = DUAL[tuple(codes)] if dual else STANDARD[codes[0]]
    intent = {}
    for i in items:
        it = rubric.items[i]
        if it.kind in ("missing", "incomplete"):
            intent[it.structure] = it.kind
    flags = {i for i in items if rubric.items[i].kind == "plane"}
    zoom = float(rng.uniform(0.55, 0.68)) if "DEPTH.wrong" in items else 1.0
    meta["template"] = "+".join(codes)
    return template, intent, flags, zoom, items


def _measured_items(rubric: Rubric, codes, key, boxes, state, items, table, scene, regions):
    """The items a standard view's record reports, as measured on what was drawn (a key
    structure not displayed or cut, the plane and global items drawn), and their boxes."""
    item_ids: list[str] = []
    item_box: dict[str, list[int] | None] = {}
    for sid in key:
        owner = next(c for c in codes if sid in rubric.planes[c].structures)
        if sid not in boxes:
            item_ids.append(f"{owner}.{sid}.missing")
            item_box[item_ids[-1]] = None
        elif state.get(sid) == "incomplete":
            item_ids.append(f"{owner}.{sid}.incomplete")
            item_box[item_ids[-1]] = boxes[sid]
    for i in items:
        it = rubric.items[i]
        if it.kind == "plane":
            item_ids.append(i)
            item_box[i] = _plane_item_box(table, scene.regions.get(i), boxes)
        elif it.kind == "global":
            item_ids.append(i)
            m = regions.get(i)
            item_box[i] = _box(table, m) if m is not None else None
    return item_ids, item_box


def _generate(index, seed, size, rubric, planes, deductions, grid):
    rubric = rubric or default_rubric()
    rng = np.random.default_rng([int(seed), int(index), int(size)])
    codes = list(planes) if planes else choose_planes(rng)
    standard = codes != ["NS"]
    geo = sample_geometry(rng, LINEAR_SHARE)
    has_chrome = bool(rng.random() < CHROME_SHARE)
    table = scan_table(geo, size, has_chrome)
    wall = float(rng.uniform(0.05, 0.1) if geo.kind == "curvilinear" else rng.uniform(0.07, 0.13))
    meta: dict = {
        "seed": int(seed),
        "index": int(index),
        "geometry": geo.kind,
        "chrome": has_chrome,
        "sector_box": list(table.sector_box),
    }

    template, intent, flags, zoom, items = _intent(rng, rubric, codes, deductions, meta)
    scene, state = build_scene(rng, table, template, intent, flags, wall, zoom)

    pixels, regions = render(scene, table, rng, items, wall, meta)

    # structures: exactly the planes' key structures that are displayed, boxed as visible
    boxes: dict[str, list[int]] = {}
    for sid, s in scene.structs.items():
        box = _box(table, s.extent.mask(table.sx, table.sz))
        if box is not None:
            boxes[sid] = box
    key = rubric.structures_for(codes)
    structures = [{"id": sid, "box": boxes[sid]} for sid in key if sid in boxes]

    if standard:
        item_ids, item_box = _measured_items(
            rubric, codes, key, boxes, state, items, table, scene, regions
        )
    else:
        item_ids, item_box = ["NS.not_standard"], {"NS.not_standard": None}
    order = {it.id: n for n, it in enumerate(rubric.items_for(codes))}
    item_ids.sort(key=lambda i: order[i])
    score = rubric.score(item_ids)

    depth_cm = float(rng.uniform(11.0, 18.0)) / zoom  # too deep: more centimetres shown
    meta.update(
        {"depth_cm": round(depth_cm, 1), "zoom": round(zoom, 3), "rubric_version": rubric.version}
    )
    img = Image.fromarray(pixels)
    if has_chrome:
        img = chrome_mod.draw(img, table, rng, meta)
    record = {
        "image": f"images/{index:06d}.png",
        "width": size,
        "height": size,
        "planes": codes,
        "structures": structures,
        "deductions": [{"item": i, "box": item_box[i]} for i in item_ids],
        "score": score,
        "grade": rubric.grade(score),
        "meta": meta,
    }
    maps = None
    if grid is not None:
        maps = structure_maps(table, scene, list(rubric.structures), grid)
    return img, record, maps


def _plane_item_box(table: ScanTable, region, boxes):
    if region is None:
        return None
    if region[0] == "struct":
        return _union(boxes.get(s) for s in region[1])
    if region[0] == "shadow":
        return _shadow_box(table, region[1], region[2])
    return None
