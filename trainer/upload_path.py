"""The path an upload takes, as a data set: fresh phantoms on scanner-sized screens, through intake.

    python -m trainer upload-path --out runs/upload-1024 --size 1024x768 --count 120 --seed 515151
    python -m trainer evaluate --model models/demo --data runs/upload-1024 --out runs/eval-1024

Residents' images come from scanners at 640 x 480 to 1024 x 768 and go through
``scoring.imaging.load_scan`` (sector crop, text masking and fill) before a worker's engine
reads them; a figure measured on phantoms fed straight to the engine says nothing about what
they get (issue 31). Each screen here is a phantom drawn at 80 % of the screen's height (with
its own screen text when the generator gives it some, 40 % of phantoms) on a dark canvas of the
screen's size, with the scanner's furniture around it when ``chrome`` (a title bar with a site,
a name, an ID and a date, a side panel, a footer: all of it identifying text intake must
remove). The PNG of the screen goes through ``load_scan`` exactly as an upload does; the record's
boxes are moved into the stored image's pixels (the crop, and the shrink of a frame over 2,048
px). A worker reads the stored PNG of that same image (tests/web/test_upload_path.py holds the
two paths to the same pixels).
"""

from __future__ import annotations

import argparse
import json
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from scoring.imaging import load_scan
from scoring.model_input import Placement
from trainer.phantoms import generate

SIZES = ((640, 480), (1024, 768))
SITES = ("ST ELSEWHERE HOSP", "MERCY GENERAL", "UNIV CLINIC NORD", "CITY MED CTR")
NAMES = ("DOE^JANE", "SMITH, JOHN", "MULLER ANNA", "GARCIA^LUIS", "O'BRIEN K")


def screen(index: int, seed: int, size: tuple[int, int], chrome: bool) -> tuple[bytes, dict]:
    """A scanner's screen of ``size`` (PNG bytes) and its record, boxes in the screen's pixels."""
    w, h = size
    phantom, record = generate(index=index, seed=seed, size=phantom_side(size))
    canvas, (ox, oy) = on_screen(phantom, size)
    if chrome:
        side = phantom.width
        _furniture(canvas, index, seed, (ox, oy, ox + side, oy + side))
    buf = BytesIO()
    canvas.save(buf, format="PNG")
    moved = _moved(record, dx=ox, dy=oy, scale=1, width=w, height=h)
    moved["meta"] = {**record.get("meta", {}), "screen": f"{w}x{h}", "screen_chrome": chrome}
    return buf.getvalue(), moved


def phantom_side(size: tuple[int, int]) -> int:
    """The side a phantom is drawn at on a ``size`` screen: 80 % of its height."""
    return int(0.8 * size[1]) // 16 * 16


def on_screen(phantom: Image.Image, size: tuple[int, int]) -> tuple[Image.Image, tuple[int, int]]:
    """``phantom`` on a dark ``size`` screen, and where its top-left corner is."""
    w, h = size
    canvas = Image.new("RGB", (w, h), (0, 0, 0))
    ox, oy = (w - phantom.width) // 2, int(0.12 * h)
    canvas.paste(phantom.convert("RGB"), (ox, oy))
    return canvas, (ox, oy)


def intake_pixels(canvas: Image.Image) -> tuple[Image.Image, tuple[int, ...]]:
    """What intake stores of a screen holding one phantom (``load_scan`` on its PNG, exactly
    as an upload), and its crop box. There is no cheaper equivalent, even for a phantom with
    no screen text of its own: the pixel rules sometimes take bright anatomy for text and fill
    it (2,806 pixels of one such phantom of seed 31 on a 1024 x 768 screen), and the model
    must learn those fills too (``tests/trainer/test_upload_pool.py``)."""
    buf = BytesIO()
    canvas.save(buf, format="PNG")
    result = load_scan(buf.getvalue())
    if not result.is_ultrasound:
        raise ValueError(f"intake did not take the screen for a scan: {result.message}")
    return result.image, tuple(result.crop_box)


def pool_item(
    index: int, seed: int, size: tuple[int, int], grid: int, rubric, view
) -> tuple[Image.Image, dict, np.ndarray]:
    """One training phantom as the model meets it after an upload: drawn on a ``size``
    screen, through intake (:func:`intake_pixels`), placed on the model's square
    (``view``: :func:`scoring.model_input.model_view` with the model's pixel range). Returns
    that image, the record with its boxes on the square (``width`` = ``height`` = the
    square's side before ``view`` resizes it) and the rubric's structure maps, ``(S, grid,
    grid)`` shares of the square's cells."""
    from trainer.phantoms.render import generate_with_maps

    side = phantom_side(size)
    phantom, record, full = generate_with_maps(index, seed, side, side, rubric)
    canvas, (ox, oy) = on_screen(phantom, size)
    image, box = intake_pixels(canvas)
    x0, y0, x1, y1 = box
    place = Placement.of(image.size)
    q = place.side
    moved = cut_by_intake(_moved(record, dx=ox - x0 + place.left, dy=oy - y0 + place.top,
                                 scale=1, width=q, height=q))  # fmt: skip
    moved["meta"] = {**record["meta"], "screen": f"{size[0]}x{size[1]}", "crop_box": list(box)}

    # the maps, per pixel of the phantom, summed into the square's cells: a one-hot of each
    # phantom row's (column's) cell, zero where intake's crop cut it off
    def onto_cells(offset: int, lo: int, hi: int, pad: int) -> np.ndarray:
        at = np.arange(side) + offset  # screen row (column) of each phantom row (column)
        inside = (at >= lo) & (at < hi)
        cells = np.zeros((grid, side), np.float32)
        cells[(at[inside] - lo + pad) * grid // q, np.nonzero(inside)[0]] = 1.0
        return cells

    rows, cols = onto_cells(oy, y0, y1, place.top), onto_cells(ox, x0, x1, place.left)
    per = np.bincount(np.arange(q) * grid // q, minlength=grid).astype(np.float32)
    maps = np.zeros((full.shape[0], grid, grid), np.float32)
    for k in np.nonzero(full.reshape(full.shape[0], -1).any(axis=1))[0]:
        maps[k] = rows @ full[k] @ cols.T
    maps /= np.outer(per, per)
    return view(image), moved, maps


def _furniture(canvas: Image.Image, index: int, seed: int, sector: tuple[int, ...]) -> None:
    rng = np.random.default_rng([int(seed), int(index), 7])
    w, h = canvas.size
    x0, y0, x1, y1 = sector
    draw = ImageDraw.Draw(canvas)
    big, small = ImageFont.load_default(max(12, h // 40)), ImageFont.load_default(max(10, h // 55))
    draw.rectangle((0, 0, w, y0 - 6), fill=(38, 38, 52))
    title = (
        f"{SITES[index % len(SITES)]}  {NAMES[index % len(NAMES)]}  "
        f"MRN {int(rng.integers(10**6, 10**7))}  2026-0{1 + index % 9}-1{index % 10}"
    )
    draw.text((6, 4), title, fill=(235, 235, 235), font=big)
    for k, line in enumerate(("ABDOMEN", f"ID {int(rng.integers(1000, 9999))}", "DOB 1961-04-12",
                              f"Dr {NAMES[(index + 2) % len(NAMES)].split('^')[0]}")):  # fmt: skip
        draw.text((8, y0 + 12 + k * (h // 30)), line, fill=(200, 200, 200), font=small)
    draw.text((x0, min(y1 + 4, h - h // 30)), f"Operator {NAMES[(index + 1) % len(NAMES)]}",
              fill=(190, 190, 190), font=small)  # fmt: skip
    for k in range(6):  # a depth scale beside the sector
        y = y0 + k * (y1 - y0) // 6
        draw.line((x1 + 6, y, x1 + 12, y), fill=(200, 200, 200))
        draw.text((x1 + 16, y - 6), str(k * 3), fill=(200, 200, 200), font=small)


def _moved(record: dict, *, dx: int, dy: int, scale: int, width: int, height: int) -> dict:
    """The record with every box shifted by (dx, dy), divided by ``scale`` and clipped to a
    ``width`` x ``height`` image; a structure whose box falls wholly outside is dropped."""

    def move(box: list[int]) -> list[int] | None:
        x0, y0, x1, y1 = ((box[0] + dx) // scale, (box[1] + dy) // scale,
                          -(-(box[2] + dx) // scale), -(-(box[3] + dy) // scale))  # fmt: skip
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, width), min(y1, height)
        return [x0, y0, x1, y1] if x1 > x0 and y1 > y0 else None

    out: dict[str, Any] = {**record, "width": width, "height": height}
    out["structures"] = [
        {**s, "box": b} for s in record.get("structures", []) if (b := move(s["box"])) is not None
    ]
    out["deductions"] = [
        {**d, "box": move(d["box"])} if d.get("box") else dict(d)
        for d in record.get("deductions", [])
    ]
    return out


def cut_by_intake(record: dict, rubric=None) -> dict:
    """``record`` once intake's crop has moved its boxes: a key structure whose box the crop
    left wholly outside is not displayed on the stored scan, so it is deducted as such (and an
    "incomplete" of it dropped), and the score and grade follow the rubric. The truth of what
    the model is shown, as the annotation check wants it (11 of 4,000 training phantoms)."""
    from scoring.rubric import default_rubric

    rubric = rubric or default_rubric()
    planes = [p for p in record.get("planes", []) if p in rubric.planes]
    if not any(rubric.planes[p].standard for p in planes):
        return record
    boxed = {s["id"] for s in record.get("structures", [])}
    items = [d for d in record.get("deductions", [])]
    have = {d["item"] for d in items}
    changed = False
    for sid in rubric.structures_for(planes):
        if sid in boxed:
            continue
        owner = next(p for p in planes if sid in rubric.planes[p].structures)
        missing = f"{owner}.{sid}.missing"
        if missing not in have:
            items = [d for d in items if d["item"] != f"{owner}.{sid}.incomplete"]
            items.append({"item": missing, "box": None})
            changed = True
    if not changed:
        return record
    order = {it.id: n for n, it in enumerate(rubric.items_for(planes))}
    items.sort(key=lambda d: order.get(d["item"], len(order)))
    score = rubric.score([d["item"] for d in items])
    return {**record, "deductions": items, "score": score, "grade": rubric.grade(score)}


def through_intake(data: bytes, record: dict) -> tuple[Image.Image, dict]:
    """``data`` through ``load_scan`` as an upload, and ``record`` moved into its pixels."""
    result = load_scan(data)
    if not result.is_ultrasound:
        raise ValueError(f"intake did not take the screen for a scan: {result.message}")
    x0, y0, _, _ = result.crop_box
    scale = int(result.metadata.get("downscale", 1) or 1)
    width, height = result.image.size
    moved = cut_by_intake(_moved(record, dx=-x0, dy=-y0, scale=scale, width=width, height=height))
    moved["meta"] = {**record.get("meta", {}), "crop_box": list(result.crop_box)}
    return result.image, moved


def write_set(
    out: Path,
    *,
    count: int,
    seed: int,
    size: tuple[int, int] | list[tuple[int, int]],
    chrome: bool | None,
) -> Path:
    """``count`` screens through intake: ``out``/images/*.png and ``out``/annotations.jsonl.
    ``size``: one screen, or several taken in turn; ``chrome`` None: every other pair of
    screens with the scanner's furniture."""
    sizes = [size] if isinstance(size, tuple) else list(size)
    (out / "images").mkdir(parents=True, exist_ok=True)
    path = out / "annotations.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for index in range(count):
            furniture = (index // 2) % 2 == 0 if chrome is None else chrome
            data, record = screen(index, seed, sizes[index % len(sizes)], furniture)
            image, moved = through_intake(data, record)
            name = f"images/{index:06d}.png"
            image.save(out / name)
            fh.write(json.dumps({**moved, "image": name}) + "\n")
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, default=120)
    parser.add_argument("--seed", type=int, default=515151)
    parser.add_argument(
        "--size", default="1024x768", help="the screen, WIDTHxHEIGHT, or several in turn: A,B"
    )
    furniture = parser.add_mutually_exclusive_group()
    furniture.add_argument(
        "--no-chrome", action="store_true", help="no furniture around the sector"
    )
    furniture.add_argument(
        "--mixed-chrome", action="store_true", help="every other pair of screens with furniture"
    )


def run(args: argparse.Namespace) -> int:
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.size.split(",")]
    chrome = None if args.mixed_chrome else not args.no_chrome
    path = write_set(args.out, count=args.count, seed=args.seed,
                     size=sizes if len(sizes) > 1 else sizes[0], chrome=chrome)  # type: ignore[arg-type]  # fmt: skip
    print(f"wrote {args.count} screens through intake: {path}")
    return 0
