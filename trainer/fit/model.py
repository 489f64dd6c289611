"""The base model of a fit: a fresh tiny Qwen2-VL built on the spot or a checkpoint loaded from
its folder, then LoRA adapters over it (the paper's recipe) or, for full fine-tuning, the vision
tower frozen or not."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from scoring.rubric import Rubric
from trainer.fit.settings import VISION_LORA_TARGETS, FitConfig


def setup_model(config: FitConfig, out: Path, rubric: Rubric, records, accelerator, images=()):
    """(base folder, processor, model). ``images``: a few training images (paths or PIL) that
    a fresh tiny model's visual tokens are calibrated on."""
    import torch
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

    base = Path(config.model)
    if config.model == "tiny":
        from scoring.records import record_to_answer
        from trainer.tiny_qwen import build_tiny

        base = out / "init"
        if accelerator.is_main_process and not (base / "config.json").is_file():
            spec = dataclasses.replace(config.tiny, prompt_detail=config.prompt_detail)
            answers = [record_to_answer(r, rubric) for r in records]
            build_tiny(
                base, spec=spec, rubric=rubric, answers=answers, seed=config.seed, images=images
            )
        accelerator.wait_for_everyone()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[config.dtype]
    # Full fine-tuning keeps fp32 master weights (autocast does the bf16 maths); LoRA freezes the
    # base, which may then stay in the low-precision dtype to save memory.
    load_dtype = dtype if config.mode == "lora" else torch.float32
    processor = AutoProcessor.from_pretrained(base)
    if config.max_pixels:
        from scoring.engine import cap_pixels

        cap_pixels(processor, config.max_pixels)
    model = Qwen2VLForConditionalGeneration.from_pretrained(base, dtype=load_dtype)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    if config.mode == "lora":
        model = with_lora(model, config)
    elif config.vision == "frozen":
        for p in model.model.visual.parameters():
            p.requires_grad_(False)
    return base, processor, model


def with_lora(model, config: FitConfig):
    """``model`` wrapped with the config's LoRA adapters: the language model's projections,
    and the vision blocks' linear layers (``vision: lora``) or the whole tower trained and
    saved (``vision: full``)."""
    from peft import LoraConfig, get_peft_model

    text = "|".join(config.lora.targets)
    pattern = rf".*language_model\.layers\.\d+\.(self_attn|mlp)\.({text})"
    if config.vision == "lora":
        vis = "|".join(VISION_LORA_TARGETS)
        pattern = rf"({pattern}|.*visual\.blocks\.\d+\.(attn|mlp)\.({vis}))"
    lora = LoraConfig(
        r=config.lora.rank,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        bias=config.lora.bias,
        target_modules=pattern,
        modules_to_save=["visual"] if config.vision == "full" else None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)
