"""Writing phantom datasets, the stratified split, a contact sheet, a benchmark and the CLI."""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .planes import DUAL_PAIRS, STANDARD
from .render import generate

SPLITS = (("train", 0.70), ("val", 0.15), ("test", 0.15))


def _write_one(args: tuple[int, int, int, str]) -> dict:
    index, seed, size, out_dir = args
    img, rec = generate(index, seed, size)
    img.save(Path(out_dir) / rec["image"], compress_level=1)
    return rec


def excellent_per_plane(out_dir: str | Path, per_plane: int, seed: int, size: int) -> list[dict]:
    """``per_plane`` phantoms of each standard plane with nothing to deduct (10, Excellent), as
    teaching examples: ``images/*.png`` and ``annotations.jsonl``. A draw that could not place a
    structure as asked is skipped for the next index."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    records, index = [], 0
    for code in STANDARD:
        kept = 0
        while kept < per_plane:
            img, rec = generate(index, seed, size, planes=[code], deductions=[])
            index += 1
            if rec["score"] != 10.0 or rec["deductions"]:
                continue
            img.save(out / rec["image"], compress_level=1)
            records.append(rec)
            kept += 1
    _write_jsonl(out / "annotations.jsonl", records)
    return records


def generate_dataset(
    out_dir: str | Path,
    count: int,
    seed: int,
    split: bool = False,
    workers: int = 1,
    size: int = 512,
) -> list[dict]:
    """Write ``images/*.png`` and ``annotations.jsonl`` (and train/val/test.jsonl with ``split``).

    Records are in index order and identical across the files. Returns the records.
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    jobs = [(i, seed, size, str(out)) for i in range(count)]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            records = list(ex.map(_write_one, jobs, chunksize=8))
    else:
        records = [_write_one(j) for j in jobs]
    _write_jsonl(out / "annotations.jsonl", records)
    if split:
        for name, part in split_records(records, seed).items():
            _write_jsonl(out / f"{name}.jsonl", part)
    return records


def _write_jsonl(path: Path, records: Iterable[dict]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, separators=(",", ":")) + "\n")


def split_records(records: Sequence[dict], seed: int) -> dict[str, list[dict]]:
    """70/15/15, stratified by the plane label set, deterministic for a seed; index order kept."""
    strata: dict[str, list[int]] = defaultdict(list)
    for n, r in enumerate(records):
        strata["+".join(r["planes"])].append(n)
    assign: dict[int, str] = {}
    rng = np.random.default_rng([int(seed), 7919])
    carry = {name: 0.0 for name, _ in SPLITS}
    for key in sorted(strata):
        idx = list(strata[key])
        rng.shuffle(idx)
        n = len(idx)
        # largest remainder with a running carry keeps both each stratum and the total at 70/15/15
        want = {name: share * n + carry[name] for name, share in SPLITS}
        counts = {name: int(np.floor(v)) for name, v in want.items()}
        rest = n - sum(counts.values())
        for name in sorted(want, key=lambda k: want[k] - counts[k], reverse=True)[:rest]:
            counts[name] += 1
        for name in carry:
            carry[name] = want[name] - counts[name]
        pos = 0
        for name, _ in SPLITS:
            for i in idx[pos : pos + counts[name]]:
                assign[i] = name
            pos += counts[name]
    out: dict[str, list[dict]] = {name: [] for name, _ in SPLITS}
    for n, r in enumerate(records):
        out[assign[n]].append(r)
    return out


# -- contact sheet -------------------------------------------------------------

_COLORS = [
    (255, 80, 80),
    (80, 220, 120),
    (90, 160, 255),
    (255, 200, 60),
    (230, 110, 255),
    (80, 230, 230),
]


def draw_record(img: Image.Image, rec: dict, tile: int) -> Image.Image:
    """The image scaled to ``tile`` with its boxes, and a caption band underneath."""
    fs = max(8, tile // 26)
    im = Image.new("RGB", (tile, tile + 2 * fs + 8), (0, 0, 0))
    im.paste(img.convert("RGB").resize((tile, tile), Image.Resampling.BILINEAR), (0, 0))
    k = tile / rec["width"]
    d = ImageDraw.Draw(im)
    f = ImageFont.load_default(size=fs)
    for n, s in enumerate(rec["structures"]):
        c = _COLORS[n % len(_COLORS)]
        x1, y1, x2, y2 = (v * k for v in s["box"])
        d.rectangle([x1, y1, x2, y2], outline=c, width=2)
        d.text((x1 + 2, y1 + 1), s["id"], fill=c, font=f)
    for dd in rec["deductions"]:
        if dd["box"] and dd["item"].split(".")[0] in ("ATT", "NOISE", "FOCUS"):
            x1, y1, x2, y2 = (v * k for v in dd["box"])
            d.rectangle([x1, y1, x2, y2], outline=(255, 255, 255), width=1)
            d.text((x1 + 2, y2 - fs - 2), dd["item"], fill=(255, 255, 255), font=f)
    head = f"{'+'.join(rec['planes'])}  {rec['score']:g} {rec['grade']}"
    d.text((4, tile + 2), head, fill=(255, 255, 255), font=f)
    items = ", ".join(x["item"] for x in rec["deductions"]) or "no deductions"
    d.text((4, tile + fs + 5), items[: int(tile / fs * 1.9)], fill=(200, 200, 200), font=f)
    return im


def contact_sheet(
    records_with_images: Sequence[tuple[Image.Image, dict]], cols: int = 4, tile: int = 320
) -> Image.Image:
    """A grid of phantoms with their structure boxes, plane, score and deductions drawn on."""
    n = len(records_with_images)
    rows = (n + cols - 1) // cols
    cell_h = tile + 2 * max(8, tile // 26) + 8
    sheet = Image.new("RGB", (cols * tile, rows * cell_h), (20, 20, 20))
    for i, (img, rec) in enumerate(records_with_images):
        sheet.paste(draw_record(img, rec, tile), ((i % cols) * tile, (i // cols) * cell_h))
    return sheet


SHOWCASE_DEFECTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("GB", ("GB.wall_unclear", "GB.gallbladder.incomplete")),
    ("PAN", ("PAN.bowel_gas",)),
    ("SPL", ("SPL.rib_shadow",)),
    ("RKL", ("RKL.sinus_unclear", "ATT.moderate")),
    ("LLA", ("LLA.diaphragm_not_shown", "NOISE.artefact")),
    ("HV", ("FOCUS.misplaced", "HV.mhv.missing")),
    ("LKL", ("DEPTH.wrong",)),
    ("CBD", ("GAIN.high", "ATT.severe")),
)


def showcase(
    seed: int = 0, size: int = 512, defects: bool = True
) -> list[tuple[Image.Image, dict]]:
    """Every plane without defects, the dual views, non-standard images, then typical defects."""
    views: list[tuple[list[str], list[str] | None]] = [([c], []) for c in STANDARD]
    views += [(list(p), []) for p in DUAL_PAIRS]
    views += [(["NS"], None)] * 2
    if defects:
        views += [([c], list(items)) for c, items in SHOWCASE_DEFECTS]
    return [generate(i, seed, size, planes=v, deductions=d) for i, (v, d) in enumerate(views)]


# -- benchmark and CLI -----------------------------------------------------------


def benchmark(count: int = 40, size: int = 512, seed: int = 0) -> float:
    """Images per second of :func:`generate` on this process (one core)."""
    generate(0, seed, size)  # warm the lookup tables
    t = time.perf_counter()
    for i in range(count):
        generate(i, seed, size)
    return count / (time.perf_counter() - t)


def summarize(records: Sequence[dict]) -> dict:
    std = [r for r in records if r["planes"] != ["NS"]]
    return {
        "count": len(records),
        "planes": dict(Counter("+".join(r["planes"]) for r in records)),
        "grades_standard": dict(Counter(r["grade"] for r in std)),
        "dual": sum(len(r["planes"]) == 2 for r in records),
        "chrome": sum(r["meta"]["chrome"] for r in records),
        "mean_score_standard": round(float(np.mean([r["score"] for r in std])), 2) if std else None,
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``python -m trainer phantoms`` options (the trainer CLI's command protocol)."""
    p.add_argument("--out", required=True, help="output folder (images/ and *.jsonl)")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--split", action="store_true", help="also write train/val/test.jsonl")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument(
        "--excellent-per-plane",
        action="store_true",
        help="instead: --count Excellent phantoms of each standard plane (teaching examples)",
    )
    p.add_argument(
        "--contact-sheet",
        action="store_true",
        help="also write contact_sheet.png with one phantom of every plane",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trainer phantoms", description="Write a synthetic phantom data set."
    )
    add_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    t = time.perf_counter()
    if args.excellent_per_plane:
        recs = excellent_per_plane(args.out, args.count, args.seed, args.size)
    else:
        recs = generate_dataset(
            args.out, args.count, args.seed, split=args.split, workers=args.workers, size=args.size
        )
    if args.contact_sheet:
        contact_sheet(showcase(args.seed, args.size)).save(Path(args.out) / "contact_sheet.png")
    info = summarize(recs)
    info["seconds"] = round(time.perf_counter() - t, 2)
    print(json.dumps(info, indent=1))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m trainer.phantoms --out DIR --count N [--seed S] [--split] [--size 512]``."""
    return run(build_parser().parse_args(argv))
