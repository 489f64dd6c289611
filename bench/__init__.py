"""Benchmarks, run by ``make bench`` (``python -m bench``).

Each bench is a module in :data:`BENCHES` with ``run(argv) -> dict``: it prints its own lines and
returns its figures, including ``ratios`` (name -> float) that ``python -m bench`` prints
together at the end. Add a bench by adding its module name here.
"""

from __future__ import annotations

BENCHES: list[str] = [
    "bench.engine",
    "bench.web",
    "bench.memory",  # the web process's memory after start, the first upload and a burst
    "bench.abstention",
    "bench.deid",
    "bench.intake",  # where intake's time goes, against the intake before issue 30
    "bench.clip",
    "bench.serve",  # the in-process engine against vLLM, 1/8/32 uploads at once
    "bench.live",  # live scanning: frames scored a second and frame-to-meter at 1/4/8 streams
    "bench.soak",  # several minutes: Redis restarted and a worker killed under load
]
