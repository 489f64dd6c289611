"""What a fit holds between its phases (:class:`Run`), and its saved training state: the
accelerator's state (model, optimizer, RNGs) and where the run stood, which a run started again
with the same ``out`` resumes from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scoring.rubric import Rubric
from trainer.fit.answers import append, probe_answers
from trainer.fit.settings import CURVE_FILE, FitConfig


@dataclass
class Run:
    """What a fit holds between its phases (setup -> train -> save, as a torchtune recipe)."""

    config: FitConfig
    accelerator: Any
    clock: Any
    rubric: Rubric
    out: Path
    data_dir: Path
    records: list
    base: Path
    processor: Any
    model: Any
    head: Any
    collate: Any
    params: list
    optimizer: Any
    world: int
    rank: int
    total: int
    state_dir: Path
    step: int = 0  # optimizer steps done
    spent: float = 0.0  # training seconds spent in earlier sessions
    started: float = 0.0
    finished: bool = False
    images: Any = None  # a pool feeding stage 2 (trainer.pool), or None: image files
    curve: list = field(default_factory=list)  # the learning curve's records
    curve_images: list = field(default_factory=list)  # and their images (PIL)
    curve_every: float = 0.0
    bar: Any = None

    def curve_point(self) -> None:
        """Stage 2's learning-curve point for the model as it is now (see probe_answers)."""
        config, accelerator = self.config, self.accelerator
        figures = probe_answers(
            accelerator.unwrap_model(self.model),
            self.processor,
            config,
            self.rubric,
            self.curve,
            self.curve_images,
        )
        entry = {"stage": "answer", "curve": True, "step": self.step}
        per_step = config.batch_size * config.grad_accum * self.world
        entry |= {"images_seen": self.step * per_step}
        entry |= figures | {"elapsed_s": round(self.clock() - self.started, 2)}
        append(self.out / CURVE_FILE, entry)
        accelerator.print(f"answer stage curve: {json.dumps(entry)}")


def keep_trainable_only(accelerator) -> None:
    """The saved state of a run whose base is frozen (LoRA) holds the trainable weights only:
    the adapter (and any module trained whole), beside the optimizer, the RNGs and the step;
    never the base model, which the run rebuilds from its folder. A resumed run loads them
    over that base, so it goes on exactly as an unbroken run would. (For the paper's 2B recipe
    this is the difference between about 4.5 GB and the adapter's size per save.)"""

    def on_save(models, weights, _output_dir) -> None:
        for i, model in enumerate(models):
            trainable = {n for n, p in model.named_parameters() if p.requires_grad}
            weights[i] = {k: v for k, v in weights[i].items() if k in trainable}

    def on_load(models, input_dir) -> None:
        from safetensors.torch import load_file

        for i, model in enumerate(list(models)):
            name = "model.safetensors" if i == 0 else f"model_{i}.safetensors"
            saved = load_file(str(Path(input_dir) / name))
            trainable = {n for n, p in model.named_parameters() if p.requires_grad}
            missing = trainable - saved.keys()
            if missing or saved.keys() - trainable:
                raise RuntimeError(
                    f"{input_dir}: the saved trainable weights do not match this run's "
                    f"({len(missing)} missing, {len(saved.keys() - trainable)} unexpected)"
                )
            model.load_state_dict(saved, strict=False)
            models.remove(model)  # loaded here: accelerate must not load it again

    accelerator.register_save_state_pre_hook(on_save)
    accelerator.register_load_state_pre_hook(on_load)


def save_state(accelerator, state_dir: Path, step: int, elapsed: float) -> None:
    accelerator.save_state(str(state_dir))
    if accelerator.is_main_process:
        progress = {"step": step, "elapsed_s": round(elapsed, 2)}
        (state_dir / "progress.json").write_text(json.dumps(progress))


def load_progress(state_dir: Path) -> tuple[int, float] | None:
    """(step, training seconds spent) of a saved state, or None when there is none."""
    path = state_dir / "progress.json"
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    return saved["step"], saved.get("elapsed_s", 0.0)
