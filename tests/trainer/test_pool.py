"""Phantom pools: drawn once at the model's input size, read back as the processor would
prepare them, with structure maps for stage 1, and fed to both stages of a fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("torchvision")

from scoring.rubric import default_rubric
from tests.trainer.test_fit import MICRO_TINY, _micro_config
from trainer.phantoms.render import generate, generate_with_maps
from trainer.pool import Pool, pixel_values, resized, write_pool
from trainer.tiny_qwen import TOKEN_PIXELS
from trainer.tower_pretrain import token_maps

TOKENS = 16  # 112 x 112 px


def _processor():
    from transformers import Qwen2VLImageProcessor

    px = TOKENS * TOKEN_PIXELS
    return Qwen2VLImageProcessor(
        min_pixels=px, max_pixels=px, image_mean=[0.145] * 3, image_std=[0.21] * 3
    )


@pytest.fixture(scope="module")
def pool_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pool") / "p"
    px = TOKENS * TOKEN_PIXELS
    write_pool(out, 10, 3, min_pixels=px, max_pixels=px, workers=1, chunk=4, log=lambda _m: None)
    return out


def test_the_maps_are_each_structures_share_of_each_cell_and_change_nothing_else():
    img, record = generate(7, 5, 224)
    img2, record2, maps = generate_with_maps(7, 5, 224, 16)
    assert np.array_equal(np.asarray(img), np.asarray(img2)) and record == record2
    rubric = default_rubric()
    assert maps.shape == (len(rubric.structures), 16, 16)
    assert maps.min() >= 0.0 and maps.max() <= 1.0 + 1e-6
    ids = list(rubric.structures)
    for s in record["structures"]:  # each boxed structure covers cells inside its box only
        m = maps[ids.index(s["id"])]
        ys, xs = np.nonzero(m > 0)
        x1, y1, x2, y2 = s["box"]
        assert xs.min() == x1 // 14 and ys.min() == y1 // 14
        assert xs.max() == (x2 - 1) // 14 and ys.max() == (y2 - 1) // 14


def test_a_pool_holds_the_phantoms_as_the_processor_sees_them(pool_dir):
    processor = _processor()
    pool = Pool(pool_dir, processor)
    assert len(pool) == 10 and pool.images.shape == (10, 112, 112)
    # the records are the generator's, index for index
    for i in (0, 9):
        _img, record = generate(i, 3, 224)
        assert pool.records[i].to_dict()["planes"] == record["planes"]
        assert pool.records[i].image == record["image"]
    pixels, grid, records, maps = pool.batch([2, 5])
    images = [generate(i, 3, 224)[0].convert("RGB") for i in (2, 5)]
    ref = processor(images=images, return_tensors="pt")
    assert grid.tolist() == ref["image_grid_thw"].tolist() == [[1, 8, 8]] * 2
    levels = (pixels - ref["pixel_values"]).abs() * 0.21 * 255  # in grey levels
    # torchvision's uint8 resize rounds RGB channels a little differently: the pool keeps one
    assert levels.max() <= 6 and (levels > 0.5).float().mean() < 0.01
    assert maps.shape == (2, len(default_rubric().structures), 16, 16)
    assert [r.image for r in records] == [pool.records[2].image, pool.records[5].image]


def test_pixel_values_patchify_as_the_processor_does():
    import torch

    processor = _processor()
    grey = torch.randint(0, 256, (3, 112, 112), dtype=torch.uint8)
    from PIL import Image

    images = [Image.fromarray(g.numpy()).convert("RGB") for g in grey]
    ref = processor(images=images, return_tensors="pt")  # 112 px in: the resize is exact
    ours, grid = pixel_values(processor, grey)
    assert torch.allclose(ours, ref["pixel_values"], atol=1e-5)
    assert torch.equal(grid, ref["image_grid_thw"])
    assert np.array_equal(resized(processor, images), grey.numpy())


def test_writing_again_resumes_and_another_seed_is_refused(pool_dir, tmp_path):
    px = TOKENS * TOKEN_PIXELS
    before = (pool_dir / "images.npy").stat().st_mtime_ns
    write_pool(pool_dir, 10, 3, min_pixels=px, max_pixels=px, workers=1, chunk=4)
    assert (pool_dir / "images.npy").stat().st_mtime_ns == before  # complete: nothing drawn
    with pytest.raises(ValueError, match="seed"):
        write_pool(pool_dir, 10, 4, min_pixels=px, max_pixels=px, workers=1, chunk=4)
    # a pool cut short keeps its chunks: only the missing ones are drawn again
    out = tmp_path / "cut"
    write_pool(out, 8, 3, min_pixels=px, max_pixels=px, workers=1, chunk=4)
    (out / "chunks" / "00001.jsonl").unlink()
    info = json.loads((out / "pool.json").read_text())
    (out / "pool.json").write_text(json.dumps(info | {"complete": False}))
    with pytest.raises(ValueError, match="not complete"):
        Pool(out, _processor())
    kept = (out / "chunks" / "00000.jsonl").stat().st_mtime_ns
    write_pool(out, 8, 3, min_pixels=px, max_pixels=px, workers=1, chunk=4)
    assert (out / "chunks" / "00000.jsonl").stat().st_mtime_ns == kept
    assert len(Pool(out, _processor())) == 8


def test_a_processor_of_another_size_is_refused(pool_dir):
    from transformers import Qwen2VLImageProcessor

    other = Qwen2VLImageProcessor(min_pixels=64 * TOKEN_PIXELS, max_pixels=64 * TOKEN_PIXELS)
    with pytest.raises(ValueError, match="112, 112"):
        Pool(pool_dir, other)


def test_token_maps_give_each_token_its_own_sub_cells_in_the_mergers_order():
    import torch

    maps = torch.zeros(1, 2, 4, 4)  # 2 structures, a 4x4 grid over 2x2 tokens: q = 2
    maps[0, 1, 3, 0] = 1.0  # structure 1, bottom-left cell: token (1, 0), its sub-cell (1, 0)
    t = token_maps(maps, [(2, 2)])
    assert t.shape == (4, 2 * 2 * 2)
    assert t.nonzero().tolist() == [[2, 4 + 2]]  # token 2 (row 1, col 0); structure 1, cell 2


def test_the_answer_batch_of_a_pool_is_the_processors(pool_dir, tmp_path):
    import torch
    from transformers import AutoProcessor

    from trainer.fit import AnswerCollator
    from trainer.tiny_qwen import TinySpec, build_tiny

    base = build_tiny(tmp_path / "b", spec=TinySpec(**MICRO_TINY | {"min_tokens": 16}), n_random=50)
    processor = AutoProcessor.from_pretrained(base)
    pool = Pool(pool_dir, processor.image_processor)
    collate = AnswerCollator(processor, default_rubric(), "brief", pool_dir)
    idx = [0, 3, 4]
    pixels, grid, records, _maps = pool.batch(idx)
    ours = collate(records, pixels=(pixels, grid))
    images = [generate(i, 3, 224)[0].convert("RGB") for i in idx]
    texts = collate.texts(records)
    processor.tokenizer.padding_side = "right"
    ref = processor(text=texts, images=images, padding=True, return_tensors="pt")
    for key in ("input_ids", "attention_mask", "mm_token_type_ids"):
        assert torch.equal(ours[key], ref[key]), key
    assert torch.equal(ours["image_grid_thw"], ref["image_grid_thw"])
    assert (ours["labels"] != -100).sum() > 0


@pytest.mark.slow
def test_a_fit_on_a_pool_runs_both_stages_with_the_maps(pool_dir, tmp_path):
    from trainer.fit import fit, load_config

    path = _micro_config(
        tmp_path,
        pool_dir,
        vision="frozen",
        prompt_detail="brief",
        tiny=MICRO_TINY | {"min_tokens": 16},
        vision_stage_steps=6,
        vision_stage_batch=4,
        vision_stage_maps=True,
        max_steps=4,
    )
    final = fit(load_config(path))
    assert (final / "model.safetensors").is_file()
    summary = json.loads((tmp_path / "run" / "vision_stage.json").read_text())
    assert summary["steps"] == 6 and summary["heldout"]["images"] == 1
    info = json.loads((final / "abvlmq.json").read_text())
    assert info["prompt_detail"] == "brief"


def test_structure_maps_need_a_pool(tmp_path):
    from trainer.fit import ConfigError, load_config, setup
    from trainer.tiny_qwen import toy_dataset

    toy = toy_dataset(tmp_path / "toy", 4)
    path = _micro_config(tmp_path, toy, vision_stage_steps=2, vision_stage_maps=True)
    with pytest.raises(ConfigError, match="pool"):
        setup(load_config(path))
