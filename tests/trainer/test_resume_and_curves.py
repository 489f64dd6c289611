"""A run cut short goes on where it stopped (stage 1 and the baselines), and the learning curve
is written while training (issue 10)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")
pytest.importorskip("torchvision")

from scoring.rubric import default_rubric
from tests.trainer.test_fit import MICRO_TINY, _micro_config


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from trainer.tiny_qwen import toy_dataset

    return toy_dataset(tmp_path_factory.mktemp("toy"), 8, seed=0)


class Cut(Exception):
    """Stands for the machine stopping mid-run."""


@pytest.mark.slow
def test_stage_1_cut_short_resumes_at_its_saved_step_with_the_saved_weights(toy, tmp_path):
    import torch
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

    from trainer.data import load_records
    from trainer.tiny_qwen import TinySpec, build_tiny
    from trainer.tower_pretrain import DenseHead, ImageBatches, pretrain_vision

    torch.manual_seed(0)
    base = build_tiny(tmp_path / "base", spec=TinySpec(**MICRO_TINY), n_random=50)
    processor = AutoProcessor.from_pretrained(base)
    records = load_records(toy / "train.jsonl", default_rubric())
    state = tmp_path / "vision_state.pt"

    def stage(log, steps):
        model = Qwen2VLForConditionalGeneration.from_pretrained(base)
        head = DenseHead(model, default_rubric())
        pretrain_vision(
            head, ImageBatches(processor, records, toy), minutes=0, max_steps=steps,
            batch_size=2, seed=0, log=log, state_path=state, save_every_s=0.0,
        )  # fmt: skip
        return model

    first: list[int] = []

    def cut_at_3(entry):
        first.append(entry["step"])
        if entry["step"] == 3:
            raise Cut

    with pytest.raises(Cut):
        stage(cut_at_3, 5)
    saved = torch.load(state, weights_only=False)
    assert saved["step"] == 2 and first == [1, 2, 3]  # saved before step 3 began
    again: list[int] = []
    model = stage(lambda e: again.append(e["step"]), 5)
    assert again == [3, 4, 5]  # steps 1 and 2 are not redone
    assert not state.exists()  # a finished stage leaves no state behind
    assert any(p.abs().sum() > 0 for p in model.model.visual.parameters())


@pytest.mark.slow
def test_fit_writes_both_stages_learning_curves_measured_on_the_curve_data(toy, tmp_path):
    from trainer.fit import fit, load_config

    cfg = _micro_config(
        tmp_path, toy, max_steps=3, vision_stage_steps=3, vision_stage_batch=2,
        curve_data=str(toy / "annotations.jsonl"), curve_images=3, curve_every_min=0.0001,
    )  # fmt: skip
    config = load_config(cfg)
    final = fit(config)
    points = [json.loads(x) for x in (final.parent / "curve.jsonl").read_text().splitlines()]
    vision = [p for p in points if p["stage"] == "vision"]
    answer = [p for p in points if p["stage"] == "answer"]
    assert vision and answer
    assert {"plane_top1", "box_iou_50", "images_seen", "elapsed_s"} <= set(vision[-1])
    assert {"plane_accuracy", "detection_f1", "grade_accuracy"} <= set(answer[-1])
    assert (
        answer[-1]["step"] == 3
        and answer[-1]["images_seen"] == 3 * config.batch_size * config.grad_accum
    )
    assert all(0.0 <= p["plane_accuracy"] <= 1.0 for p in answer)


def test_the_baseline_loop_resumes_from_its_state_and_keeps_one_curve(tmp_path):
    import torch

    from trainer.baselines.common import STATE_FILE, TrainSettings, train_timed

    torch.manual_seed(0)
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    models = [torch.nn.Linear(3, 1)]
    seen: list[tuple[list[int], torch.Tensor]] = []

    def step(idx):
        seen.append((idx, models[-1].weight.detach().clone()))
        if len(seen) == 4:
            raise Cut
        return torch.nn.functional.mse_loss(models[-1](x[idx]), y[idx])

    settings = TrainSettings(batch_size=4, max_steps=6, save_every_min=0.0, curve_every_min=0.0)
    probe = lambda: {"plane_accuracy": 0.5}  # noqa: E731
    quiet = lambda _m: None  # noqa: E731
    with pytest.raises(Cut):
        train_timed("toy", models[0], step, 16, settings, tmp_path, probe, log=quiet)
    saved = torch.load(tmp_path / STATE_FILE, weights_only=False)
    assert saved["step"] == 3
    models.append(torch.nn.Linear(3, 1))  # a new process: fresh random weights
    summary = train_timed("toy", models[1], step, 16, settings, tmp_path, probe, log=quiet)
    assert summary["steps"] == 6 and len(seen) == 4 + 3  # the cut step, then steps 4, 5, 6
    assert torch.equal(seen[4][1], saved["model"]["weight"])  # went on from the saved weights
    assert seen[4][0] == seen[3][0]  # and with the batch the cut step never finished
    steps = [json.loads(x)["step"] for x in (tmp_path / "curve.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 6
    assert not (tmp_path / STATE_FILE).exists()
