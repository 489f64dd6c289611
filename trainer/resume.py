"""What a resumable training loop (stage 1, the baselines) needs: its saved state (the
modules' and the optimizer's weights, the step, the budget spent, where the sampling stood),
written to a temporary file and renamed so a run killed while saving keeps its previous
state; and a held-out measurement taken in eval mode between steps (:func:`measured`)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


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


def measured(module, probe: Callable[[], T]) -> T:
    """``probe()`` with ``module`` in eval mode and no gradients; its mode is restored after."""
    import torch

    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            return probe()
    finally:
        module.train(was_training)


def optimizer_step(optimizer, loss, params, max_grad_norm: float) -> float:
    """One plain optimizer step on ``loss`` (gradients clipped); returns the loss as a float."""
    import torch

    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()
    return float(loss.detach())
