"""Stage 1 of the from-scratch recipe: the vision tower alone on dense targets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("torchvision")

from scoring.records import AppliedItem, BoxedStructure, Record
from scoring.rubric import default_rubric
from tests.trainer.test_fit import MICRO_TINY, _log, _micro_config
from trainer.fit import ConfigError, load_config
from trainer.tower_pretrain import dense_targets, layout_for


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from trainer.tiny_qwen import toy_dataset

    return toy_dataset(tmp_path_factory.mktemp("toy"), 8, seed=0)


def _record() -> Record:
    return Record(
        image="x.png",
        width=224,
        height=112,
        planes=("RKL",),
        structures=(
            BoxedStructure("right_lobe", (0, 0, 112, 112)),  # the left half
            BoxedStructure("right_kidney", (168, 56, 224, 112)),  # bottom right quarter
        ),
        deductions=(AppliedItem("ATT.mild"),),
        score=8.0,
        grade="Excellent",
    )


@pytest.mark.slow
def test_the_head_follows_a_recalibrated_merger(toy, tmp_path):
    import torch
    from PIL import Image
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

    from trainer.tiny_qwen import TinySpec, build_tiny, calibrate_visual_tokens
    from trainer.tower_pretrain import DenseHead

    torch.manual_seed(0)
    base = build_tiny(tmp_path / "base", spec=TinySpec(**MICRO_TINY), n_random=50)
    processor = AutoProcessor.from_pretrained(base)
    model = Qwen2VLForConditionalGeneration.from_pretrained(base)
    head = DenseHead(model, default_rubric())
    torch.nn.init.normal_(head.linear.weight)
    images = [Image.open(p).convert("RGB") for p in sorted((toy / "images").glob("*.png"))[:4]]
    pix = processor.image_processor(images=images, return_tensors="pt")
    with torch.no_grad():
        before = head.logits(pix["pixel_values"], pix["image_grid_thw"])
        last = model.model.visual.merger.mlp[-1]
        old = last.bias.clone()
        scale = calibrate_visual_tokens(model, processor, images, 0.5)
        head.follow_calibration(old, last.bias, scale)
        after = head.logits(pix["pixel_values"], pix["image_grid_thw"])
    assert scale != pytest.approx(1.0)
    for name in before:
        assert torch.allclose(before[name], after[name], atol=1e-3), name
    head.remove()


def test_the_attention_readout_starts_as_the_mean_and_then_weighs_the_tokens(toy, tmp_path):
    import torch
    from PIL import Image
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

    from trainer.tiny_qwen import TinySpec, build_tiny
    from trainer.tower_pretrain import DenseHead

    base = build_tiny(tmp_path / "base", spec=TinySpec(**MICRO_TINY), n_random=50)
    processor = AutoProcessor.from_pretrained(base)
    model = Qwen2VLForConditionalGeneration.from_pretrained(base)
    mean = DenseHead(model, default_rubric())
    torch.nn.init.normal_(mean.linear.weight)
    mean.remove()
    attention = DenseHead(model, default_rubric(), readout="attention")
    attention.linear.load_state_dict(mean.linear.state_dict())
    images = [Image.open(p).convert("RGB") for p in sorted((toy / "images").glob("*.png"))[:3]]
    pix = processor.image_processor(images=images, return_tensors="pt")
    with torch.no_grad():
        a = attention.logits(pix["pixel_values"], pix["image_grid_thw"])
        mean._hook = model.model.visual.merger.register_forward_hook(mean._keep)
        m = mean.logits(pix["pixel_values"], pix["image_grid_thw"])
        for name in m:  # zero queries: uniform weights, the mean
            assert torch.allclose(a[name], m[name], atol=1e-5), name
        torch.nn.init.normal_(attention.pool.weight)
        b = attention.logits(pix["pixel_values"], pix["image_grid_thw"])
    assert not torch.allclose(a["planes"], b["planes"])
    assert {n for n, _ in attention.head.named_parameters()} == {
        "linear.weight",
        "linear.bias",
        "pool.weight",
    }
    with pytest.raises(ValueError, match="readout"):
        DenseHead(model, default_rubric(), readout="max")


def test_targets_mark_the_cells_inside_each_box_and_the_image_labels():
    """A 224 x 112 image is read on its 224 px square (scoring.model_input: at the top, black
    below), an 8 x 8 grid of merged tokens: its boxes and cells are the square's."""
    layout = layout_for(default_rubric())
    t = dense_targets([_record()], [(8, 8)], layout)
    lobe, kidney = layout.structures.index("right_lobe"), layout.structures.index("right_kidney")
    inside = t["inside"].reshape(8, 8, -1)
    assert inside[:4, :4, lobe].all() and inside[:, :, lobe].sum() == 16
    assert inside[2:4, 6:, kidney].all() and inside[:, :, kidney].sum() == 4
    assert inside.sum() == 16 + 4  # no other structure anywhere, nothing on the black half
    assert t["planes"].shape == (1, len(layout.planes))
    assert t["planes"][0].nonzero().flatten().tolist() == [layout.planes.index("RKL")]
    assert t["items"][0].nonzero().flatten().tolist() == [layout.items.index("ATT.mild")]
    assert t["present"][0].sum() == 2
    boxes = t["boxes"].reshape(-1, 4)
    assert boxes[lobe].tolist() == [0.0, 0.0, 0.5, 0.5]
    assert boxes[kidney].tolist() == [0.75, 0.25, 1.0, 0.5]
    assert t["mask"][0].sum() == 8  # four coordinates for each shown structure


@pytest.mark.slow
def test_the_stage_lowers_its_loss_and_leaves_the_language_model_alone(toy, tmp_path):
    import torch
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

    from trainer.data import load_records
    from trainer.tiny_qwen import TinySpec, build_tiny
    from trainer.tower_pretrain import DenseHead, ImageBatches, evaluate_head, pretrain_vision

    torch.manual_seed(0)
    base = build_tiny(tmp_path / "base", spec=TinySpec(**MICRO_TINY), n_random=50)
    processor = AutoProcessor.from_pretrained(base)
    model = Qwen2VLForConditionalGeneration.from_pretrained(base)
    language = {n: p.detach().clone() for n, p in model.model.language_model.named_parameters()}
    visual = {n: p.detach().clone() for n, p in model.model.visual.named_parameters()}
    records = load_records(toy / "train.jsonl", default_rubric())
    head = DenseHead(model, default_rubric())
    seen: list[dict] = []
    result = pretrain_vision(
        head, ImageBatches(processor, records, toy), minutes=0, max_steps=40, batch_size=4,
        seed=0, log=seen.append,
    )  # fmt: skip
    assert result.steps == 40 and [e["step"] for e in seen] == list(range(1, 41))
    first = sum(e["loss"] for e in seen[:5]) / 5
    last = sum(e["loss"] for e in seen[-5:]) / 5
    assert last < 0.85 * first
    for n, p in model.model.language_model.named_parameters():
        assert torch.equal(p, language[n]), n
    assert any(not torch.equal(p, visual[n]) for n, p in model.model.visual.named_parameters())
    scores = evaluate_head(head, ImageBatches(processor, records, toy))
    assert 0.0 <= scores["plane_top1"] <= 1.0 and 0.0 <= scores["box_iou_mean"] <= 1.0
    head.remove()
    assert not model.model.visual.merger._forward_hooks


@pytest.mark.slow
def test_fit_runs_stage_one_first_and_a_resumed_run_does_not_redo_it(toy, tmp_path):
    from trainer.fit import fit

    settings = {
        "max_steps": 4,
        "save_every": 2,
        "vision_stage_steps": 6,
        "vision_stage_batch": 4,
        "aux_dense_weight": 0.5,
    }
    fit(load_config(_micro_config(tmp_path, toy, out="whole", **settings)))
    cfg = _micro_config(tmp_path, toy, out="staged", **settings)
    fit(load_config(cfg, ["stop_at=2"]))
    run = tmp_path / "staged"
    log = _log(run)
    assert [e.get("stage") for e in log[:6]] == ["vision"] * 6
    assert [e["step"] for e in log[6:]] == [1, 2] and "stage" not in log[6]
    assert json.loads((run / "vision_stage.json").read_text())["steps"] == 6
    fit(load_config(cfg))
    log = _log(run)
    assert sum(e.get("stage") == "vision" for e in log) == 6  # not run again
    answer = [e for e in log if "stage" not in e]
    assert [e["step"] for e in answer] == [1, 2, 3, 4]
    assert all(e["aux_dense_loss"] > 0 for e in answer)
    # the dense head is saved with the training state: the resumed run matches an unbroken one
    whole = [e for e in _log(tmp_path / "whole") if "stage" not in e]
    for a, b in zip(whole, answer, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-4)
        assert a["aux_dense_loss"] == pytest.approx(b["aux_dense_loss"], abs=1e-4)
    assert (run / "final" / "model.safetensors").is_file()


@pytest.mark.slow
def test_stage_one_is_measured_on_records_it_did_not_train_on(tmp_path):
    from trainer.fit import VISION_HOLDOUT, fit
    from trainer.tiny_qwen import toy_dataset

    data = toy_dataset(tmp_path / "toy40", 40, seed=1)
    cfg = _micro_config(
        tmp_path, data, out="held", max_steps=1, vision_stage_steps=3, vision_stage_batch=4
    )
    fit(load_config(cfg))
    summary = json.loads((tmp_path / "held" / "vision_stage.json").read_text())
    assert summary["heldout"]["images"] == min(VISION_HOLDOUT, 40 // 10) == 4
    assert 0 <= summary["heldout"]["plane_top1"] <= 1


@pytest.mark.parametrize(
    "override, message",
    [
        ("vision_stage_min=-1", "vision_stage_min"),
        ("vision_stage_steps=0", "vision_stage_steps"),
        ("vision_stage_batch=0", "vision_stage_batch"),
        ("vision_stage_lr=0", "vision_stage_lr"),
        ("aux_dense_weight=-1", "aux_dense_weight"),
        ("aux_dense_weight=1", "needs a vision tower that trains"),  # the demo's is frozen
    ],
)
def test_bad_stage_settings_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Path("trainer/configs/demo_tiny.yaml"), [override])


def test_stage_one_needs_full_training():
    with pytest.raises(ConfigError, match="mode must be full"):
        load_config(Path("trainer/configs/paper_lora_2b.yaml"), ["vision_stage_steps=5"])
