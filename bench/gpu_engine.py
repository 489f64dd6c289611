"""Seconds per image of the engine on Qwen2-VL-2B's architecture (random weights, no download).

    python -m bench.gpu_engine                  # on a GPU machine: the 2B architecture, bf16
    python -m bench.gpu_engine --tiny           # CPU smoke test of the same code path

The model is built from Qwen2-VL-2B-Instruct's published config (28 layers of width 1536, GQA
12/2 heads, 8960 MLP; a 32-block 1280-wide ViT with 14 px patches and 2x2 merge) with random
weights, so the answer text is noise: every image generates exactly ``--new-tokens`` tokens (the
length of a typical answer), which is what the time depends on. The prompt is the full
three-layer prompt. The result is set beside the paper's 1.2 s per image single and 0.4 s per
image batched on one RTX 3090.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from trainer.qwen2_vl_2b import TEXT as QWEN2_VL_2B_TEXT
from trainer.qwen2_vl_2b import VISION as QWEN2_VL_2B_VISION

PAPER = {"single_s_per_image": 1.2, "batched_s_per_image": 0.4, "device": "RTX 3090"}


def build_engine(tiny: bool, device: str, dtype: str | None, max_pixels: int):
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    from scoring.engine import Engine, cap_pixels, pick_dtype
    from trainer.tiny_qwen import SPECIAL_TOKENS, TinySpec, build_tiny, make_processor

    # A tokenizer with the Qwen special tokens (Qwen's own is not on disk); the 2B config keeps
    # its 151936-row embedding, of which these ids use the first few thousand.
    folder = tempfile.mkdtemp(prefix="bench-gpu-")
    small = TinySpec(
        hidden_size=64, intermediate_size=128, num_layers=1, num_heads=2, num_kv_heads=1,
        vision_depth=1, vision_dim=32, vision_heads=2, prompt_detail="full",
    )  # fmt: skip
    build_tiny(folder, spec=small, n_random=300)
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(folder)
    if not tiny:
        processor = make_processor(processor.tokenizer, min_tokens=4, max_tokens=16384)
        cap_pixels(processor, max_pixels)
    tok = processor.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    dev = torch.device(device)
    torch_dtype = pick_dtype(dtype, dev)
    if tiny:
        model = Qwen2VLForConditionalGeneration.from_pretrained(folder, dtype=torch_dtype)
    else:
        config = Qwen2VLConfig(
            text_config=QWEN2_VL_2B_TEXT | {"eos_token_id": ids["<|im_end|>"]},
            vision_config=QWEN2_VL_2B_VISION,
            image_token_id=ids["<|image_pad|>"],
            video_token_id=ids["<|video_pad|>"],
            vision_start_token_id=ids["<|vision_start|>"],
            vision_end_token_id=ids["<|vision_end|>"],
            tie_word_embeddings=True,
        )
        with dev:  # initialise on the device: a 2B model built on CPU first takes minutes
            model = Qwen2VLForConditionalGeneration._from_config(config, dtype=torch_dtype)
    model.to(dev).eval()
    n_params = sum(p.numel() for p in model.parameters())
    name = "tiny-random" if tiny else "qwen2-vl-2b-architecture-random"
    return Engine(model, processor, model_id=name, prompt_detail="full"), n_params


def run(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_engine", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="tiny model on CPU (smoke test)")
    parser.add_argument("--device", default=None, help="default: cuda when available")
    parser.add_argument("--dtype", default=None, help="bf16, fp16, fp32 (default: bf16 on GPU)")
    parser.add_argument("--batch", type=int, default=8, help="batch size of the batched run")
    parser.add_argument("--images", type=int, default=16, help="images per measurement")
    parser.add_argument("--new-tokens", type=int, default=256, help="tokens per answer")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--max-pixels", type=int, default=1280 * 28 * 28)
    args = parser.parse_args(argv)

    import torch
    from PIL import Image

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.tiny:
        args.images, args.new_tokens = min(args.images, 4), min(args.new_tokens, 16)
    engine, n_params = build_engine(args.tiny, device, args.dtype, args.max_pixels)
    images = [
        Image.effect_noise((args.width, args.height), 40 + i).convert("RGB")
        for i in range(args.images)
    ]

    def timed(batch: int, subset) -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        # min_new_tokens is not exposed by assess; random weights almost never emit <|im_end|>
        engine.assess(subset, batch_size=batch, max_new_tokens=args.new_tokens)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) / len(subset)

    timed(1, images[:1])  # warm-up (kernels, allocator)
    single = timed(1, images[: max(2, args.images // 4)])
    batched = timed(args.batch, images)
    result = {
        "device": torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu",
        "model": engine.model_id,
        "parameters": n_params,
        "dtype": str(next(engine.model.parameters()).dtype),
        "new_tokens": args.new_tokens,
        "image_size": [args.width, args.height],
        "single_s_per_image": round(single, 4),
        "batched_s_per_image": round(batched, 4),
        "batch": args.batch,
        "paper": PAPER,
        "ratios": {"batched_vs_single": single / batched},
    }
    if device.startswith("cuda"):
        result["peak_gpu_mem_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print(
        f"{result['model']} on {result['device']}: {single:.3f} s/image single, "
        f"{batched:.3f} s/image at batch {args.batch} "
        f"(paper: {PAPER['single_s_per_image']} / {PAPER['batched_s_per_image']} s on RTX 3090)"
    )
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
