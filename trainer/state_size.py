"""How big a LoRA run's saved state is, for the paper's 2B recipe, measured on the CPU without
its weights: ``python -m trainer state-size --config trainer/configs/paper_lora_2b.yaml``.

Qwen2-VL-2B-Instruct's architecture (its published sizes, below) is built on PyTorch's meta
device (shapes, no memory) in the dtype the fit loads it in, wrapped with the config's LoRA
exactly as ``trainer fit`` wraps it (trainer/fit/model.py), and each tensor's bytes are added
up: what accelerate's ``save_state`` of the whole wrapped model wrote before (every weight, with
AdamW's two fp32 moments for each trainable one), and what the state holds now
(trainer/fit/state.py): the trainable weights and their moments.
"""

from __future__ import annotations

import argparse
import json

from trainer.qwen2_vl_2b import CONFIG as QWEN2_VL_2B


def measure(config) -> dict:
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    from trainer.fit.model import with_lora

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[config.dtype]
    load = dtype if config.mode == "lora" else torch.float32  # as trainer/fit/model.py loads it
    with torch.device("meta"):
        model = Qwen2VLForConditionalGeneration(Qwen2VLConfig(**QWEN2_VL_2B)).to(load)
        if config.mode == "lora":
            model = with_lora(model, config)  # peft keeps the adapters in fp32
    seen: set[int] = set()
    total = trainable = whole = adapter = 0
    for p in model.parameters():  # tied weights once
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        whole += p.numel() * p.element_size()
        if p.requires_grad:
            trainable += p.numel()
            adapter += p.numel() * p.element_size()
    return {
        "parameters": total,
        "trainable_parameters": trainable,
        "state_before_bytes": whole + trainable * 4 * 2,
        "adapter_bytes": adapter,
        "optimizer_bytes": trainable * 4 * 2,
        "state_now_bytes": adapter + trainable * 4 * 2,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True)


def run(args: argparse.Namespace) -> int:
    from trainer.fit.settings import load_config

    figures = measure(load_config(args.config))
    print(json.dumps(figures, indent=1))
    mb = 1e6
    print(
        f"state with the whole model: {figures['state_before_bytes'] / mb:,.0f} MB; now "
        f"{figures['state_now_bytes'] / mb:,.0f} MB ({figures['adapter_bytes'] / mb:,.0f} MB of "
        f"adapter, {figures['optimizer_bytes'] / mb:,.0f} MB of optimizer moments)"
    )
    return 0
