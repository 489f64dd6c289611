"""Stage 1 inside a fit: the vision tower and merger trained alone on dense targets
(:mod:`trainer.tower_pretrain`) before the answers, measured on held-out images, and the visual
tokens calibrated again to the text embeddings' norm for a fresh tiny model."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from trainer.clock import make_clock
from trainer.fit.answers import append, curve_records
from trainer.fit.settings import (
    CURVE_FILE,
    LOG_FILE,
    VISION_HOLDOUT,
    VISION_STATE,
    FitConfig,
)


def vision_stage(config: FitConfig, model, processor, data, rubric, accelerator, out, head):
    """Stage 1: the vision tower and merger alone on dense targets (trainer.tower_pretrain); then,
    for a fresh tiny model, the visual tokens are calibrated again to the text-embedding norm.
    ``data``: the training images (:func:`training_images`). The last ``VISION_HOLDOUT`` of
    them (a tenth of a small set) are kept out of it and measure it (plane top-1, box IoU) in
    ``vision_stage.json``. Every process runs it on the same seeded batches; DDP then starts
    from rank 0's weights."""
    from trainer.tiny_qwen import calibrate_visual_tokens
    from trainer.tower_pretrain import ImageBatches, Subset, evaluate_head, pretrain_vision

    model.to(accelerator.device)
    visual = model.model.visual
    frozen = [p for p in visual.parameters() if not p.requires_grad]
    for p in frozen:
        p.requires_grad_(True)
    log_path = out / LOG_FILE
    every = max(1, config.log_every)

    def log(entry: dict[str, Any]) -> None:
        if not accelerator.is_main_process:
            return
        if entry.get("curve"):
            append(out / CURVE_FILE, entry)
            accelerator.print(f"vision stage curve: {json.dumps(entry)}")
        elif entry["step"] % every == 0:
            append(log_path, entry)
            if config.progress and entry["step"] % 50 == 0:
                accelerator.print(
                    f"vision stage: step {entry['step']} loss {entry['loss']:.4f} "
                    f"({entry['elapsed_s']:.0f} s)"
                )

    n = len(data)
    held = min(VISION_HOLDOUT, n // 10)
    train, heldout = Subset(data, range(n - held)), Subset(data, range(n - held, n))
    probe, probe_every = None, 60.0 * config.curve_every_min
    if probe_every:
        curve_data: Any
        if config.curve_data is None:
            curve_data = Subset(heldout, range(min(config.curve_images, held)))
        else:
            curve, images = curve_records(config, rubric, [])
            curve_data = ImageBatches(processor, curve, None, images)

        def probe() -> dict[str, Any]:
            return evaluate_head(head, curve_data, device=accelerator.device)

    try:
        result = pretrain_vision(
            head,
            train,
            minutes=config.vision_stage_min,
            max_steps=config.vision_stage_steps,
            batch_size=config.vision_stage_batch,
            lr=config.vision_stage_lr,
            seed=config.seed,
            device=accelerator.device,
            log=log,
            state_path=out / VISION_STATE if accelerator.is_main_process else None,
            probe=probe,
            probe_every_s=probe_every,
            clock=make_clock(config.clock, config.torch_threads),
        )
    finally:
        for p in frozen:
            p.requires_grad_(False)
    summary: dict[str, Any] = dataclasses.asdict(result)
    if held:
        visual.eval()
        summary["heldout"] = {"images": held} | evaluate_head(
            head, heldout, device=accelerator.device
        )
        visual.train()
    if config.model == "tiny" and config.tiny.visual_norm_ratio is not None:
        pil = data.images_of(range(min(16, n)))
        last = visual.merger.mlp[-1]
        old_bias = last.bias.detach().clone()
        scale = calibrate_visual_tokens(model, processor, pil, config.tiny.visual_norm_ratio)
        head.follow_calibration(old_bias, last.bias.detach(), scale)
    if accelerator.is_main_process:
        (out / "vision_stage.json").write_text(json.dumps(summary), encoding="utf-8")
    accelerator.print(f"vision stage: {json.dumps(summary)}")
    return result


def training_images(config: FitConfig, processor, records, rubric):
    """The training images of a fit, as stage 1 reads them: a pool (``data`` is one, its maps
    kept when stage 1 predicts them) or the files ``records`` name."""
    from pathlib import Path

    from trainer.pool import Pool
    from trainer.tower_pretrain import ImageBatches

    if config.pool:
        pool = Pool(config.data, processor.image_processor, rubric)
        if config.limit:
            pool.records = pool.records[: config.limit]
        if not config.vision_stage_maps:
            pool.maps = None
        return pool
    if config.vision_stage_maps:
        from trainer.config import ConfigError

        raise ConfigError("vision_stage_maps: the structure maps come from a pool; data is not one")
    return ImageBatches(processor, records, Path(config.data))
