"""Synthetic abdominal ultrasound phantoms with ground-truth boxes, planes and deductions.

    from trainer.phantoms import generate, generate_dataset
    img, record = generate(index=3, seed=0)            # PIL image + annotation record
    generate_dataset("var/phantoms", count=1000, seed=0, split=True)

Modules: ``geometry`` (probe sector, scan conversion), ``shapes`` (vectorised 2-D shapes),
``texture`` (tissues, speckle), ``scene`` and ``planes`` (anatomy templates), ``defects``
(rubric items and their rendering), ``chrome`` (screen text), ``render`` (one record),
``dataset`` (files, split, contact sheet, CLI).
"""

from .dataset import (
    add_arguments,
    benchmark,
    build_parser,
    contact_sheet,
    generate_dataset,
    main,
    run,
    showcase,
    split_records,
    summarize,
)
from .planes import DUAL_PAIRS
from .render import generate

__all__ = [
    "DUAL_PAIRS",
    "add_arguments",
    "benchmark",
    "build_parser",
    "contact_sheet",
    "generate",
    "generate_dataset",
    "main",
    "run",
    "showcase",
    "split_records",
    "summarize",
]
