"""`python -m trainer live-head` on a copy of the demo model, with a handful of phantoms: it
writes the head and its figures beside the weights, and the head reads the model's features."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from scoring.live import LiveHead, LiveScorer
from trainer.__main__ import main
from trainer.phantoms import generate

DEMO = Path(__file__).parents[2] / "models" / "demo"
pytestmark = [pytest.mark.ml, pytest.mark.slow]


def test_live_head_writes_the_head_and_its_figures_beside_the_weights(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(DEMO, model, ignore=shutil.ignore_patterns("eval*", "live_head.*"))
    args = ["--train", "40", "--calibrate", "20", "--test", "8", "--negatives", "2"]
    assert main(["live-head", "--model", str(model), *args]) == 0
    info = json.loads((model / "live_head.json").read_text())
    assert info["phantoms"]["train"] == [40, 3401] and info["frame_side"] == 112
    fresh = info["fresh"]
    for column in ("fast_path_frames", "full_model_frames", "full_model_uploaded"):
        assert 0 <= fresh[column]["plane_top1"] <= 1
    assert set(info["not_a_known_plane"]) >= {"air", "text_screen", "other_organ"}
    head = LiveHead.load(model)
    assert head.calibration is not None and head.planes[-1] == "NS"
    scorer = LiveScorer.load(model)
    result = scorer.score(generate(index=0, seed=1, size=224)[0].convert("RGB"))
    assert sum(result.planes.values()) == pytest.approx(1, abs=1e-3)
    assert np.isfinite(result.score) and result.ood is not None
