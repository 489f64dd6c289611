"""A pool of phantoms drawn once and stored as the vision tower sees them.

    python -m trainer pool --out artifacts/demo/pool-s11 --count 120000 --seed 11 --tokens 16

The tiny demo model memorises a set of 24,000 phantoms long before it stops learning from
them: distinct images are its cheapest lever. Drawing a phantom costs about 10 ms of a core,
and the model's processor resizes a 224 px phantom to 112 px anyway, so a pool keeps each
phantom after the processor's own resize (``images.npy``, uint8, one grey channel), its
annotation record (``records.jsonl``, the same record :func:`trainer.phantoms.render.generate`
writes) and where each of the rubric's structures is displayed (``maps.npy``, uint8 shares of
a 16 x 16 grid of cells: a dense target for stage 1, see :mod:`trainer.tower_pretrain`).

A training batch is then a slice of arrays: :func:`pixel_values` normalises and patchifies in
torch as Qwen2-VL's image processor does, about 10x cheaper than the processor on PIL images
(``tests/trainer/test_pool.py`` compares them: torchvision's uint8 bicubic resize rounds the
three channels of an RGB image a little differently, so a pool's single grey channel differs
from the processor's green and blue by at most a few grey levels on a fraction of a percent of
the values; the red channel is the same). Writing is resumable:
the pool is written in chunks, and a chunk already written is not drawn again.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scoring.records import Record
from scoring.rubric import Rubric, default_rubric

INFO_FILE = "pool.json"
CHUNK = 1000
MAP_GRID = 16  # cells per side of the structure maps: 7 px at 112 px, 4 x 4 per visual token
PHANTOM_SIZE = 224  # drawn at the size the demo data sets are drawn at, then resized


# --------------------------------------------------------------------------- pixels


def resized(image_processor, images: Sequence[Any]) -> np.ndarray:
    """Grey images after the processor's own resize: ``(N, H, W)`` uint8. All images must come
    out the same size (square phantoms of one size do)."""
    out = image_processor(
        images=[im.convert("RGB") for im in images],
        return_tensors="pt",
        do_rescale=False,
        do_normalize=False,
    )
    grids = {tuple(g) for g in out["image_grid_thw"].tolist()}
    if len(grids) != 1:
        raise ValueError(f"pool images must share one input size; got grids {sorted(grids)}")
    (_t, gh, gw) = grids.pop()
    p, m = image_processor.patch_size, image_processor.merge_size
    tp = image_processor.temporal_patch_size
    n = len(images)
    x = out["pixel_values"].reshape(n, gh // m, gw // m, m, m, 3, tp, p, p)[:, :, :, :, :, 0, 0]
    # (n, gh/m, gw/m, m, m, p, p) -> (n, gh/m, m, p, gw/m, m, p)
    x = x.permute(0, 1, 3, 5, 2, 4, 6).reshape(n, gh * p, gw * p)
    return x.numpy().astype(np.uint8)


def pixel_values(image_processor, grey):
    """``(N, H, W)`` uint8 tensor -> (``pixel_values``, ``image_grid_thw``) as the processor
    returns them for the same images given as RGB."""
    import torch

    n, h, w = grey.shape
    p, m = image_processor.patch_size, image_processor.merge_size
    tp = image_processor.temporal_patch_size
    mean = torch.tensor(image_processor.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(image_processor.image_std, dtype=torch.float32).view(1, 3, 1, 1)
    x = grey.to(torch.float32).unsqueeze(1) * float(image_processor.rescale_factor)
    x = (x - mean) / std  # (n, 3, h, w)
    gh, gw = h // p, w // p
    x = x.reshape(n, 3, gh // m, m, p, gw // m, m, p).permute(0, 2, 5, 3, 6, 1, 4, 7)
    x = x.unsqueeze(6).expand(-1, -1, -1, -1, -1, -1, tp, -1, -1)
    x = x.reshape(n * gh * gw, 3 * tp * p * p)
    grid = torch.tensor([[1, gh, gw]] * n, dtype=torch.int64)
    return x, grid


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class PoolSpec:
    count: int
    seed: int
    min_pixels: int
    max_pixels: int
    size: int = PHANTOM_SIZE
    grid: int = MAP_GRID
    chunk: int = CHUNK
    # "640x480,1024x768": each phantom drawn on one of these scanner screens in turn and taken
    # through intake onto the model's square (trainer.upload_path.pool_item), as an upload is;
    # empty: drawn at ``size`` and fed straight in (the pools before issue 31)
    screens: str = ""

    def screen_sizes(self) -> list[tuple[int, int]]:
        return [tuple(int(v) for v in s.lower().split("x")) for s in self.screens.split(",") if s]  # type: ignore[misc]


def _image_processor(spec: PoolSpec):
    from transformers import Qwen2VLImageProcessor

    return Qwen2VLImageProcessor(min_pixels=spec.min_pixels, max_pixels=spec.max_pixels)


def _draw_chunk(args: tuple[PoolSpec, int, str]) -> int:
    """Draw one chunk into the pool's arrays; returns the chunk's number."""
    import torch

    from trainer.phantoms.render import generate_with_maps

    torch.set_num_threads(1)  # one process per core: threads would only fight over it
    spec, k, out = args
    root = Path(out)
    lo, hi = k * spec.chunk, min(spec.count, (k + 1) * spec.chunk)
    processor = _image_processor(spec)
    images = np.load(root / "images.npy", mmap_mode="r+")
    maps = np.load(root / "maps.npy", mmap_mode="r+")
    rubric = default_rubric()
    records, pil = [], []
    screens = spec.screen_sizes()
    if screens:
        from scoring.engine import pixel_range
        from scoring.model_input import model_view
        from trainer.upload_path import pool_item

        factor, low, high = pixel_range(processor)
    for i in range(lo, hi):
        if screens:
            img, record, m = pool_item(
                i, spec.seed, screens[i % len(screens)], spec.grid, rubric,
                lambda im: model_view(im, factor, low, high),
            )  # fmt: skip
        else:
            img, record, m = generate_with_maps(i, spec.seed, spec.size, spec.grid, rubric)
        records.append(record)
        pil.append(img)
        maps[i] = np.rint(m * 255).astype(np.uint8)
    for start in range(0, len(pil), 100):
        part = pil[start : start + 100]
        images[lo + start : lo + start + len(part)] = resized(processor, part)
    images.flush()
    maps.flush()
    lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
    tmp = root / "chunks" / f"{k:05d}.tmp"
    tmp.write_text(lines, encoding="utf-8")
    tmp.replace(root / "chunks" / f"{k:05d}.jsonl")
    return k


def write_pool(
    out: str | Path,
    count: int,
    seed: int,
    *,
    min_pixels: int,
    max_pixels: int,
    workers: int = 2,
    chunk: int = CHUNK,
    screens: str = "",
    log=print,
) -> Path:
    """Draw ``count`` phantoms of ``seed`` into ``out`` (resumable, ``chunk`` phantoms at a
    time); returns ``out``."""
    root = Path(out)
    spec = PoolSpec(count, seed, min_pixels, max_pixels, chunk=chunk, screens=screens)
    info = root / INFO_FILE
    if info.is_file():
        done = json.loads(info.read_text())
        old = done.get("spec", {})
        differ = sorted(k for k in old.keys() & spec.__dict__.keys() if old[k] != spec.__dict__[k])
        if differ:
            raise ValueError(
                f"{root} holds a pool drawn with other settings ({', '.join(differ)}); "
                "remove it or write the new pool elsewhere"
            )
        if done.get("complete"):
            return root
    (root / "chunks").mkdir(parents=True, exist_ok=True)
    info.write_text(json.dumps({"spec": spec.__dict__, "complete": False}), encoding="utf-8")
    probe = resized(_image_processor(spec), [_blank(spec.size)])
    h, w = probe.shape[1:]
    n_s = len(default_rubric().structures)
    for name, shape in (
        ("images.npy", (count, h, w)),
        ("maps.npy", (count, n_s, MAP_GRID, MAP_GRID)),
    ):
        path = root / name
        ok = path.is_file() and np.load(path, mmap_mode="r").shape == shape
        if not ok:
            np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape).flush()
    chunks = range((count + chunk - 1) // chunk)
    todo = [k for k in chunks if not (root / "chunks" / f"{k:05d}.jsonl").is_file()]
    log(f"pool {root}: {count} phantoms of seed {seed} at {h}x{w}; {len(todo)} chunks to draw")
    jobs = [(spec, k, str(root)) for k in todo]
    if workers > 1:
        # spawn: a forked child of a process that has run torch's thread pool can hang
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
            for n, _k in enumerate(ex.map(_draw_chunk, jobs), start=1):
                if n % 10 == 0:
                    log(f"pool: {n}/{len(todo)} chunks")
    else:
        for job in jobs:
            _draw_chunk(job)
    with (root / "records.jsonl").open("w", encoding="utf-8") as fh:
        for k in chunks:
            fh.write((root / "chunks" / f"{k:05d}.jsonl").read_text(encoding="utf-8"))
    info.write_text(
        json.dumps({"spec": spec.__dict__, "complete": True, "input": [h, w]}, indent=1),
        encoding="utf-8",
    )
    return root


def _blank(size: int):
    from PIL import Image

    return Image.new("L", (size, size))


# --------------------------------------------------------------------------- reading


def is_pool(folder: str | Path) -> bool:
    return (Path(folder) / INFO_FILE).is_file()


def pool_images(root: str | Path, indices: Sequence[int]):
    """PIL images (RGB) of some of a pool's phantoms, without loading the pool."""
    from PIL import Image

    images = np.load(Path(root) / "images.npy", mmap_mode="r")
    return [Image.fromarray(np.asarray(images[i])).convert("RGB") for i in indices]


class Pool:
    """A written pool in memory: records, uint8 images and maps, and batches of them."""

    def __init__(self, root: str | Path, image_processor, rubric: Rubric | None = None) -> None:
        import torch

        from trainer.data import load_records

        self.root = Path(root)
        info = json.loads((self.root / INFO_FILE).read_text())
        if not info.get("complete"):
            raise ValueError(f"{self.root}: the pool is not complete; write it again to finish")
        self.records: list[Record] = load_records(self.root / "records.jsonl", rubric)
        self.images = torch.from_numpy(np.load(self.root / "images.npy"))
        self.maps = torch.from_numpy(np.load(self.root / "maps.npy"))
        self.image_processor = image_processor
        expect = tuple(self.images.shape[1:])
        probe = resized(image_processor, [_blank(info["spec"]["size"])]).shape[1:]
        if probe != expect:
            raise ValueError(
                f"{self.root}: the pool holds {expect} px images; this processor makes {probe}"
            )

    def __len__(self) -> int:
        return len(self.records)

    def images_of(self, indices: Sequence[int]):
        """PIL images (RGB, at the model's input size) of these phantoms."""
        from PIL import Image

        return [Image.fromarray(self.images[i].numpy()).convert("RGB") for i in indices]

    def batch(self, indices: Sequence[int]):
        """(``pixel_values``, ``image_grid_thw``, records, maps as float shares or None when
        the maps were dropped: ``pool.maps = None``)."""
        idx = list(indices)
        pixels, grid = pixel_values(self.image_processor, self.images[idx])
        maps = None if self.maps is None else self.maps[idx].float() / 255.0
        return pixels, grid, [self.records[i] for i in idx], maps


# --------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Draw a pool of phantoms stored at a model's input size."
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--count", required=True, type=int)
    parser.add_argument("--seed", required=True, type=int)
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--model", type=Path, help="a checkpoint whose processor resizes")
    size.add_argument(
        "--tokens", type=int, help="or: visual tokens per image (112 px for 16, as the demo's)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--screens",
        default="",
        help="e.g. 640x480,1024x768: phantoms on these scanner screens through intake, as "
        "uploads reach the model (default: drawn at 224 px and fed straight in)",
    )


def run(args: argparse.Namespace) -> int:
    if args.model is not None:
        from transformers import AutoImageProcessor

        size = AutoImageProcessor.from_pretrained(args.model).size
        lo, hi = size["shortest_edge"], size["longest_edge"]
    else:
        from trainer.tiny_qwen import TOKEN_PIXELS

        lo = hi = args.tokens * TOKEN_PIXELS
    write_pool(
        args.out, args.count, args.seed, min_pixels=lo, max_pixels=hi, workers=args.workers,
        screens=args.screens,
    )  # fmt: skip
    print(f"ok: {args.out}")
    return 0
