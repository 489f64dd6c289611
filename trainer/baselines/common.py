"""What the baselines share: the config, grey image tensors, the timed training loop with its
checkpoint and learning curve, and turning predictions into annotation records.

A baseline trains on the same phantom records as the VLM and is measured by the same code
(:func:`trainer.evaluate.evaluate`), so its figures sit in the same report, column by column.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scoring.records import Record
from scoring.rubric import Rubric
from trainer.clock import make_clock
from trainer.config import FORBID_UNKNOWN, ConfigError
from trainer.resume import load_state, measured, optimizer_step, save_state

STATE_FILE, CURVE_FILE, PREDICTIONS_FILE = "state.pt", "curve.jsonl", "predictions.jsonl"
MODELS = ("classifier", "detector")  # the baselines this package trains


@dataclass
class TrainSettings:
    """One baseline's training: a wall-clock budget (the cosine schedule runs on time, as the
    VLM's does, so a slow or shared machine still ends on time), batch, rate, image side."""

    minutes: float = 12.0
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 100
    size: int = 112
    curve_every_min: float = 2.0
    save_every_min: float = 2.0
    max_steps: int | None = None  # tests: a few steps instead of the budget


@dataclass
class BaselineConfig:
    data: str  # folder holding train_split and the images it names
    curve_data: str  # annotation JSONL never trained on, for the learning curve
    out: str
    train_split: str = "annotations.jsonl"
    test_data: str | None = None  # annotation JSONL to predict at the end
    curve_images: int = 200
    limit: int | None = None
    seed: int = 0
    torch_threads: int | None = None
    clock: str = "wall"  # "cpu": budgets in CPU time per thread (see trainer.clock)
    models: list[str] = field(default_factory=lambda: ["classifier", "detector"])
    classifier: TrainSettings = field(default_factory=TrainSettings)
    detector: TrainSettings = field(
        default_factory=lambda: TrainSettings(minutes=15.0, batch_size=32, lr=1e-3, size=128)
    )

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise ConfigError(f"models: unknown baseline(s) {unknown}; known: {', '.join(MODELS)}")
        if self.clock not in ("wall", "cpu"):
            raise ConfigError("clock: 'wall' or 'cpu'")


for _cls in (TrainSettings, BaselineConfig):  # unknown keys are refused, at every level
    _cls.__pydantic_config__ = FORBID_UNKNOWN  # type: ignore[attr-defined]


def grey_tensor(root: Path, records: Sequence[Record], size: int):
    """(N, 1, size, size) uint8 tensor of the records' images in grey, resized."""
    import numpy as np
    import torch
    from PIL import Image

    out = np.empty((len(records), 1, size, size), dtype=np.uint8)
    for k, r in enumerate(records):
        with Image.open(root / r.image) as im:
            grey = im.convert("L").resize((size, size), Image.Resampling.BILINEAR)
        out[k, 0] = np.asarray(grey)
    return torch.from_numpy(out)


def as_float(batch):
    """uint8 grey -> float, zero-centred with the phantoms' grey statistics (those of the VLM)."""
    return (batch.float() / 255.0 - 0.145) / 0.21


def batches(n: int, size: int, rng: random.Random, order: list[int]) -> Iterator[list[int]]:
    """Endless shuffled epochs of indices; ``order`` holds what is left of the current one."""
    while True:
        if len(order) < size:
            fresh = list(range(n))
            rng.shuffle(fresh)
            order.extend(fresh)
        chunk = order[:size]
        del order[:size]
        yield chunk


def train_timed(
    name: str,
    model,
    step_fn: Callable[[list[int]], Any],
    n_train: int,
    settings: TrainSettings,
    out: Path,
    probe: Callable[[], dict[str, Any]],
    *,
    seed: int = 0,
    log: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Train ``model`` with AdamW for ``settings.minutes`` of wall time (cosine on time, linear
    warm-up), ``step_fn(indices) -> loss`` doing one batch's forward pass. Saves its state every
    ``save_every_min`` and resumes from it; the learning curve (``probe()`` on held-out images,
    plus steps, images seen and time) goes to ``curve.jsonl`` every ``curve_every_min`` and at
    the end. Budget, periods and logged times run on ``clock`` (:mod:`trainer.clock`). Returns
    the run's summary."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    rng = random.Random(seed)
    order: list[int] = []
    step, spent = 0, 0.0
    state_path = out / STATE_FILE
    parts = {"model": model, "optimizer": optimizer}
    if state_path.is_file():
        step, spent, order = load_state(state_path, parts, rng)
        log(f"{name}: resumed at step {step} ({spent:.0f} s spent)")
    elif (out / CURVE_FILE).exists():
        (out / CURVE_FILE).unlink()  # a fresh run's curve starts empty
    started = clock() - spent
    last_save = last_curve = clock()
    budget = 60.0 * settings.minutes

    def save() -> None:
        elapsed = clock() - started
        save_state(state_path, parts, step=step, elapsed_s=elapsed, order=order, rng=rng)

    def curve_point() -> dict[str, Any]:
        figures = measured(model, probe)
        entry = {"model": name, "step": step, "images_seen": step * settings.batch_size}
        entry |= figures | {"elapsed_s": round(clock() - started, 1)}
        with (out / CURVE_FILE).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
        log(f"{name} curve: {json.dumps(entry)}")
        return entry

    loss_value = float("nan")
    feed = batches(n_train, settings.batch_size, rng, order)
    model.train()
    while True:
        elapsed = clock() - started
        progress = elapsed / budget if budget > 0 else 0.0
        if settings.max_steps is not None:
            progress = step / settings.max_steps
        if progress >= 1.0:
            break
        factor = min(1.0, (step + 1) / max(1, settings.warmup_steps))
        factor *= 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress))
        for group in optimizer.param_groups:
            group["lr"] = settings.lr * factor
        loss_value = optimizer_step(optimizer, step_fn(next(feed)), params, 5.0)
        step += 1
        now = clock()
        if now - last_save >= 60.0 * settings.save_every_min:
            save()
            last_save = now
        if now - last_curve >= 60.0 * settings.curve_every_min:
            curve_point()
            last_curve = clock()
    final = curve_point()
    state_path.unlink(missing_ok=True)
    summary = {
        "model": name,
        "steps": step,
        "seconds": round(clock() - started, 1),
        "images_seen": step * settings.batch_size,
        "last_loss": round(loss_value, 5),
        "final_curve_point": final,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary


def choose_planes(probs: Sequence[float], rubric: Rubric, codes: Sequence[str]) -> list[str]:
    """The most likely plane; with it the runner-up when that is itself likely (> 0.5) and the
    pair is one of the phantoms' dual-plane views, in rubric order."""
    from trainer.phantoms.planes import DUAL_PAIRS

    ranked = sorted(range(len(codes)), key=lambda k: -probs[k])
    first = codes[ranked[0]]
    if len(ranked) > 1 and probs[ranked[1]] > 0.5:
        second = codes[ranked[1]]
        if {first, second} in [set(p) for p in DUAL_PAIRS] and not rubric.check_planes(
            [first, second]
        ):
            return [c for c in codes if c in (first, second)]
    return [first]


def choose_items(
    probs: Mapping[str, float], planes: Sequence[str], rubric: Rubric, threshold: float = 0.5
) -> list[str]:
    """The items above ``threshold`` that can apply to ``planes``, the most likely one of each
    mutually exclusive group."""
    allowed = [i.id for i in rubric.items_for(planes)]
    best: dict[str, tuple[float, str]] = {}
    chosen: list[str] = []
    for item_id in allowed:
        p = probs.get(item_id, 0.0)
        if p <= threshold:
            continue
        group = rubric.items[item_id].group
        if group is None:
            chosen.append(item_id)
        elif group not in best or p > best[group][0]:
            best[group] = (p, item_id)
    chosen.extend(item for _p, item in best.values())
    if rubric.check_deductions(planes, chosen):  # still invalid: keep only what is allowed alone
        chosen = [i for i in chosen if not rubric.check_deductions(planes, [i])]
    return [i for i in allowed if i in chosen]


def write_predictions(path: Path, records: Sequence[Mapping[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
    return path


def train_and_save(
    name: str,
    model,
    step_fn: Callable[[list[int]], Any],
    n_train: int,
    config: BaselineConfig,
    probe: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """:func:`train_timed` with the config's settings for ``name`` and its clock; the trained
    weights are saved as ``<out>/<name>/model.pt``."""
    import torch

    out = Path(config.out) / name
    clock = make_clock(config.clock, config.torch_threads)  # type: ignore[arg-type]
    settings = getattr(config, name)
    summary = train_timed(
        name, model, step_fn, n_train, settings, out, probe, seed=config.seed, clock=clock
    )
    torch.save(model.state_dict(), out / "model.pt")
    return summary
