"""Stage 1 of a from-scratch recipe: teach the vision tower to see before the language model reads.

A tiny Qwen2-VL trained end to end from random weights on two CPU cores learns the answer's
grammar quickly and the image hardly at all: the loss on the text tokens dominates, and the few
image-bound tokens give the vision tower a weak, late signal. This stage trains the vision tower
and its merger alone, with a throwaway linear head on every merged visual token, on dense targets
taken from the annotation records:

- per token, ``inside``: for each key structure, whether the token's cell centre lies in its box;
- per token, ``map`` (when the data carry structure maps, as a :mod:`trainer.pool` does): for
  each structure, the share of each of the token's sub-cells (4 x 4 of 7 px at 112 px) that it
  covers. The generator knows every structure's outline, so this is a far richer signal per
  image than box membership of the token's centre;
- per image, from the mean of the image's tokens: ``planes`` (multi-label plane codes),
  ``present`` (which key structures are shown), ``boxes`` (each shown structure's box, normalised
  to [0, 1]) and ``items`` (the rubric items applied).

The head is linear, so what it predicts is linearly readable from the tokens or their mean,
which is what the language model's attention reads in stage 2. (Asking every token to predict
the image-level targets instead does not train: on two cores, six minutes left the plane loss at
its prior while ``inside`` learnt.)
The head is discarded afterwards: the checkpoint stays an ordinary Qwen2-VL.

``evaluate_head`` measures, on held-out records, what the tower has learnt (plane accuracy, box
IoU of shown structures), so a recipe change can be judged without the language model.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoring.boxes import iou
from scoring.model_input import Placement
from scoring.records import Record
from scoring.rubric import Rubric
from trainer.resume import load_state, measured, optimizer_step, save_state


@dataclass(frozen=True)
class Layout:
    """Index ranges of the head's outputs."""

    planes: list[str]
    structures: list[str]
    items: list[str]
    map_cells: int = 0  # sub-cells per token of the structure maps (0: no map target)

    @property
    def sizes(self) -> dict[str, int]:
        p, s, i = len(self.planes), len(self.structures), len(self.items)
        sizes = {"planes": p, "inside": s, "present": s, "boxes": 4 * s, "items": i}
        if self.map_cells:
            sizes["map"] = s * self.map_cells
        return sizes

    @property
    def width(self) -> int:
        return sum(self.sizes.values())

    def split(self, logits):
        """(N, width) -> dict of named (N, k) views."""
        out, at = {}, 0
        for name, k in self.sizes.items():
            out[name] = logits[:, at : at + k]
            at += k
        return out


def layout_for(rubric: Rubric, map_cells: int = 0) -> Layout:
    return Layout(list(rubric.planes), list(rubric.structures), list(rubric.items), map_cells)


def merged_grid(grid_thw, merge: int = 2) -> list[tuple[int, int]]:
    """(rows, cols) of merged visual tokens for each image of a processor batch (patches merged
    ``merge`` x ``merge``, the vision config's ``spatial_merge_size``)."""
    return [(int(h) // merge, int(w) // merge) for _t, h, w in grid_thw.tolist()]


GLOBAL = ("planes", "present", "boxes", "items")


def token_maps(maps, grids: Sequence[tuple[int, int]]):
    """``(B, S, G, G)`` structure maps -> ``(tokens, S * q * q)``: each merged token's own
    ``q`` x ``q`` sub-cells (``q = G / rows``), tokens in the merger's row-major order."""
    import torch

    rows = []
    for m, (gh, gw) in zip(maps, grids, strict=True):
        s, g, g2 = m.shape
        if g % gh or g2 % gw or g // gh != g2 // gw:
            raise ValueError(f"a {g}x{g2} map does not divide into {gh}x{gw} tokens")
        q = g // gh
        t = m.reshape(s, gh, q, gw, q).permute(1, 3, 0, 2, 4).reshape(gh * gw, s * q * q)
        rows.append(t)
    return torch.cat(rows)


def dense_targets(
    records: Sequence[Record],
    grids: Sequence[tuple[int, int]],
    layout: Layout,
    maps=None,
):
    """Targets of a batch: per image (rows = images) for the global parts and the box mask, per
    merged token (rows = tokens, in the merger's row-major order) for ``inside`` and, with
    ``maps`` (``(B, S, G, G)`` shares), ``map``."""
    import torch

    s_index = {s: k for k, s in enumerate(layout.structures)}
    p_index = {p: k for k, p in enumerate(layout.planes)}
    i_index = {i: k for k, i in enumerate(layout.items)}
    n_s = len(layout.structures)
    rows: dict[str, list] = {k: [] for k in (*GLOBAL, "inside", "mask")}
    for record, (gh, gw) in zip(records, grids, strict=True):
        planes = torch.zeros(len(layout.planes))
        for code in record.planes:
            planes[p_index[code]] = 1.0
        items = torch.zeros(len(layout.items))
        for item in record.item_ids:
            if item in i_index:
                items[i_index[item]] = 1.0
        present = torch.zeros(n_s)
        boxes = torch.zeros(n_s, 4)
        for s in record.structures:
            k = s_index[s.id]
            present[k] = 1.0
            # on the square the tower sees the image on (scoring.model_input)
            boxes[k] = torch.tensor(Placement(record.width, record.height).unit_box(s.box))
        # cell centres of the merged grid, in normalised image coordinates
        cy = (torch.arange(gh) + 0.5) / gh
        cx = (torch.arange(gw) + 0.5) / gw
        yy, xx = torch.meshgrid(cy, cx, indexing="ij")
        yy, xx = yy.reshape(-1, 1), xx.reshape(-1, 1)  # (T, 1)
        inside = (
            (xx >= boxes[:, 0]) & (xx <= boxes[:, 2]) & (yy >= boxes[:, 1]) & (yy <= boxes[:, 3])
        ).float() * present  # (T, S)
        rows["planes"].append(planes)
        rows["items"].append(items)
        rows["present"].append(present)
        rows["boxes"].append(boxes.reshape(-1))
        rows["mask"].append(present.repeat_interleave(4))
        rows["inside"].append(inside)
    out = {k: torch.stack(v) for k, v in rows.items() if k != "inside"}
    out["inside"] = torch.cat(rows["inside"])
    if layout.map_cells:
        if maps is None:
            raise ValueError("this head predicts structure maps: the batch must carry them")
        out["map"] = token_maps(maps, grids)
    return out


READOUTS = ("mean", "attention")


class DenseHead:
    """A linear map from each merged visual token to the stage's targets; captures the merger's
    output with a forward hook so the model runs unchanged.

    How the per-image parts (planes, present, boxes, items) are read from an image's tokens:
    ``readout="mean"``, the linear map of their mean; ``"attention"``, of a weighted mean per
    part, the weights a softmax over the tokens of a learnt query (zero at first: the mean), as
    the language model's attention reads them in stage 2. With the mean every token must carry
    the whole image's plane; with a query, the tokens where the evidence is can carry it.
    ``head`` holds the trainable modules (``linear``, and ``pool``, the queries)."""

    def __init__(self, model, rubric: Rubric, map_cells: int = 0, readout: str = "mean") -> None:
        import torch

        if readout not in READOUTS:
            raise ValueError(f"readout: one of {READOUTS}, not {readout!r}")
        inner = getattr(model, "model", model)
        self.visual = inner.visual
        self.merge = int(self.visual.config.spatial_merge_size)
        self.layout = layout_for(rubric, map_cells)
        self.readout = readout
        hidden = self.visual.merger.mlp[-1].out_features
        self.linear = torch.nn.Linear(hidden, self.layout.width)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)
        parts = {"linear": self.linear}
        self.pool = None
        if readout == "attention":
            self.pool = torch.nn.Linear(hidden, len(GLOBAL), bias=False)
            torch.nn.init.zeros_(self.pool.weight)
            parts["pool"] = self.pool
        self.head = torch.nn.ModuleDict(parts)
        self.seen = None
        self._hook = self.visual.merger.register_forward_hook(self._keep)

    def _keep(self, _module, _inputs, output) -> None:
        self.seen = output

    def remove(self) -> None:
        self._hook.remove()

    def follow_calibration(self, old_bias, new_bias, scale: float) -> None:
        """Keep the head's predictions when the merger's last layer is recalibrated to
        ``y' = (y - mu) * scale`` (``new_bias = (old_bias - mu) * scale``)."""
        import torch

        with torch.no_grad():
            mu = old_bias.float() - new_bias.float() / scale
            w = self.linear.weight
            self.linear.bias.add_(w @ mu.to(w.device))
            w.div_(scale)
            if self.pool is not None:  # the same weights over tokens after the rescale
                self.pool.weight.div_(scale)

    def loss_for(self, grid_thw, records: Sequence[Record], maps=None):
        """The stage's loss on the merger output of the last forward pass and these records."""
        out = self.from_seen(grid_thw)
        target = dense_targets(records, merged_grid(grid_thw, self.merge), self.layout, maps)
        target = {k: v.to(out["planes"].device) for k, v in target.items()}
        return self.loss(out, target)

    def logits(self, pixel_values, grid_thw):
        """Run the vision tower on a processor batch and return :meth:`from_seen`."""
        self.visual(pixel_values, grid_thw=grid_thw)
        return self.from_seen(grid_thw)

    def from_seen(self, grid_thw):
        """Per-token ``inside`` logits, and per-image logits of the global parts (the head on the
        mean of each image's tokens, the same as the mean of its per-token outputs), from the
        merger output of the last forward pass (the tower's own, or the whole model's)."""
        import torch

        if self.seen is None:
            raise RuntimeError("no merger output captured: run the vision tower first")
        tokens, self.seen = self.seen, None
        tokens = tokens.float()
        per_token = self.layout.split(self.linear(tokens))
        counts = [h * w for h, w in merged_grid(grid_thw, self.merge)]
        out = {"inside": per_token["inside"]}
        if "map" in per_token:
            out["map"] = per_token["map"]
        if self.pool is None:
            for name in GLOBAL:
                out[name] = torch.stack([t.mean(0) for t in per_token[name].split(counts)])
            return out
        # per image and part: softmax weights over its tokens, then the head on the weighted mean
        pooled = []
        for t in tokens.split(counts):
            weights = torch.softmax(self.pool(t), dim=0)  # (T, parts)
            pooled.append(weights.T @ t)  # (parts, hidden)
        pooled_out = self.linear(torch.stack(pooled))  # (images, parts, width)
        for k, name in enumerate(GLOBAL):
            out[name] = self.layout.split(pooled_out[:, k])[name]
        return out

    def loss(self, out, target) -> tuple[Any, dict[str, float]]:
        import torch.nn.functional as F

        bce = F.binary_cross_entropy_with_logits
        # one plane code (the first in rubric order) as a softmax class as well: it trains much
        # sooner than the multi-label loss alone, which keeps a dual-label image's other code
        first = target["planes"].argmax(-1)
        parts = {
            "plane": F.cross_entropy(out["planes"], first),
            "planes": bce(out["planes"], target["planes"]),
            "inside": bce(out["inside"], target["inside"]),
            "present": bce(out["present"], target["present"]),
            "items": bce(out["items"], target["items"]),
        }
        if "map" in out:
            parts["map"] = bce(out["map"], target["map"])
        mask = target["mask"]
        err = F.smooth_l1_loss(out["boxes"], target["boxes"], reduction="none", beta=0.05)
        parts["boxes"] = (err * mask).sum() / mask.sum().clamp(min=1) * 10.0
        total = sum(parts.values())
        return total, {k: round(float(v.detach()), 4) for k, v in parts.items()}


class ImageBatches:
    """Processor batches of records' images, loaded once and kept as PIL images in memory (the
    same interface as :class:`trainer.pool.Pool`, which carries structure maps as well)."""

    def __init__(self, processor, records: Sequence[Record], root: Path | None, images=None):
        """The images are read from ``root`` (the paths the records name), or given: PIL."""
        from PIL import Image

        self.processor = processor
        self.records = list(records)
        if images is not None:
            self.images = [im.convert("RGB") for im in images]
            return
        self.images = []
        for record in self.records:
            with Image.open(Path(root) / record.image) as im:
                self.images.append(im.convert("RGB"))

    def __len__(self) -> int:
        return len(self.records)

    def images_of(self, indices: Sequence[int]):
        """PIL images (RGB) of these records."""
        return [self.images[i] for i in indices]

    def batch(self, indices: Sequence[int]):
        """(``pixel_values``, ``image_grid_thw``, records, None: no structure maps)."""
        from scoring.engine import pixel_range
        from scoring.model_input import model_view

        span = pixel_range(self.processor)  # as the engine shows them: on the model's square
        images = [model_view(self.images[i], *span) for i in indices]
        out = self.processor.image_processor(images=images, return_tensors="pt")
        return out["pixel_values"], out["image_grid_thw"], [self.records[i] for i in indices], None


class Subset:
    """Some of a data source's images (an :class:`ImageBatches`, a pool, another subset)."""

    def __init__(self, source, indices: Sequence[int]) -> None:
        self.source = source
        self.indices = list(indices)

    @property
    def records(self) -> list[Record]:
        return [self.source.records[i] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def batch(self, indices: Sequence[int]):
        return self.source.batch([self.indices[i] for i in indices])

    def images_of(self, indices: Sequence[int]):
        return self.source.images_of([self.indices[i] for i in indices])


@dataclass(frozen=True)
class StageResult:
    steps: int
    seconds: float
    last_loss: float


def pretrain_vision(
    head: DenseHead,
    data,
    *,
    minutes: float,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    warmup_steps: int = 50,
    max_steps: int | None = None,
    seed: int = 0,
    device: Any = None,
    log: Callable[[dict[str, Any]], None] | None = None,
    state_path: Path | None = None,
    save_every_s: float = 120.0,
    probe: Callable[[], dict[str, Any]] | None = None,
    probe_every_s: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
) -> StageResult:
    """Train the vision tower and merger on dense targets for ``minutes`` (cosine schedule on
    time) or ``max_steps``; the rest of the model is untouched. Returns what was done.
    ``data``: an :class:`ImageBatches` or a :class:`trainer.pool.Pool`.

    ``state_path``: the stage's state (tower, head, optimizer, step, time spent, sampling order)
    is saved there every ``save_every_s`` seconds, and a call that finds it resumes where it
    stopped, on the same schedule; it is removed when the stage ends. ``probe`` (a held-out
    measurement, e.g. :func:`evaluate_head`) runs every ``probe_every_s`` seconds and at the
    end; its figures are logged with ``"curve": True``, the step, images seen and time.
    Budgets, periods and logged times run on ``clock`` (see :mod:`trainer.clock`)."""
    stage = _Stage(head, data, lr=lr, weight_decay=weight_decay, seed=seed, clock=clock,
                   state_path=state_path, batch_size=batch_size)  # fmt: skip
    budget = 60.0 * minutes
    last_save = last_probe = clock()
    was_training = head.visual.training
    head.visual.train()
    try:
        while True:
            now = clock()
            if now - last_save >= save_every_s:
                stage.save()
                last_save = now
            if probe_every_s and now - last_probe >= probe_every_s:
                stage.measure(probe, log)
                last_probe = clock()
            progress = stage.progress(budget, max_steps)
            if progress >= 1.0:
                break
            factor = min(1.0, (stage.step + 1) / warmup_steps) if warmup_steps else 1.0
            factor *= 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))
            parts = stage.one_step(lr * factor, device)
            if log is not None:
                log({"stage": "vision", "step": stage.step, "loss": round(stage.loss, 5),
                     **parts, "lr": lr * factor, "elapsed_s": stage.elapsed()})  # fmt: skip
        stage.measure(probe, log)
    finally:
        head.visual.train(was_training)
    if state_path is not None:
        state_path.unlink(missing_ok=True)
    return StageResult(stage.step, clock() - stage.started, stage.loss)


class _Stage:
    """Stage 1's moving parts: the tower and head's optimizer, the sampling order, the step and
    the time, saved to and resumed from ``state_path``."""

    def __init__(self, head, data, *, lr, weight_decay, seed, clock, state_path, batch_size):
        import torch

        self.head, self.data, self.clock, self.state_path = head, data, clock, state_path
        self.batch_size = batch_size
        visual = head.visual
        self.params = [p for p in visual.parameters() if p.requires_grad] + list(
            head.head.parameters()
        )
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=weight_decay)
        self.rng = random.Random(seed)
        self.order: list[int] = []
        self.step, self.loss, spent = 0, float("nan"), 0.0
        self.resumable = {"visual": visual, "head": head.head, "optimizer": self.optimizer}
        if state_path is not None and state_path.is_file():
            self.step, spent, self.order = load_state(state_path, self.resumable, self.rng)
        self.started = clock() - spent
        self.probed = -1

    def elapsed(self) -> float:
        return round(self.clock() - self.started, 2)

    def save(self) -> None:
        if self.state_path is not None:
            elapsed = self.clock() - self.started
            save_state(self.state_path, self.resumable, step=self.step, elapsed_s=elapsed,
                       order=self.order, rng=self.rng)  # fmt: skip

    def measure(self, probe, log) -> None:
        """The held-out probe's figures, logged once per step at most."""
        if probe is None or log is None or self.probed == self.step:
            return
        self.probed = self.step
        figures = measured(self.head.visual, probe)
        entry = {"stage": "vision", "curve": True, "step": self.step,
                 "images_seen": self.step * self.batch_size}  # fmt: skip
        log(entry | figures | {"elapsed_s": self.elapsed()})

    def progress(self, budget: float, max_steps: int | None) -> float:
        progress = (self.clock() - self.started) / budget if budget > 0 else 1.0
        if max_steps is not None:
            progress = max(progress, self.step / max_steps) if budget > 0 else self.step / max_steps
        return progress

    def one_step(self, lr: float, device) -> dict:
        """One batch (the order reshuffled when it runs out) at ``lr``; the loss's parts."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if len(self.order) < self.batch_size:
            fresh = list(range(len(self.data)))
            self.rng.shuffle(fresh)
            self.order.extend(fresh)
        chunk, self.order = self.order[: self.batch_size], self.order[self.batch_size :]
        pixels, grid, recs, maps = self.data.batch(chunk)
        self.head.visual(pixels.to(device), grid_thw=grid.to(device))
        loss, parts = self.head.loss_for(grid, recs, maps)
        self.loss = optimizer_step(self.optimizer, loss, self.params, 1.0)
        self.step += 1
        return parts


def evaluate_head(head: DenseHead, data, device=None, indices: Sequence[int] | None = None):
    """Plane top-1 accuracy and box IoU of a head on ``data`` (an :class:`ImageBatches` or a
    pool; ``indices``: only those of its images), token logits averaged."""
    import torch

    chosen = list(range(len(data))) if indices is None else list(indices)
    hits, ious = 0, []
    with torch.no_grad():
        for start in range(0, len(chosen), 32):
            idx = chosen[start : start + 32]
            pixels, grid, recs, _maps = data.batch(idx)
            out = head.logits(pixels.to(device), grid.to(device))
            for record, p, b in zip(recs, out["planes"], out["boxes"], strict=True):
                best = head.layout.planes[int(p.argmax())]
                hits += best in record.planes
                mean_box = b.float().reshape(-1, 4).tolist()
                for s in record.structures:
                    k = head.layout.structures.index(s.id)
                    truth = Placement(record.width, record.height).unit_box(s.box)
                    ious.append(iou(mean_box[k], truth))
    return {
        "plane_top1": hits / max(1, len(chosen)),
        "box_iou_mean": sum(ious) / max(1, len(ious)),
        "box_iou_50": sum(i >= 0.5 for i in ious) / max(1, len(ious)),
    }
