"""The clock a training budget runs on.

``wall``: seconds of wall time. ``cpu``: seconds of the process's CPU time divided by its
threads, i.e. wall seconds as if the process had its cores to itself. On a shared machine (tests
or another job on the same two cores) a ``cpu`` budget still buys the same CPU time, so a recipe
and its learning curve mean much the same thing wherever they ran; the run just takes longer.
Not quite the same: a crowded machine also does less per CPU second (measured: a stage-1 step
cost 0.63 CPU seconds per thread beside a test run, 0.36 alone), so figures from a busy
machine understate the recipe.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

Clock = Literal["wall", "cpu"]


def make_clock(kind: Clock = "wall", threads: int | None = None) -> Callable[[], float]:
    if kind == "wall":
        return time.monotonic
    if kind != "cpu":
        raise ValueError(f"clock: 'wall' or 'cpu', not {kind!r}")
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    n = max(1, int(threads))
    return lambda: time.process_time() / n
