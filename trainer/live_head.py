"""Fit the live view's head on a checkpoint's frozen vision tower:
``python -m trainer live-head --model models/demo [--train 1200 --calibrate 400 --test 200]``.

The live page (issue 34) scores the scanner's video five times a second with the tower alone
and a small head (:mod:`scoring.live`). Stage 1 of the demo recipe trains such a head on the
merged tokens and throws it away with the tower's gradients; here the tower is frozen and the
head reads the very features the abstention reads (``Engine.features``: the merger's tokens,
the tower's layers, the pixels), so one pass of the tower per frame gives both. Linear
read-outs, standardised features, L2 penalty chosen on the calibration phantoms:

- planes: softmax, the target spread over the record's plane codes (a dual-label view counts
  either as right);
- structures shown: one logistic output each;
- score: ridge regression on the record's score.

The phantoms are drawn as the page sends frames: the image area marked by hand (each side of
the rectangle up to 6 % off the image's edge, black beyond it), downscaled to the model's side
(the page sends PNG). The plane calibration (the same monotone
map as the full model's) is fitted on the calibration phantoms; the figures are measured on
fresh ones (their own seed), beside the full model on the same frames and on the phantoms as
uploaded. ``live_head.npz`` and ``live_head.json`` (recipe and figures) are written into the
checkpoint's folder. A few CPU-minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from scoring.calibration import fit_plane_calibration
from scoring.live import INFO_FILE, LiveHead, frame_side
from scoring.rubric import Rubric
from trainer.phantoms import generate

SEEDS = {"train": 3401, "calibrate": 3402, "test": 3403, "negatives": 3404}
MARGIN = 0.06  # how far a hand-marked rectangle may miss the image's edge, per side
PENALTIES = (1.0, 3.0, 10.0, 30.0)  # the planes and structures' L2, chosen on calibration
RIDGES = (10.0, 100.0, 1000.0, 10000.0)  # the score's, chosen on calibration


def as_frame(image: Image.Image, rng: np.random.Generator, side: int) -> Image.Image:
    """``image`` as the live page sends it: cropped by a hand-marked rectangle (each side up to
    :data:`MARGIN` off the image's edge, black beyond it), downscaled so its longer side is
    ``side``. The page sends PNG, so nothing is lost on the way (a JPEG at the model's side
    moved one frame in five past the abstention threshold)."""
    img = image.convert("RGB")
    w, h = img.size
    box = (
        int(rng.uniform(-MARGIN, MARGIN) * w),
        int(rng.uniform(-MARGIN, MARGIN) * h),
        w + int(rng.uniform(-MARGIN, MARGIN) * w),
        h + int(rng.uniform(-MARGIN, MARGIN) * h),
    )
    img = img.crop(box)  # PIL fills what lies outside the image with black
    scale = side / max(img.size)
    return img.resize(
        (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
        Image.Resampling.BILINEAR,
    )


def drawn(count: int, seed: int) -> tuple[list[Image.Image], list[dict]]:
    images, records = [], []
    for i in range(count):
        img, record = generate(index=i, seed=seed, size=224)
        images.append(img.convert("RGB"))
        records.append(record)
    return images, records


def features(engine, images: list[Image.Image], batch: int = 32) -> np.ndarray:
    return np.concatenate(
        [engine.features(images[i : i + batch]) for i in range(0, len(images), batch)]
    )


def targets(records: list[dict], rubric: Rubric) -> dict[str, np.ndarray]:
    planes, structures = list(rubric.planes), list(rubric.structures)
    p = np.zeros((len(records), len(planes)))
    s = np.zeros((len(records), len(structures)))
    for n, r in enumerate(records):
        for code in r["planes"]:
            p[n, planes.index(code)] = 1.0 / len(r["planes"])
        for st in r["structures"]:
            s[n, structures.index(st["id"])] = 1.0
    return {"planes": p, "structures": s, "score": np.array([r["score"] for r in records])}


def fit_head(x: np.ndarray, y: dict[str, np.ndarray], rubric: Rubric, penalty: float) -> LiveHead:
    """Full-batch L-BFGS on the standardised features (torch, CPU)."""
    import torch

    mean = x.mean(axis=0)
    scale = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
    z = torch.tensor((x - mean) / scale, dtype=torch.float32)
    n, d = z.shape
    tp = torch.tensor(y["planes"], dtype=torch.float32)
    ts = torch.tensor(y["structures"], dtype=torch.float32)
    wp = torch.zeros(d, tp.shape[1], requires_grad=True)
    bp = torch.zeros(tp.shape[1], requires_grad=True)
    ws = torch.zeros(d, ts.shape[1], requires_grad=True)
    bs = torch.zeros(ts.shape[1], requires_grad=True)
    params = [wp, bp, ws, bs]
    opt = torch.optim.LBFGS(params, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        lp = -(tp * torch.log_softmax(z @ wp + bp, dim=1)).sum(1).mean()
        ls = torch.nn.functional.binary_cross_entropy_with_logits(z @ ws + bs, ts)
        loss = lp + ls + penalty * ((wp**2).sum() + (ws**2).sum()) / n
        loss.backward()
        return loss

    opt.step(closure)
    return LiveHead(
        planes=tuple(rubric.planes),
        structures=tuple(rubric.structures),
        mean=mean,
        scale=scale,
        plane_w=wp.detach().numpy().astype(np.float64),
        plane_b=bp.detach().numpy().astype(np.float64),
        structure_w=ws.detach().numpy().astype(np.float64),
        structure_b=bs.detach().numpy().astype(np.float64),
        score_w=np.zeros(d),
        score_b=float(y["score"].mean()),
    )


def fit_score(head: LiveHead, x: np.ndarray, score: np.ndarray, ridge: float) -> LiveHead:
    """``head`` with its score read-out fitted by ridge regression (closed form)."""
    z = (x - head.mean) / head.scale
    target = score - score.mean()
    # the dual form, the same weights: an N x N system, fewer phantoms than features
    w = z.T @ np.linalg.solve(z @ z.T + ridge * np.eye(z.shape[0]), target)
    return LiveHead(**{**head.__dict__, "score_w": w, "score_b": float(score.mean())})


def figures(head: LiveHead, x: np.ndarray, records: list[dict], rubric: Rubric) -> dict[str, Any]:
    out = head.predict(x)
    top = out["planes"].argmax(axis=1)
    hits = [head.planes[k] in r["planes"] for k, r in zip(top, records, strict=True)]
    y = targets(records, rubric)
    shown = out["structures"] >= 0.5
    truth = y["structures"] > 0
    tp = float((shown & truth).sum())
    grades = [
        rubric.grade(float(s)) == r["grade"] for s, r in zip(out["score"], records, strict=True)
    ]
    return {
        "plane_top1": round(float(np.mean(hits)), 4),
        "structures_f1": round(2 * tp / max(1.0, float(shown.sum() + truth.sum())), 4),
        "score_mae": round(float(np.abs(out["score"] - y["score"]).mean()), 3),
        "grade_accuracy": round(float(np.mean(grades)), 4),
    }


def full_model(engine, images: list[Image.Image], records: list[dict]) -> dict[str, Any]:
    """The full model's answers on the same images: its first plane, its score."""
    answers = engine.assess(images, batch_size=8)
    hits, grades, errors = [], [], []
    for a, r in zip(answers, records, strict=True):
        hits.append(bool(a.planes) and a.planes[0] in r["planes"])
        grades.append(a.grade == r["grade"])
        if a.score is not None:
            errors.append(abs(a.score - r["score"]))
    return {
        "plane_top1": round(float(np.mean(hits)), 4),
        "score_mae": round(float(np.mean(errors)), 3) if errors else None,
        "grade_accuracy": round(float(np.mean(grades)), 4),
        "declined": sum(a.abstained for a in answers),
    }


def air(rng: np.random.Generator, size: int) -> Image.Image:
    """A probe in air: a sector holding only reverberation bands and noise, no anatomy."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    apex = -0.25 * size
    radius = np.hypot(xx - size / 2, yy - apex)
    angle = np.degrees(np.arctan2(xx - size / 2, yy - apex))
    fan = (np.abs(angle) < rng.uniform(30, 40)) & (radius > -apex) & (radius < -apex + 0.9 * size)
    step = size * rng.uniform(0.08, 0.12)
    bands = sum(
        np.exp(-(((radius + apex - k * step) / 2.5) ** 2)) * rng.uniform(60, 140)
        for k in range(1, 6)
    )
    level = np.where(fan, bands + rng.normal(8, 4, (size, size)), 0)
    grey = np.clip(level, 0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2))


def run_fit(
    model: str,
    *,
    train: int,
    calibrate: int,
    test: int,
    negatives: int = 40,
    log=None,
    adapter: str | None = None,
) -> dict[str, Any]:
    import torch

    clock = time.monotonic()
    if log is None:

        def log(line: str) -> None:
            print(f"[{time.monotonic() - clock:6.1f} s] {line}", flush=True)

    from scoring.engine import Engine
    from trainer.ood import NEGATIVES
    from trainer.ood import negatives as draw_negatives

    torch.manual_seed(0)
    started = time.process_time()
    device = "cuda" if torch.cuda.is_available() else "cpu"  # a GPU worker's run uses its GPU
    engine = Engine.load(model, adapter, device=device)
    rubric = engine.rubric
    side = frame_side(engine)
    rng = np.random.default_rng(SEEDS["train"])
    sets: dict[str, Any] = {}
    for name, count in (("train", train), ("calibrate", calibrate), ("test", test)):
        images, records = drawn(count, SEEDS[name])
        frames = [as_frame(im, rng, side) for im in images]
        sets[name] = {"images": images, "records": records, "x": features(engine, frames)}
        sets[name]["frames"] = frames if name == "test" else None
        log(f"{name}: {count} phantoms as frames, features {sets[name]['x'].shape}")
    y_train = targets(sets["train"]["records"], rubric)
    # the planes' and the structures' read-outs each take the penalty that suits them best
    best_plane = best_structures = None
    for penalty in PENALTIES:
        head = fit_head(sets["train"]["x"], y_train, rubric, penalty)
        got = figures(head, sets["calibrate"]["x"], sets["calibrate"]["records"], rubric)
        log(f"penalty {penalty}: calibration phantoms {got}")
        if best_plane is None or got["plane_top1"] > best_plane[0]:
            best_plane = (got["plane_top1"], penalty, head)
        if best_structures is None or got["structures_f1"] > best_structures[0]:
            best_structures = (got["structures_f1"], penalty, head)
    assert best_plane is not None and best_structures is not None
    penalty = (best_plane[1], best_structures[1])
    shown = best_structures[2]
    head = LiveHead(
        **{
            **best_plane[2].__dict__,
            "structure_w": shown.structure_w,
            "structure_b": shown.structure_b,
        }
    )
    cal = sets["calibrate"]
    fits = []
    for ridge in RIDGES:
        candidate = fit_score(head, sets["train"]["x"], y_train["score"], ridge)
        mae = figures(candidate, cal["x"], cal["records"], rubric)["score_mae"]
        log(f"score ridge {ridge}: calibration score MAE {mae}")
        fits.append((mae, ridge, candidate))
    _, ridge, head = min(fits, key=lambda f: f[0])
    cal_out = head.predict(sets["calibrate"]["x"])["planes"]
    pairs = [
        (float(p.max()), head.planes[int(p.argmax())] in r["planes"])
        for p, r in zip(cal_out, sets["calibrate"]["records"], strict=True)
    ]
    head = LiveHead(**{**head.__dict__, "calibration": fit_plane_calibration(pairs)})
    test_set = sets["test"]
    live = figures(head, test_set["x"], test_set["records"], rubric)
    stats = engine.ood_stats
    declined_frames = None
    if stats is not None:
        declined_frames = round(float((stats.score(test_set["x"]) > stats.threshold).mean()), 4)
    log(f"fast path on fresh frames: {live}; declined {declined_frames}")
    unknown: dict[str, float] = {}
    if stats is not None:
        nrng = np.random.default_rng(SEEDS["negatives"])
        kinds = {"air": [air(nrng, 224) for _ in range(negatives)]}
        kinds |= {k: draw_negatives(k, negatives, SEEDS["negatives"]) for k in NEGATIVES}
        for kind, imgs in kinds.items():
            x = features(engine, [as_frame(im, nrng, side) for im in imgs])
            unknown[kind] = round(float((stats.score(x) > stats.threshold).mean()), 4)
        log(f"negatives read 'not a known plane': {unknown}")
    full_frames = full_model(engine, test_set["frames"], test_set["records"])
    full_upload = full_model(engine, test_set["images"], test_set["records"])
    log(f"full model, same frames: {full_frames}; as uploaded (224 px): {full_upload}")
    t0 = time.perf_counter()
    timed = test_set["frames"][:50]
    for im in timed:
        engine.features([im])
    per_frame_ms = (time.perf_counter() - t0) / len(timed) * 1000
    info = {
        "file": "live_head.npz",
        "recipe": "trainer/live_head.py: linear read-outs of Engine.features (frozen tower), "
        f"L2 penalty {penalty[0]} (planes), {penalty[1]} (structures), score ridge {ridge}, "
        "chosen on the calibration phantoms; plane calibration fitted on them too",
        "phantoms": {
            "train": [train, SEEDS["train"]],
            "calibrate": [calibrate, SEEDS["calibrate"]],
            "test": [test, SEEDS["test"]],
        },
        "frame_side": side,
        "fresh": {
            "fast_path_frames": live | {"declined": declined_frames},
            "full_model_frames": full_frames,
            "full_model_uploaded": full_upload,
        },
        "not_a_known_plane": unknown,
        "negatives_each": negatives,
        "tower_ms_per_frame": round(per_frame_ms, 2),
        "cpu_seconds": round(time.process_time() - started, 1),
        "model_weights": engine.model_id,
    }
    folder = adapter or model  # the head lives beside the weights it reads: an adapter's own
    head.save(folder, info)
    log(f"wrote {Path(folder) / 'live_head.npz'} and {INFO_FILE}")
    return info


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="checkpoint folder (the head is written there)")
    p.add_argument("--adapter", default=None, help="a LoRA adapter folder (the head goes there)")
    p.add_argument("--train", type=int, default=1200, help="training phantoms")
    p.add_argument("--calibrate", type=int, default=400, help="calibration phantoms")
    p.add_argument("--test", type=int, default=200, help="fresh phantoms measured")
    p.add_argument("--negatives", type=int, default=40, help="frames of each kind not a plane")


def run(args: argparse.Namespace) -> int:
    info = run_fit(
        args.model,
        train=args.train,
        calibrate=args.calibrate,
        test=args.test,
        negatives=args.negatives,
        adapter=args.adapter,
    )
    print(json.dumps(info["fresh"], indent=2))
    return 0
