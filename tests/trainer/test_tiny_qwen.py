"""The tiny Qwen2-VL checkpoint loads like Qwen2-VL-2B-Instruct and tokenizes sensibly."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("transformers")
pytest.importorskip("torchvision")

from scoring.answer import parse, render
from scoring.prompt import build_messages
from scoring.rubric import default_rubric
from trainer.tiny_qwen import (
    SPECIAL_TOKENS,
    TinySpec,
    build_tiny,
    count_parameters,
    random_answer,
)

MICRO = TinySpec(
    vocab_size=768,
    hidden_size=64,
    intermediate_size=128,
    num_layers=2,
    num_heads=2,
    num_kv_heads=1,
    vision_depth=1,
    vision_dim=32,
    vision_heads=2,
    min_tokens=16,
    max_tokens=64,
)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny(tmp_path_factory.mktemp("tiny"), spec=MICRO, n_random=400)


@pytest.fixture(scope="module")
def loaded(tiny_dir):
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

    return (
        Qwen2VLForConditionalGeneration.from_pretrained(tiny_dir),
        AutoProcessor.from_pretrained(tiny_dir),
    )


def test_it_writes_an_ordinary_checkpoint_folder(tiny_dir):
    names = {p.name for p in tiny_dir.iterdir()}
    for required in (
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "processor_config.json",
        "chat_template.jinja",
        "abvlmq.json",
    ):
        assert required in names


def test_the_stock_classes_load_it(loaded):
    from transformers import Qwen2VLProcessor

    model, processor = loaded
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    assert isinstance(processor, Qwen2VLProcessor)
    assert 50_000 < count_parameters(model) < 2_000_000


def test_it_carries_every_qwen2_vl_special_token_as_one_token(loaded):
    _, processor = loaded
    tok = processor.tokenizer
    for n, token in enumerate(SPECIAL_TOKENS):
        assert tok.convert_tokens_to_ids(token) == n
        assert tok(token, add_special_tokens=False)["input_ids"] == [n]
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"


def test_box_digits_are_single_tokens_most_significant_first(loaded):
    _, processor = loaded
    tok = processor.tokenizer
    ids = tok("<|box_start|>(412,87),(1000,905)<|box_end|>", add_special_tokens=False)["input_ids"]
    pieces = [tok.decode([i]) for i in ids]
    digits = [p for p in pieces if p.isdigit()]
    assert digits == list("41287" + "1000905")
    assert all(len(p) == 1 for p in digits)


def test_no_token_spans_two_answer_lines(loaded):
    _, processor = loaded
    tok = processor.tokenizer
    text = render(random_answer(random.Random(3), default_rubric()))
    ids = tok(text, add_special_tokens=False)["input_ids"]
    pieces = [tok.decode([i]) for i in ids]
    assert all(p == "\n" or "\n" not in p for p in pieces)
    assert tok.decode(ids) == text


def test_random_answers_are_valid_under_the_rubric():
    rubric = default_rubric()
    rng = random.Random(0)
    for _ in range(200):
        result = parse(render(random_answer(rng, rubric), rubric), rubric)
        assert result.complete and not result.errors


def test_the_chat_template_is_qwen2_vls(loaded):
    _, processor = loaded
    text = processor.apply_chat_template(
        build_messages(detail="compact"), add_generation_prompt=True, tokenize=False
    )
    assert text.startswith("<|im_start|>system\n")
    assert "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Task:" in text
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_an_image_becomes_the_configured_number_of_visual_tokens(loaded):
    from PIL import Image

    model, processor = loaded
    text = processor.apply_chat_template(
        build_messages(detail="compact"), add_generation_prompt=True, tokenize=False
    )
    for size in ((512, 512), (800, 300), (20, 20)):
        batch = processor(text=[text], images=[Image.new("RGB", size)], return_tensors="pt")
        n = int((batch["input_ids"] == model.config.image_token_id).sum())
        assert MICRO.min_tokens <= n <= MICRO.max_tokens
        assert "mm_token_type_ids" in batch


@pytest.mark.slow
def test_the_informative_init_centres_and_scales_the_visual_tokens(tmp_path):
    import numpy as np
    import torch
    from PIL import Image
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

    from trainer.tiny_qwen import visual_tokens

    rng = np.random.default_rng(0)
    images = []
    for _ in range(6):  # dark frames with one bright block somewhere
        a = np.full((112, 112, 3), 30, dtype=np.uint8)
        x, y = rng.integers(0, 80, 2)
        a[y : y + 30, x : x + 30] = 220
        images.append(Image.fromarray(a))
    spec = TinySpec(
        **{**MICRO.__dict__, "max_tokens": 16, "min_tokens": 16},
    )
    spec = TinySpec(
        **{
            **spec.__dict__,
            "image_mean": 0.15,
            "image_std": 0.2,
            "patch_init": "blocks",
            "visual_norm_ratio": 1.0,
        }
    )
    folder = build_tiny(tmp_path / "informed", spec=spec, n_random=100, images=images)
    processor = AutoProcessor.from_pretrained(folder)
    assert processor.image_processor.image_mean == pytest.approx([0.15] * 3)
    model = Qwen2VLForConditionalGeneration.from_pretrained(folder)
    tokens = visual_tokens(model, processor, images)
    text = model.get_input_embeddings().weight.detach().norm(dim=-1).mean()
    mean = tokens.mean(0)
    spread = (tokens - mean).norm(dim=-1).mean()
    assert spread == pytest.approx(float(text), rel=0.05)  # scaled to the text embeddings
    assert float(mean.norm()) < 0.05 * float(spread)  # and zero-centred across tokens
    # the patch embedding's first channels are sub-block means
    w = model.model.visual.patch_embed.proj.weight
    assert torch.allclose(w[0].sum(), torch.tensor(1.0), atol=1e-5)
    assert float(w[0, :, :, 7:, :].abs().sum()) == 0.0
