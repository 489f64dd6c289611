"""CNN baselines beside the VLM, trained on the same phantoms within a CPU budget and measured
by the same metrics: ``python -m trainer baselines --config trainer/configs/baselines.yaml``.

- ``classifier``: a plain 8-convolution CNN from scratch naming the plane and the deduction
  items (hence score and grade by the rubric), see :mod:`trainer.baselines.classifier`;
- ``detector``: torchvision's FCOS from scratch on a small CNN backbone with an FPN, drawing the
  key structures' boxes, see :mod:`trainer.baselines.detector`.

Each writes ``<out>/<model>/``: ``curve.jsonl`` (held-out figures against steps, images seen and
wall time), ``summary.json``, ``model.pt`` and, with ``test_data``, ``predictions.jsonl`` in
the annotation format, which ``python -m trainer evaluate --baseline NAME=FILE`` puts in the
report as a column. A run cut short resumes from its saved state.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from trainer import config as config_io

from .common import BaselineConfig, TrainSettings

__all__ = ["BaselineConfig", "TrainSettings", "load_config", "run_all"]


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> BaselineConfig:
    """The YAML config, with ``key=value`` / ``section.key=value`` overrides (YAML values),
    validated as the training config is (trainer.config)."""
    return config_io.validate(BaselineConfig, config_io.read(path, overrides))


def run_all(config: BaselineConfig) -> dict:
    import torch

    from scoring.rubric import default_rubric
    from trainer.data import load_records

    from .classifier import run_classifier
    from .detector import run_detector

    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    rubric = default_rubric()
    train = load_records(Path(config.data) / config.train_split, rubric)[: config.limit]
    curve = load_records(Path(config.curve_data), rubric)[: config.curve_images]
    runners = {"classifier": run_classifier, "detector": run_detector}
    summaries = {}
    for name in config.models:
        summaries[name] = runners[name](config, rubric, train, curve)
        out = Path(config.out) / "summary.json"
        out.write_text(json.dumps(summaries, indent=1), encoding="utf-8")
    return summaries


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Train and predict with the CNN baselines (see trainer/baselines)."
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the config")


def run(args: argparse.Namespace) -> int:
    summaries = run_all(load_config(args.config, args.overrides))
    print(json.dumps(summaries, indent=1))
    return 0
