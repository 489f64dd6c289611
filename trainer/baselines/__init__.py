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

import yaml

from .common import BaselineConfig, TrainSettings

__all__ = ["BaselineConfig", "TrainSettings", "load_config", "run_all"]

MODELS = ("classifier", "detector")


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> BaselineConfig:
    """The YAML config, with ``key=value`` / ``section.key=value`` overrides (YAML values)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    for item in overrides:
        key, _, value = item.partition("=")
        *parents, last = key.split(".")
        node = data
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = yaml.safe_load(value)
    sections = {m: TrainSettings(**data.pop(m, {})) for m in MODELS if m in data}
    unknown = [m for m in data.get("models", []) if m not in MODELS]
    if unknown:
        raise ValueError(f"models: unknown baseline(s) {unknown}; known: {list(MODELS)}")
    config = BaselineConfig(**data)
    for name, settings in sections.items():
        setattr(config, name, settings)
    return config


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
