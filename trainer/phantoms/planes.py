"""One template per standard plane (and the dual-plane views and non-standard images).

Coordinates: depth ``z`` from the skin (0) to the bottom of the field (1); lateral ``x``;
``b.X(u, z)`` is the fraction ``u`` of the half width at depth ``z``. The image left is the
patient's head in longitudinal views and the patient's right in transverse views. Each
template places exactly its plane's key structures (ids of the rubric) plus non-key anatomy
that makes the view recognisable.

Dual-plane views (``DUAL_PAIRS``), anatomically defensible because one window shows both
definitions in full:
- GB + RKL: right lobe over both the gallbladder (anterior) and the right kidney (posterior),
  the classic right subcostal/intercostal view in a slim patient;
- RPV + CBD: oblique view of the porta hepatis: right portal vein running off the main portal
  vein with the bile duct anterior to it;
- SPL + LKL: left coronal intercostal view: spleen with its hilum over the left kidney.
"""

from __future__ import annotations

from collections.abc import Callable

from .scene import Builder, arc_tube, egg, kidney, liver_vessels, union
from .shapes import Blob, Difference, bezier_tube, blob, ellipse, smooth_polygon

DUAL_PAIRS: tuple[tuple[str, str], ...] = (("GB", "RKL"), ("RPV", "CBD"), ("SPL", "LKL"))


def _lobe(b: Builder, pts, jitter=0.02):
    return smooth_polygon([(x + b.u(-jitter, jitter), z + b.u(-jitter, jitter)) for x, z in pts])


def _liver_parts(b: Builder, shape):
    return [(shape.grown(0.008), "fascia", 0.8), (shape, "liver", b.u(0.9, 1.1))]


def _left_lobe_sagittal(b: Builder, sid, top, deep, thick_left=True):
    X = b.X
    pts = [
        (X(-0.8, top), top),
        (X(0.15, top), top - 0.005),
        (X(0.8, top + 0.1), top + 0.14),
        (X(0.35, deep - 0.12), deep - 0.18),
        (X(-0.3, deep), deep),
        (X(-0.78, deep - 0.05), deep - 0.06),
    ]
    lobe = _lobe(b, pts)
    return lobe, pts


def tpl_lla(b: Builder):
    X, w = b.X, b.wall
    top, deep = w + 0.025, b.u(0.5, 0.58)
    lobe, pts = _left_lobe_sagittal(b, "left_lobe", top, deep)
    b.add(blob(b.rng, X(0.55, 0.55), 0.56, 0.16, 0.09, b.u(-0.3, 0.3)), "bowel")
    b.organ("left_lobe", _liver_parts(b, lobe), lobe)
    liver_vessels(b, (X(-0.4, 0.3), X(0.1, 0.3), top + 0.08, deep - 0.12), 3)
    if not b.has("LLA.diaphragm_not_shown"):
        x0, z0 = pts[0]
        x1, z1 = pts[-1]
        dia = bezier_tube(
            (x0 - 0.02, z0 + 0.01), (x0 - 0.09, (z0 + z1) / 2), (x1 - 0.03, z1 + 0.05), 0.011
        )
        b.add(dia, "diaphragm")
    za = min(b.corner - 0.1, b.u(0.68, 0.76))
    aorta = b.long_tube(
        za - b.u(0.0, 0.04), za + b.u(-0.02, 0.03), b.u(0.04, 0.05), b.u(-0.02, 0.02)
    )
    b.vessel("aorta", aorta, wall=0.008)
    if b.wants("aorta"):
        b.vessel(
            None,
            bezier_tube(
                (X(0.05, za), za - 0.04),
                (X(0.2, za), za - 0.12),
                (X(0.45, za), za - 0.16),
                0.014,
                0.01,
            ),
            wall=0.005,
        )
    b.scene.target_depth = 0.45


def tpl_lli(b: Builder):
    X, w = b.X, b.wall
    top, deep = w + 0.025, b.u(0.42, 0.48)
    lobe, _ = _left_lobe_sagittal(b, "left_lobe", top, deep)
    b.organ("left_lobe", _liver_parts(b, lobe), lobe)
    zc = deep + b.u(0.09, 0.12)
    cau = blob(
        b.rng,
        X(b.u(-0.25, 0.0), zc),
        zc,
        b.u(0.15, 0.19),
        b.u(0.075, 0.09),
        b.u(-0.2, 0.1),
        rough=0.05,
    )
    b.organ(
        "caudate_lobe", [(cau.grown(0.006), "fascia", 0.8), (cau, "liver", b.u(0.85, 1.0))], cau
    )
    zi = min(b.corner - 0.09, zc + b.u(0.16, 0.2))
    ivc = b.long_tube(zi - b.u(0.06, 0.1), zi + b.u(-0.01, 0.03), b.u(0.038, 0.048), -0.02)
    b.vessel("ivc", ivc, wall=0.004, unclear=b.has("LLI.ivc_lumen_unclear"))
    b.region("LLI.ivc_lumen_unclear", ("struct", ("ivc",)))
    b.scene.target_depth = 0.5


def tpl_lpv(b: Builder):
    X, w = b.X, b.wall
    top, deep = w + 0.025, b.u(0.7, min(0.78, b.corner - 0.04))
    pts = [
        (X(-0.85, top), top),
        (X(0.85, top + 0.03), top + 0.03),
        (X(0.85, top + 0.22), top + 0.22),
        (X(0.4, deep - 0.12), deep - 0.12),
        (X(-0.2, deep), deep),
        (X(-0.8, deep - 0.05), deep - 0.05),
    ]
    lobe = _lobe(b, pts)
    b.organ("left_lobe", _liver_parts(b, lobe), lobe, children=("lpv_umbilical",))
    liver_vessels(b, (X(-0.6, 0.3), X(0.6, 0.3), top + 0.05, deep - 0.1), 3)
    zc = b.u(0.42, 0.52)
    x0 = X(-0.45, zc)
    hook = bezier_tube(
        (x0, zc + 0.08),
        (X(0.25, zc), zc + 0.12),
        (X(0.35, zc), zc - 0.2),
        b.u(0.026, 0.032),
        b.u(0.018, 0.024),
        p3=(X(0.05, zc), zc - 0.17),
    )
    b.vessel("lpv_umbilical", hook, wall=0.007, unclear=b.has("LPV.vessel_lumen_unclear"))
    b.region("LPV.vessel_lumen_unclear", ("struct", ("lpv_umbilical",)))
    if b.wants("lpv_umbilical"):
        b.vessel(
            None,
            bezier_tube(
                (X(0.2, zc), zc - 0.02),
                (X(0.45, zc), zc - 0.05),
                (X(0.6, zc), zc - 0.12),
                0.013,
                0.008,
            ),
            wall=0.005,
        )
    b.scene.target_depth = zc


def tpl_hv(b: Builder):
    X, w = b.X, b.wall
    liver = ellipse(0.0, 0.5, 1.6, 0.55)
    b.add(liver, "liver")
    liver_vessels(b, (X(-0.7, 0.4), X(0.7, 0.4), w + 0.05, 0.7), 4)
    zi = min(b.corner - 0.1, b.u(0.66, 0.74))
    xi = X(b.u(-0.1, 0.15), zi)
    dia = bezier_tube(
        (X(-1.1, zi + 0.1), zi + 0.14), (xi, zi + 0.2), (X(1.1, zi + 0.1), zi + 0.1), 0.012
    )
    b.add(dia, "diaphragm")
    b.add(Blob(xi, zi + 0.32, 1.2, 0.13), "deep", gain=0.5)
    ivc = ellipse(xi, zi, b.u(0.055, 0.07), b.u(0.045, 0.055), b.u(-0.2, 0.2))
    unclear = b.has("HV.vessel_lumen_unclear")
    b.organ(
        "ivc", [(ivc.grown(0.004), "wall", 0.8), (ivc, "sludge" if unclear else "blood", 1.0)], ivc
    )
    ends = {
        "rhv": (-0.82, b.u(0.18, 0.3)),
        "mhv": (b.u(-0.25, -0.05), w + 0.08),
        "lhv": (0.75, b.u(0.22, 0.32)),
    }
    for sid, (ue, ze) in ends.items():
        xe = X(ue, ze)
        tube = bezier_tube(
            (xi + (xe - xi) * 0.05, zi - 0.02),
            ((xi + xe) / 2 + b.u(-0.05, 0.05), (zi + ze) / 2 + b.u(-0.04, 0.04)),
            (xe, ze),
            b.u(0.024, 0.03),
            0.008,
        )
        b.vessel(sid, tube, unclear=unclear)
    b.region("HV.vessel_lumen_unclear", ("struct", ("rhv", "mhv", "lhv", "ivc")))
    b.scene.target_depth = 0.5


def _right_lobe_big(b: Builder, deep):
    X, w = b.X, b.wall
    top = w + 0.025
    pts = [
        (X(-0.82, top + 0.02), top + 0.02),
        (X(0.82, top + 0.02), top + 0.02),
        (X(0.84, deep - 0.15), deep - 0.15),
        (X(0.3, deep), deep),
        (X(-0.4, deep), deep),
        (X(-0.82, deep - 0.1), deep - 0.1),
    ]
    return _lobe(b, pts)


def tpl_rpv(b: Builder, cbd: bool = False):
    X = b.X
    deep = min(b.corner - 0.04, b.u(0.74, 0.8))
    lobe = _right_lobe_big(b, deep)
    kids = ("rpv", "mpv") + (("cbd",) if cbd else ())
    b.organ("right_lobe", _liver_parts(b, lobe), lobe, children=kids)
    liver_vessels(b, (X(-0.6, 0.3), X(0.6, 0.3), b.wall + 0.06, deep - 0.12), 3)
    zp = b.u(0.5, 0.58)
    xc = X(b.u(-0.05, 0.1), zp)
    unclear = b.has("RPV.vessel_lumen_unclear")
    mpv = bezier_tube((X(0.55, zp), zp + 0.1), (X(0.3, zp), zp + 0.06), (xc, zp), 0.036, 0.032)
    b.vessel("mpv", mpv, wall=0.008, unclear=unclear)
    rpv = bezier_tube(
        (xc - 0.01, zp), (X(-0.25, zp), zp - 0.05), (X(-0.5, zp), zp - 0.04), 0.03, 0.022
    )
    b.vessel("rpv", rpv, wall=0.008, unclear=unclear)
    if b.wants("rpv"):
        xe = X(-0.5, zp)
        for dz in (-0.1, 0.08):
            b.vessel(
                None,
                bezier_tube(
                    (xe, zp - 0.04),
                    (xe - 0.06, zp - 0.04 + dz / 2),
                    (xe - 0.12, zp - 0.04 + dz),
                    0.016,
                    0.009,
                ),
                wall=0.006,
            )
    b.region("RPV.vessel_lumen_unclear", ("struct", ("rpv", "mpv")))
    if cbd:
        _cbd_duct(b, (X(0.5, zp), zp + 0.02), (X(0.2, zp), zp - 0.03), (xc - 0.05, zp - 0.07))
    b.scene.target_depth = zp


def _cbd_duct(b: Builder, p0, p1, p2):
    unclear = b.has("CBD.duct_lumen_unclear")
    duct = bezier_tube(p0, p1, p2, b.u(0.014, 0.018), b.u(0.012, 0.015))
    b.vessel("cbd", duct, fluid="bile", wall=0.006, unclear=unclear)
    b.region("CBD.duct_lumen_unclear", ("struct", ("cbd",)))


def tpl_gb(b: Builder, with_kidney: bool = False):
    X, w = b.X, b.wall
    top = w + 0.025
    deep = b.u(0.5, 0.56) if not with_kidney else b.u(0.42, 0.46)
    pts = [
        (X(-0.82, top + 0.02), top + 0.02),
        (X(0.82, top + 0.02), top + 0.02),
        (X(0.82, deep - 0.12), deep - 0.12),
        (X(0.2, deep), deep),
        (X(-0.5, deep + 0.12), deep + 0.12),
        (X(-0.8, deep + 0.06), deep + 0.06),
    ]
    lobe = _lobe(b, pts)
    b.add(blob(b.rng, X(0.35, deep + 0.2), deep + 0.2, 0.2, 0.09, 0.2), "bowel")
    b.organ(
        "right_lobe",
        _liver_parts(b, lobe),
        lobe,
        children=("gallbladder",) if not with_kidney else (),
    )
    liver_vessels(b, (X(-0.6, 0.3), X(0.6, 0.3), top + 0.05, deep - 0.15), 3)
    zg = deep - b.u(0.0, 0.05) if not with_kidney else deep - 0.1
    xg = X(b.u(-0.1, 0.2), zg) if not with_kidney else X(b.u(0.25, 0.4), zg)
    a = b.u(0.17, 0.24) if not with_kidney else b.u(0.13, 0.16)
    gb = egg(b.rng, xg, zg, a, b.u(0.065, 0.085), b.u(-0.35, 0.2))
    unclear = b.has("GB.wall_unclear")
    parts = [] if unclear else [(gb.grown(0.009), "wall", 1.0)]
    parts.append((gb, "sludge" if unclear else "bile", 0.5 if unclear else 1.0))
    b.organ("gallbladder", parts, gb)
    b.region("GB.wall_unclear", ("struct", ("gallbladder",)))
    b.scene.target_depth = zg
    if with_kidney:
        zk = min(b.corner - 0.2, b.u(0.62, 0.68))
        kidney(
            b,
            "right_kidney",
            X(b.u(-0.2, 0.0), zk),
            zk,
            b.u(0.4, 0.46),
            b.u(0.17, 0.2),
            b.u(-0.15, 0.1),
            sinus_unclear=b.has("RKL.sinus_unclear"),
        )
        b.region("RKL.sinus_unclear", ("struct", ("right_kidney",)))
        b.scene.target_depth = 0.5


def tpl_cbd(b: Builder):
    X, w = b.X, b.wall
    zi = b.u(0.35, 0.42)
    b.add(Blob(0.0, w, 1.4, zi - w + 0.1), "liver")
    liver_vessels(b, (X(-0.6, 0.2), X(0.6, 0.2), w + 0.05, zi - 0.05), 3)
    zp = b.u(0.52, 0.6)
    b.add(Blob(0.0, zp + 0.35, 1.4, 0.3), "retro_fat", gain=0.6)
    mpv = b.long_tube(zp + 0.06, zp - 0.06, b.u(0.035, 0.045), 0.0)
    b.vessel("mpv", mpv, wall=0.008, scene_coords=True)
    hx, hz = X(b.u(-0.15, 0.15), zp), zp - 0.04
    b.add(ellipse(hx, hz, 0.012, 0.012), "wall")
    b.add(ellipse(hx, hz, 0.008, 0.008), "blood")
    _cbd_duct(b, (X(-0.55, zp), zp - 0.0), (X(0.0, zp), zp - 0.08), (X(0.5, zp), zp - 0.14))
    zv = min(b.corner - 0.08, zp + 0.22)
    b.vessel(None, b.long_tube(zv, zv - 0.04, 0.04), wall=0.004, scene_coords=True)
    b.scene.target_depth = zp


def tpl_rkl(b: Builder, with_gb: bool = False):
    if with_gb:
        return tpl_gb(b, with_kidney=True)
    X, w = b.X, b.wall
    top = w + 0.025
    deep = b.u(0.5, 0.58)
    pts = [
        (X(-0.84, top + 0.02), top + 0.02),
        (X(0.7, top + 0.02), top + 0.02),
        (X(0.82, top + 0.12), top + 0.12),
        (X(0.2, deep - 0.12), deep - 0.12),
        (X(-0.5, deep + 0.05), deep + 0.05),
        (X(-0.82, deep), deep),
    ]
    lobe = _lobe(b, pts)
    b.organ("right_lobe", _liver_parts(b, lobe), lobe)
    liver_vessels(b, (X(-0.6, 0.3), X(0.3, 0.3), top + 0.05, deep - 0.15), 3)
    zk = min(b.corner - 0.2, b.u(0.56, 0.64))
    b.add(blob(b.rng, X(0.1, zk), zk + 0.26, 0.6, 0.1, b.u(-0.15, 0.15)), "muscle")
    b.add(blob(b.rng, X(0.75, zk), zk - 0.12, 0.15, 0.08), "bowel")
    kidney(
        b,
        "right_kidney",
        X(b.u(-0.05, 0.15), zk),
        zk,
        b.u(0.42, 0.52),
        b.u(0.18, 0.22),
        b.u(-0.2, 0.1),
        sinus_unclear=b.has("RKL.sinus_unclear"),
    )
    b.region("RKL.sinus_unclear", ("struct", ("right_kidney",)))
    b.scene.target_depth = zk


def tpl_pan(b: Builder):
    X, w = b.X, b.wall
    zl = b.u(0.28, 0.33)
    b.add(Blob(X(-0.2, 0.2), w, 1.0, zl - w + 0.02), "liver")
    b.add(Blob(X(-0.2, 0.2), w, 1.0, zl - w + 0.02).grown(0.008), "fascia", gain=0.5)
    zp = zl + b.u(0.1, 0.13)
    b.add(Blob(0.0, zp + 0.16, 1.5, 0.14), "retro_fat", gain=0.8)
    panc = bezier_tube(
        (X(-0.6, zp), zp + 0.03),
        (X(0.0, zp), zp - 0.05),
        (X(0.62, zp), zp - 0.06),
        b.u(0.065, 0.075),
        b.u(0.042, 0.05),
    )
    b.organ("pancreas", [(panc, "pancreas", b.u(0.9, 1.1))], panc)
    zs = zp + 0.065
    sv = bezier_tube(
        (X(-0.05, zs), zs + 0.01),
        (X(0.5, zs), zs - 0.02),
        (X(1.0, zs) + 0.1, zs - 0.05),
        0.018,
        0.016,
    )
    b.vessel("splenic_vein", sv, wall=0.004)
    zsma = zs + 0.075
    b.add(ellipse(X(0.0, zsma), zsma, 0.032, 0.03), "retro_fat", gain=1.3)
    b.add(ellipse(X(0.0, zsma), zsma, 0.017, 0.016), "blood")
    za = min(b.corner - 0.12, zsma + b.u(0.12, 0.15))
    ao = ellipse(X(b.u(0.0, 0.1), za), za, 0.05, 0.048)
    b.organ("aorta", [(ao.grown(0.007), "wall", 1.0), (ao, "blood", 1.0)], ao)
    b.add(ellipse(X(-0.35, za), za - 0.01, 0.07, 0.04, 0.2), "blood")
    zb = za + 0.12
    b.add(Blob(X(0.05, zb), zb + 0.05, 0.16, 0.06), "bone")
    if b.has("PAN.bowel_gas"):
        gx = X(b.u(0.25, 0.5), zp)
        gas = Blob(gx, zp - 0.1, b.u(0.07, 0.1), 0.02, b.u(-0.2, 0.2))
        b.add(gas.grown(0.03), "bowel")
        b.add(gas, "gas")
        b.region("PAN.bowel_gas", ("shadow", b._scene(gas), zp + 0.08))
    b.scene.target_depth = zp


def tpl_spl(b: Builder, with_kidney: bool = False):
    X, w = b.X, b.wall
    zc = b.u(0.38, 0.45) if not with_kidney else b.u(0.3, 0.34)
    xc = X(b.u(-0.15, 0.05), zc)
    a, bb, ang = b.u(0.28, 0.34), b.u(0.14, 0.17), b.u(-0.4, -0.2)
    if with_kidney:
        a, bb = a * 0.85, bb * 0.85
    keep = blob(b.rng, xc, zc, a, bb, ang, rough=0.03, orders=(3, 4))
    cut = ellipse(xc + 0.12, zc + bb * 1.05, a * 0.55, bb * 0.45, ang)
    spleen = Difference(keep, cut)
    dia = arc_tube(keep, 2.4, 4.9, 0.035, 0.012)
    b.add(dia, "diaphragm")
    b.organ(
        "spleen", [(keep.grown(0.007), "fascia", 0.7), (spleen, "spleen", b.u(0.95, 1.1))], spleen
    )
    hx, hz = xc + 0.09, zc + bb * 0.65
    if b.wants("splenic_hilum"):
        b.add(ellipse(hx + 0.04, hz + 0.05, 0.08, 0.045, 0.5), "retro_fat")
    tubes = []
    for k in range(3):
        ang_k = 0.35 + 0.35 * k + b.u(-0.1, 0.1)
        ln = b.u(0.09, 0.13)
        tubes.append(
            bezier_tube(
                (hx - 0.01, hz - 0.01),
                (hx + 0.5 * ln, hz + 0.3 * ln * ang_k),
                (hx + ln * 0.9, hz + ln * ang_k),
                b.u(0.012, 0.016),
                0.01,
            )
        )
    for t in tubes:
        b.add(t, "blood", owner="splenic_hilum")
    if tubes:
        b.struct("splenic_hilum", "organ", union(*tubes))
    if b.has("SPL.rib_shadow"):
        rx = b.u(-0.25, 0.25)
        rib = Blob(X(rx, w), w + 0.035, 0.05, 0.018)
        b.add(rib, "bone")
        b.region("SPL.rib_shadow", ("shadow", b._scene(rib), 1.0))
    b.scene.target_depth = zc
    if with_kidney:
        _left_kidney(b, min(b.corner - 0.2, b.u(0.64, 0.7)))
        b.scene.target_depth = 0.5


def _left_kidney(b: Builder, zk):
    X = b.X
    b.add(blob(b.rng, X(0.1, zk), zk + 0.26, 0.6, 0.1, b.u(-0.15, 0.15)), "muscle")
    kidney(
        b,
        "left_kidney",
        X(b.u(0.0, 0.2), zk),
        zk,
        b.u(0.4, 0.48),
        b.u(0.17, 0.21),
        b.u(-0.15, 0.2),
        sinus_unclear=b.has("LKL.sinus_unclear"),
    )
    b.region("LKL.sinus_unclear", ("struct", ("left_kidney",)))


def tpl_lkl(b: Builder):
    X = b.X
    zs = b.u(0.3, 0.36)
    sp = blob(b.rng, X(-0.4, zs), zs, b.u(0.2, 0.25), b.u(0.1, 0.12), b.u(0.2, 0.45), rough=0.04)
    b.organ("spleen", [(sp.grown(0.007), "fascia", 0.7), (sp, "spleen", 1.0)], sp)
    b.add(arc_tube(sp, 2.6, 4.6, 0.03, 0.011), "diaphragm")
    b.add(blob(b.rng, X(0.6, 0.3), 0.3, 0.15, 0.08), "bowel")
    _left_kidney(b, min(b.corner - 0.2, b.u(0.6, 0.68)))
    b.scene.target_depth = 0.55


STANDARD: dict[str, Callable[[Builder], None]] = {
    "LLA": tpl_lla,
    "LLI": tpl_lli,
    "LPV": tpl_lpv,
    "HV": tpl_hv,
    "RPV": tpl_rpv,
    "GB": tpl_gb,
    "CBD": tpl_cbd,
    "RKL": tpl_rkl,
    "PAN": tpl_pan,
    "SPL": tpl_spl,
    "LKL": tpl_lkl,
}

DUAL: dict[tuple[str, str], Callable[[Builder], None]] = {
    ("GB", "RKL"): lambda b: tpl_gb(b, with_kidney=True),
    ("RPV", "CBD"): lambda b: tpl_rpv(b, cbd=True),
    ("SPL", "LKL"): lambda b: tpl_spl(b, with_kidney=True),
}
