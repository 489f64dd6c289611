"""A guard for the model (issues 30 and 31): intake must not silently change what the demo model
answers.

Sixty fresh phantoms at 512 px (a seed nobody tuned to) go to the committed demo model twice: as
drawn, and through ``load_scan`` as an upload. Since issue 31 the model reads every scan on its
square (scoring/model_input.py) and was trained on intake's crops, so the two paths agree; the
margins sit a few phantoms above today's gap, so a later change to intake (or a model) that
moves the answers apart fails here.

Measured with the model of issue 31 (60 phantoms of seed 515151): declined 0 as drawn, 1 after
intake; plane subset 73.3 % as drawn, 76.7 % after intake. Seed 626262: 0 and 2, 80.0 % and
80.0 %. (Before issue 31, with the model trained on phantoms as drawn: declined 2 and 14, plane
75.0 % and 55.0 %; seed 626262: 2 and 13, 76.7 % and 61.7 %.)
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("torchvision")

from scoring.engine import Engine
from scoring.imaging import load_scan
from trainer.phantoms import generate

DEMO = Path(__file__).parents[2] / "models" / "demo"
COUNT, SEED, SIZE = 60, 515151, 512
MAX_MORE_DECLINED = 0.10  # today 0.017 (1 of 60 more)
MAX_PLANE_DROP = 0.10  # today -0.033 (intake's path is the better one)


def _figures(engine: Engine, images, truths) -> tuple[float, float]:
    results = engine.assess(images, batch_size=30)  # 60 in two batches: 0.66x the time of 8s
    declined = sum(r.abstained for r in results)
    right = sum(
        (not r.abstained) and bool(r.planes) and set(r.planes) <= truth
        for r, truth in zip(results, truths, strict=True)
    )
    return declined / len(images), right / len(images)


@pytest.mark.slow
@pytest.mark.skipif(not (DEMO / "model.safetensors").is_file(), reason="models/demo not built")
def test_intake_moves_the_demo_models_answers_no_further_than_today():
    engine = Engine.load(DEMO, device="cpu")
    drawn, uploaded, truths = [], [], []
    for index in range(COUNT):
        img, rec = generate(index=index, seed=SEED, size=SIZE)
        rgb = img.convert("RGB")
        buf = BytesIO()
        rgb.save(buf, format="PNG")
        drawn.append(rgb)
        uploaded.append(load_scan(buf.getvalue()).image)
        truths.append(set(rec["planes"]))
    declined_drawn, plane_drawn = _figures(engine, drawn, truths)
    declined_intake, plane_intake = _figures(engine, uploaded, truths)
    figures = (declined_drawn, declined_intake, plane_drawn, plane_intake)
    assert declined_intake - declined_drawn <= MAX_MORE_DECLINED, figures
    assert plane_drawn - plane_intake <= MAX_PLANE_DROP, figures
