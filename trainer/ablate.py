"""Stage-1 recipes compared at an equal budget, before one of them gets a long run.

    python -m trainer ablate --config trainer/configs/stage1_ablations.yaml

Each variant builds a fresh tiny Qwen2-VL (its own tower sizes), trains the vision tower alone
on its data for the same minutes of the CPU clock (:mod:`trainer.clock`), one variant at a
time, and measures its dense head every ``curve_every_min`` on the same held-out phantoms and
on as many of its own training images: plane top-1 and box IoU, held-out beside training, so
memorising shows. Results: ``<out>/<variant>/curve.jsonl`` and a table, ``<out>/report.md``.
A variant already measured (its ``summary.json`` exists) is not run again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scoring.rubric import default_rubric
from trainer import config as config_io
from trainer.clock import make_clock
from trainer.config import FORBID_UNKNOWN


@dataclass
class Variant:
    data: str  # a pool (python -m trainer pool)
    maps: bool = False  # the per-token structure-map target
    tiny: dict[str, Any] = field(default_factory=dict)  # TinySpec fields that differ
    lr: float | None = None
    batch_size: int | None = None
    limit: int | None = None  # only the first N phantoms of the pool
    readout: str = "mean"  # how the per-image targets read the tokens (DenseHead)


@dataclass
class AblationConfig:
    out: str
    heldout: str  # a pool of held-out phantoms
    variants: dict[str, Variant]
    tiny: dict[str, Any] = field(default_factory=dict)  # the TinySpec every variant starts from
    minutes: float = 8.0  # of the CPU clock, per variant
    curve_every_min: float = 2.0
    probe_images: int = 400
    batch_size: int = 32
    lr: float = 1e-3
    torch_threads: int = 2


for _cls in (Variant, AblationConfig):
    _cls.__pydantic_config__ = FORBID_UNKNOWN  # type: ignore[attr-defined]


def load_config(path: str | Path) -> AblationConfig:
    return config_io.validate(AblationConfig, config_io.read(path))


def _variant_model(spec_overrides: dict[str, Any], base_spec: dict[str, Any], out: Path):
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

    from trainer.tiny_qwen import TinySpec, build_tiny

    spec = TinySpec(**(base_spec | spec_overrides))
    init = out / "init"
    if not (init / "config.json").is_file():
        build_tiny(init, spec=spec, n_random=500, seed=0)
    processor = AutoProcessor.from_pretrained(init)
    model = Qwen2VLForConditionalGeneration.from_pretrained(init)
    return model, processor, spec


def run_variant(name: str, variant: Variant, config: AblationConfig, out: Path) -> dict:
    import torch

    from trainer.pool import MAP_GRID, Pool
    from trainer.tower_pretrain import DenseHead, evaluate_head, merged_grid, pretrain_vision

    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    summary_path = folder / "summary.json"
    if summary_path.is_file():
        return json.loads(summary_path.read_text())
    torch.manual_seed(0)
    threads = config.torch_threads
    torch.set_num_threads(threads)
    model, processor, spec = _variant_model(variant.tiny, config.tiny, folder)
    rubric = default_rubric()
    train = Pool(variant.data, processor.image_processor, rubric)
    if variant.limit:
        train.records = train.records[: variant.limit]
    held = Pool(config.heldout, processor.image_processor, rubric)
    _pix, grid, _r, _m = held.batch([0])
    rows, _cols = merged_grid(grid, int(model.config.vision_config.spatial_merge_size))[0]
    cells = (MAP_GRID // rows) ** 2 if variant.maps else 0
    head = DenseHead(model, rubric, map_cells=cells, readout=variant.readout)
    if not variant.maps:
        train.maps = None
    n_probe = config.probe_images
    seen_idx = random.Random(1).sample(range(len(train)), min(n_probe, len(train)))

    def probe() -> dict[str, Any]:
        h = evaluate_head(head, held, indices=range(min(n_probe, len(held))))
        t = evaluate_head(head, train, indices=seen_idx)
        return {f"heldout_{k}": round(v, 4) for k, v in h.items()} | {
            f"train_{k}": round(v, 4) for k, v in t.items()
        }

    curve: list[dict] = []

    def log(entry: dict[str, Any]) -> None:
        if entry.get("curve"):
            curve.append(entry)
            print(f"{name}: {json.dumps(entry)}", flush=True)
            with (folder / "curve.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")

    result = pretrain_vision(
        head,
        train,
        minutes=config.minutes,
        batch_size=variant.batch_size or config.batch_size,
        lr=variant.lr or config.lr,
        seed=0,
        log=log,
        state_path=folder / "state.pt",
        probe=probe,
        probe_every_s=60.0 * config.curve_every_min,
        clock=make_clock("cpu", threads),
    )
    last = curve[-1] if curve else {}
    summary = {
        "variant": name,
        "data": variant.data,
        "distinct_images": len(train),
        "maps": variant.maps,
        "readout": variant.readout,
        "tiny": dataclasses.asdict(spec),
        "steps": result.steps,
        "images_seen": last.get("images_seen"),
        "minutes": round(result.seconds / 60, 2),
        "params_vision": sum(p.numel() for p in model.model.visual.parameters()),
        **{k: v for k, v in last.items() if k.startswith(("heldout_", "train_"))},
    }
    summary_path.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary


def report(summaries: list[dict], config: AblationConfig) -> str:
    lines = [
        "# Stage 1 compared at an equal budget",
        "",
        f"Each variant: {config.minutes:g} minutes of the CPU clock on {config.torch_threads} "
        f"threads, batch {config.batch_size}; plane top-1 and box IoU of the tower's linear head "
        f"on {config.probe_images} held-out phantoms ({config.heldout}) and on as many of the "
        "variant's own training images.",
        "",
        "| variant | distinct images | maps | readout | tower | steps | images seen | "
        "held-out plane | train plane | held-out box IoU | train box IoU |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        t = s["tiny"]
        lines.append(
            f"| {s['variant']} | {s['distinct_images']:,} | {'yes' if s['maps'] else 'no'} | "
            f"{s.get('readout', 'mean')} | depth {t['vision_depth']}, dim {t['vision_dim']}"
            f"{tower_extra(t)} | {s['steps']:,} | "
            f"{s['images_seen']:,} | {100 * s['heldout_plane_top1']:.1f} % | "
            f"{100 * s['train_plane_top1']:.1f} % | {s['heldout_box_iou_mean']:.3f} | "
            f"{s['train_box_iou_mean']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def tower_extra(t: dict) -> str:
    patch, merge = t.get("patch_size", 14), t.get("merge_size", 2)
    return "" if (patch, merge) == (14, 2) else f", patch {patch} merged {merge}x{merge}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Compare stage-1 recipes at an equal CPU budget, one at a time."
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--only", nargs="*", help="run only these variants")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    summaries = []
    for name, variant in config.variants.items():
        if args.only and name not in args.only:
            continue
        summaries.append(run_variant(name, variant, config, out))
    text = report(summaries, config)
    (out / "report.md").write_text(text, encoding="utf-8")
    print(text)
    return 0
