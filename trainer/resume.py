"""The saved state of a resumable training loop (stage 1, the baselines): the modules' and the
optimizer's weights, the step, the budget spent, and where the sampling stood. Written to a
temporary file and renamed, so a run killed while saving keeps its previous state."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def save_state(
    path: Path,
    parts: Mapping[str, Any],
    *,
    step: int,
    elapsed_s: float,
    order: list[int],
    rng: random.Random,
) -> None:
    """``parts``: name -> anything with ``state_dict()`` (modules, optimizers)."""
    import torch

    state = {name: part.state_dict() for name, part in parts.items()}
    state |= {"step": step, "elapsed_s": elapsed_s, "order": list(order), "rng": rng.getstate()}
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_state(path: Path, parts: Mapping[str, Any], rng: random.Random) -> tuple[int, float, list]:
    """Restore ``parts`` and ``rng`` from ``path``; returns (step, elapsed_s, order)."""
    import torch

    saved = torch.load(path, map_location="cpu", weights_only=False)
    for name, part in parts.items():
        part.load_state_dict(saved[name])
    rng.setstate(saved["rng"])
    return saved["step"], saved["elapsed_s"], saved["order"]
