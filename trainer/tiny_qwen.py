"""A tiny Qwen2-VL built here: tokenizer, config, processor, saved as an ordinary checkpoint.

    python -m trainer tiny --out models/tiny-init [--data phantoms/annotations.jsonl]

The folder holds what Qwen2-VL-2B-Instruct's folder holds (``config.json``,
``generation_config.json``, ``model.safetensors``, ``tokenizer.json``, ``tokenizer_config.json``,
the processor's config and the chat template), so ``Qwen2VLForConditionalGeneration`` and
``AutoProcessor`` load it from a local path exactly as they load the 2B model, and the engine and
the trainer need no special case for it. Nothing is downloaded.

Tokenizer choices, for a small model that must learn fast on two CPU cores:

- byte-level BPE (any text round-trips), with the Qwen2-VL special tokens at ids 0-13;
- every digit is its own pre-token, so a box coordinate is always three (or fewer) digit tokens
  read most significant first: the model learns 10-way decisions per place instead of a
  thousand-way lookup, and ``(412,`` never merges into an arbitrary token;
- every newline is its own pre-token, so no token spans two answer lines and each parser event
  (one line) owns its tokens, which is what its confidence is computed from;
- otherwise merges may cross spaces: the constant prompt and the fixed answer phrases (item ids,
  conditions, structure names) compress into a few tokens each, which keeps sequences short.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from scoring.answer import Answer, Deduction, Structure, render
from scoring.prompt import SYSTEM, Detail, build_prompt
from scoring.rubric import Rubric, default_rubric

# Qwen2-VL's special tokens, in Qwen's own id order (151643...), here at ids 0..13.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# Qwen2-VL-2B-Instruct's chat template, verbatim.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Written beside the weights; the engine reads it to build the prompt the model was trained on.
ABVLMQ_FILE = "abvlmq.json"

PATCH = 14  # Qwen2-VL's patch size; with spatial merge 2 one visual token covers 28 x 28 px
TOKEN_PIXELS = (PATCH * 2) ** 2


@dataclass(frozen=True)
class TinySpec:
    """Sizes of the tiny model. The defaults give about 4 M parameters."""

    vocab_size: int = 2048
    hidden_size: int = 192
    intermediate_size: int = 512
    num_layers: int = 4
    num_heads: int = 6
    num_kv_heads: int = 2
    vision_depth: int = 4
    vision_dim: int = 128
    vision_heads: int = 4
    vision_mlp_ratio: int = 2
    min_tokens: int = 64  # visual tokens per image (after the merge)
    max_tokens: int = 144  # 336 x 336 px for a square image
    # Qwen2-VL's patches of 14 px merged 2 x 2 into one visual token of 28 x 28 px; patches of
    # 7 px merged 4 x 4 keep that token size (and the language model's cost) while the tower
    # sees finer patches, at about 4x its cost
    patch_size: int = PATCH
    merge_size: int = 2
    prompt_detail: Detail = "compact"
    # Pixel normalisation (one value for all three channels); None keeps CLIP's. Ultrasound is
    # dark: the phantoms' statistics (about 0.145 / 0.21) zero-centre the pixels.
    image_mean: float | None = None
    image_std: float | None = None
    # "blocks": part of the patch embedding starts as sub-block means of the patch (7 x 7 grid of
    # 2 x 2 px) and edge filters, so each patch token carries its intensity layout from step 0.
    patch_init: Literal["random", "blocks"] = "random"
    # Calibrate the merger's last layer on sample images: visual tokens zero-centred across
    # tokens and with this ratio of the mean text-embedding norm. None: leave the random init.
    visual_norm_ratio: float | None = None


# --------------------------------------------------------------------------- corpus


def random_answer(rng: random.Random, rubric: Rubric) -> Answer:
    """A random answer that the rubric accepts: the tokenizer's corpus when there is no data."""
    standard = list(rubric.standard_planes)
    if rng.random() < 0.1:
        code = next(c for c, p in rubric.planes.items() if not p.standard)
        return Answer((), (code,), (Deduction(rubric.planes[code].items[0], 0, ""),))
    planes = [rng.choice(standard)]
    if rng.random() < 0.15:
        planes.append(rng.choice([c for c in standard if c != planes[0]]))
    structures: list[Structure] = []
    deductions: list[Deduction] = []
    for sid in rubric.structures_for(planes):
        owner = next(c for c in planes if sid in rubric.planes[c].structures)
        roll = rng.random()
        if roll < 0.15:
            deductions.append(Deduction(f"{owner}.{sid}.missing", 0, ""))
            continue
        if roll < 0.3:
            deductions.append(Deduction(f"{owner}.{sid}.incomplete", 0, ""))
        x1, y1 = rng.randint(0, 800), rng.randint(0, 800)
        box = (x1, y1, rng.randint(x1 + 20, 1000), rng.randint(y1 + 20, 1000))
        structures.append(Structure(sid, box))
    groups: set[str] = set()
    for item in rubric.items_for(planes):
        if item.kind in ("missing", "incomplete") or rng.random() > 0.15:
            continue
        if item.group and item.group in groups:
            continue
        groups.add(item.group or item.id)
        deductions.append(Deduction(item.id, 0, ""))
    fixed = [Deduction(d.item, rubric.items[d.item].points, "") for d in deductions]
    return Answer(tuple(structures), tuple(planes), tuple(fixed))


def corpus(
    rubric: Rubric,
    answers: Iterable[Answer] = (),
    *,
    n_random: int = 3000,
    seed: int = 0,
) -> Iterator[str]:
    """Texts the tokenizer learns from: the system text and both prompt forms, repeated as often
    as they occur in training, and rendered answers (given ones, then random valid ones)."""
    rng = random.Random(seed)
    n = 0
    for answer in answers:
        n += 1
        yield render(answer, rubric)
    for _ in range(n_random):
        n += 1
        yield render(random_answer(rng, rubric), rubric)
    for _ in range(max(n, 1)):
        yield SYSTEM
        yield build_prompt(rubric, "compact")
        yield "system\n" + "user\n" + "assistant\n"
    for _ in range(max(n // 10, 1)):
        yield build_prompt(rubric, "full")


# --------------------------------------------------------------------------- tokenizer


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048):
    """A byte-level BPE ``tokenizers.Tokenizer`` with the Qwen2-VL special tokens at 0-13."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated"),
            pre_tokenizers.Split(Regex(r"\n"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def wrap_tokenizer(tok):
    """The HF tokenizer object (Qwen2-VL's eos/pad conventions, left padding for generation)."""
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        padding_side="left",
        model_max_length=32768,
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
    )
    hf.chat_template = CHAT_TEMPLATE
    return hf


# --------------------------------------------------------------------------- config


def tiny_config(spec: TinySpec, tokenizer):
    """A ``Qwen2VLConfig`` with the tiny sizes and this tokenizer's special ids."""
    from transformers import Qwen2VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    head_dim = spec.hidden_size // spec.num_heads
    # M-RoPE splits the rotary half-dimension into (temporal, height, width) sections; Qwen2-VL
    # uses 16/24/24 of 64. Keep the same proportions.
    half = head_dim // 2
    t = half // 4
    h = (half - t) // 2
    sections = [t, h, half - t - h]
    return Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": spec.hidden_size,
            "intermediate_size": spec.intermediate_size,
            "num_hidden_layers": spec.num_layers,
            "num_attention_heads": spec.num_heads,
            "num_key_value_heads": spec.num_kv_heads,
            "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {
                "rope_type": "default",
                "mrope_section": sections,
                "rope_theta": 10000.0,
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": True,
        },
        vision_config={
            "depth": spec.vision_depth,
            "embed_dim": spec.vision_dim,
            "hidden_size": spec.hidden_size,
            "num_heads": spec.vision_heads,
            "mlp_ratio": spec.vision_mlp_ratio,
            "patch_size": spec.patch_size,
            "spatial_merge_size": spec.merge_size,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=True,
    )


def make_processor(
    tokenizer,
    min_tokens: int = 64,
    max_tokens: int = 256,
    *,
    image_mean: float | None = None,
    image_std: float | None = None,
    patch_size: int = PATCH,
    merge_size: int = 2,
):
    """Qwen2-VL's own processor with a small pixel budget (64-256 visual tokens by default)."""
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    token_pixels = (patch_size * merge_size) ** 2
    pixels: dict[str, Any] = {
        "min_pixels": min_tokens * token_pixels,
        "max_pixels": max_tokens * token_pixels,
    }
    if (patch_size, merge_size) != (PATCH, 2):
        pixels |= {"patch_size": patch_size, "merge_size": merge_size}
    if image_mean is not None:
        pixels["image_mean"] = [image_mean] * 3
    if image_std is not None:
        pixels["image_std"] = [image_std] * 3
    return Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(**pixels),
        chat_template=CHAT_TEMPLATE,
    )


# --------------------------------------------------------------------------- informative init


def _visual(model):
    return getattr(model, "model", model).visual


def init_patch_blocks(model, grid: int = 7) -> int:
    """Set the first output channels of the patch embedding to sub-block means (a ``grid`` x
    ``grid`` layout of the grey level) followed by horizontal and vertical edge filters; the other
    channels keep their random init. Returns how many channels were set."""
    import torch

    proj = _visual(model).patch_embed.proj  # Conv3d(3, D, (T, P, P))
    w = proj.weight  # (D, 3, T, P, P)
    d, c, t, p, _ = w.shape
    cell = p // grid
    filters = []
    for i in range(grid):
        for j in range(grid):
            f = torch.zeros(p, p)
            f[i * cell : (i + 1) * cell, j * cell : (j + 1) * cell] = 1.0
            filters.append(f)
    half = p // 2
    for k in range(grid):  # edges within each band of rows / columns
        band = slice(k * cell, (k + 1) * cell)
        f = torch.zeros(p, p)
        f[band, :half], f[band, half:] = 1.0, -1.0
        filters.append(f)
        f = torch.zeros(p, p)
        f[:half, band], f[half:, band] = 1.0, -1.0
        filters.append(f)
    n = min(len(filters), d)
    with torch.no_grad():
        for k in range(n):
            f = filters[k] / filters[k].abs().sum()  # a mean: output ~ the normalised pixel
            w[k] = f.expand(c, t, p, p) / (c * t)
    return n


def visual_tokens(model, processor, images) -> Any:
    """The merged visual tokens (the inputs of the LM) of ``images``: (tokens, hidden)."""
    import torch

    pix = processor.image_processor(images=list(images), return_tensors="pt")
    visual = _visual(model)
    with torch.no_grad():
        out = visual(pix["pixel_values"], grid_thw=pix["image_grid_thw"])
    return getattr(out, "pooler_output", None) if not torch.is_tensor(out) else out


def calibrate_visual_tokens(model, processor, images, ratio: float = 1.0) -> float:
    """Rescale the merger's last linear layer so the visual tokens of ``images`` have zero mean
    across tokens and a mean norm of ``ratio`` times the mean text-embedding norm: at random
    init they are otherwise ~100x the text embeddings and nearly the same vector for every token,
    which leaves the language model nothing to read. Returns the scale applied."""
    import torch

    last = _visual(model).merger.mlp[-1]
    seen: list[torch.Tensor] = []
    handle = last.register_forward_hook(lambda _m, _i, o: seen.append(o.detach()))
    try:
        visual_tokens(model, processor, images)
    finally:
        handle.remove()
    y = seen[-1].float()
    mu = y.mean(0)
    spread = (y - mu).norm(dim=-1).mean()
    target = model.get_input_embeddings().weight.detach().float().norm(dim=-1).mean() * ratio
    scale = float((target / spread.clamp_min(1e-8)).detach())
    with torch.no_grad():
        last.weight.mul_(scale)
        last.bias.copy_((last.bias - mu) * scale)
    return scale


def sample_images(images: Sequence[Any], seed: int, n: int = 16, size: int = 224):
    """PIL images from paths or images; random dark speckle when none are given."""
    import numpy as np
    from PIL import Image

    if images:
        out = []
        for im in list(images)[:64]:
            if isinstance(im, str | Path):
                with Image.open(im) as opened:
                    out.append(opened.convert("RGB"))
            else:
                out.append(im.convert("RGB"))
        return out
    rng = np.random.default_rng(seed)
    return [
        Image.fromarray((rng.random((size, size, 3)) ** 3 * 255).astype(np.uint8)) for _ in range(n)
    ]


# --------------------------------------------------------------------------- building


def build_tiny(
    out_dir: str | Path,
    *,
    spec: TinySpec | None = None,
    rubric: Rubric | None = None,
    answers: Sequence[Answer] = (),
    seed: int = 0,
    n_random: int = 3000,
    images: Sequence[Any] = (),
) -> Path:
    """Train the tokenizer, build a randomly initialised tiny Qwen2-VL, save it to ``out_dir``."""
    import torch
    from transformers import GenerationConfig, Qwen2VLForConditionalGeneration

    spec = spec or TinySpec()
    rubric = rubric or default_rubric()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer(corpus(rubric, answers, n_random=n_random, seed=seed), spec.vocab_size)
    tokenizer = wrap_tokenizer(tok)
    processor = make_processor(
        tokenizer,
        spec.min_tokens,
        spec.max_tokens,
        image_mean=spec.image_mean,
        image_std=spec.image_std,
        patch_size=spec.patch_size,
        merge_size=spec.merge_size,
    )
    config = tiny_config(spec, tokenizer)
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    if spec.patch_init == "blocks":
        init_patch_blocks(model)
    if spec.visual_norm_ratio is not None:
        calibrate_visual_tokens(
            model, processor, sample_images(images, seed), spec.visual_norm_ratio
        )
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=[tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")],
        pad_token_id=config.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    write_model_info(
        out, prompt_detail=spec.prompt_detail, rubric=rubric, extra={"tiny": asdict(spec)}
    )
    return out


def write_model_info(
    out_dir: str | Path,
    *,
    prompt_detail: Detail,
    rubric: Rubric,
    extra: dict[str, Any] | None = None,
) -> None:
    """``abvlmq.json``: the prompt form and rubric a checkpoint or adapter was trained with."""
    info = {"prompt_detail": prompt_detail, "rubric_version": rubric.version, **(extra or {})}
    Path(out_dir, ABVLMQ_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Build a randomly initialised tiny Qwen2-VL checkpoint folder."
    parser.add_argument("--out", required=True, type=Path, help="checkpoint folder to write")
    parser.add_argument("--data", type=Path, help="annotations JSONL whose answers feed the BPE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vocab-size", type=int, default=TinySpec.vocab_size)


def run(args: argparse.Namespace) -> int:
    from scoring.records import record_to_answer
    from trainer.data import load_records

    rubric = default_rubric()
    answers = []
    if args.data:
        answers = [record_to_answer(r, rubric) for r in load_records(args.data, rubric)]
    out = build_tiny(
        args.out, spec=TinySpec(vocab_size=args.vocab_size), answers=answers, seed=args.seed
    )
    print(f"ok: tiny Qwen2-VL written to {out}")
    return 0


# --------------------------------------------------------------------------- toy data


def toy_dataset(out_dir: str | Path, count: int = 8, *, seed: int = 0, size: int = 112) -> Path:
    """A few-image data set for tests and smoke runs, no phantom generator needed.

    Each image is a dark square with one bright rectangle: a gallbladder ("GB") on the left
    half, a right kidney ("RKL") on the right; its box is the rectangle. Writes ``images/``,
    ``annotations.jsonl`` and ``train.jsonl`` (the same records).
    """
    import numpy as np
    from PIL import Image

    rubric = default_rubric()
    rng = random.Random(seed)
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for n in range(count):
        plane = "GB" if n % 2 == 0 else "RKL"
        sid = "gallbladder" if plane == "GB" else "right_kidney"
        other = "right_lobe"
        x0 = rng.randint(4, size // 2 - 40) + (0 if plane == "GB" else size // 2)
        y0 = rng.randint(4, size - 40)
        box = [x0, y0, x0 + rng.randint(20, 34), y0 + rng.randint(20, 34)]
        pixels = np.full((size, size, 3), 30, dtype=np.uint8)
        pixels[box[1] : box[3], box[0] : box[2]] = 220
        name = f"images/{n:04d}.png"
        Image.fromarray(pixels).save(out / name)
        item = f"{plane}.{other}.missing"
        score = rubric.score([item])
        lines.append(
            {
                "image": name,
                "width": size,
                "height": size,
                "planes": [plane],
                "structures": [{"id": sid, "box": box}],
                "deductions": [{"item": item, "box": None}],
                "score": score,
                "grade": rubric.grade(score),
            }
        )
    text = "".join(json.dumps(r) + "\n" for r in lines)
    (out / "annotations.jsonl").write_text(text, encoding="utf-8")
    (out / "train.jsonl").write_text(text, encoding="utf-8")
    return out
