"""Engine.features from several threads at once on one model (the live view's thread pool,
issue 34): each call gets its own image's features. Its forward hooks once caught every
thread's pass, so two threads at once got each other's layers (vectors of the wrong length, or
the right length and wrong numbers)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from scoring.engine import Engine
from trainer.phantoms import generate

DEMO = Path(__file__).parents[2] / "models" / "demo"
pytestmark = [
    pytest.mark.ml,
    pytest.mark.slow,
    pytest.mark.skipif(not (DEMO / "model.safetensors").is_file(), reason="no models/demo"),
]


def test_threads_at_once_each_get_their_own_images_features():
    engine = Engine.load(DEMO, device="cpu")
    images = [generate(index=i, seed=9, size=112)[0].convert("RGB") for i in range(4)]
    alone = [engine.features([im])[0] for im in images]
    assert not np.allclose(alone[0], alone[1])
    wrong: list[object] = []

    def work(k: int) -> None:
        for r in range(12):
            i = (k + r) % len(images)
            try:
                got = engine.features([images[i]])[0]
            except ValueError as exc:
                wrong.append(exc)
                continue
            if got.shape != alone[i].shape or not np.allclose(got, alone[i], atol=1e-4):
                wrong.append(i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
