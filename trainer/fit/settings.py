"""A fit's settings: :class:`FitConfig`, read from one YAML file with ``key=value`` overrides
and validated (pydantic, errors naming the key: :mod:`trainer.config`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from scoring.prompt import Detail
from trainer import config as config_io
from trainer.config import FORBID_UNKNOWN, ConfigError
from trainer.tiny_qwen import TinySpec

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
VISION_LORA_TARGETS = ("qkv", "proj", "fc1", "fc2")  # Qwen2-VL vision blocks' linear layers
STATE_DIR, FINAL_DIR, LOG_FILE, CONFIG_FILE = "state", "final", "log.jsonl", "config.yaml"
CURVE_FILE, VISION_STATE = "curve.jsonl", "vision_state.pt"
VISION_HOLDOUT = 300  # records kept out of stage 1 to measure it


@dataclass
class LoraSettings:
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    bias: Literal["none", "all", "lora_only"] = "none"
    targets: list[str] = field(default_factory=lambda: list(LORA_TARGETS))


@dataclass
class FitConfig:
    model: str  # checkpoint folder, or "tiny": build a fresh tiny Qwen2-VL first
    # folder holding the split files and the images they name, or a phantom pool
    # (trainer.pool: its records and its images as the processor resizes them)
    data: str
    out: str  # run folder
    mode: Literal["lora", "full"] = "lora"
    vision: Literal["frozen", "lora", "full"] = "lora"  # how the vision tower trains
    lora: LoraSettings = field(default_factory=LoraSettings)
    tiny: TinySpec = field(default_factory=TinySpec)  # its prompt_detail follows prompt_detail
    train_split: str = "train.jsonl"
    limit: int | None = None  # use only the first N training records
    prompt_detail: Detail = "full"
    max_pixels: int | None = None  # None: the checkpoint's processor setting
    epochs: float = 1.0
    max_steps: int | None = None  # optimizer steps; overrides epochs
    batch_size: int = 1  # per device
    grad_accum: int = 1
    lr: float = 4e-5
    # the first N optimizer steps label only the answer's first ``warmup_lines`` lines
    plane_warmup_steps: int = 0
    warmup_lines: int = 2
    vision_lr_mult: float = 1.0
    # Stage 2 keeps stage 1's dense loss (trainer.tower_pretrain) on the vision tower, with this
    # weight, so what it learnt there is kept while the answer's loss reaches it. With no stage 1
    # the head starts from zero. The head is discarded after training.
    aux_dense_weight: float = 0.0
    # Stage 1 (trainer.tower_pretrain): before the answer training, the vision tower and merger
    # train alone for this many minutes (or ``vision_stage_steps`` steps) on dense per-token
    # targets (planes, structure cells and boxes, items) through a discarded linear head.
    # 0 and None: no stage 1. It does not count against ``time_budget_min``.
    vision_stage_min: float = 0.0
    vision_stage_steps: int | None = None
    vision_stage_batch: int = 32
    vision_stage_lr: float = 1e-3
    # stage 1 also predicts, per visual token, where each structure is displayed (the pool's
    # structure maps; data must be a pool)
    vision_stage_maps: bool = False
    # how stage 1 reads an image's plane, structures and items from its tokens: their "mean",
    # or an "attention" weighted mean per part (trainer.tower_pretrain.DenseHead)
    vision_stage_readout: Literal["mean", "attention"] = "mean"
    min_lr_ratio: float = 0.1  # cosine decay to lr * min_lr_ratio
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    dtype: Literal["bf16", "fp16", "fp32"] = "bf16"
    gradient_checkpointing: bool = False
    seed: int = 0
    save_every: int = 500
    stop_at: int | None = None  # end this session after this step; a rerun resumes
    # A wall-clock budget: the cosine schedule runs on max(step / steps, time / budget), so the
    # learning rate anneals fully and training ends on time however fast the machine is.
    time_budget_min: float | None = None
    log_every: int = 1
    torch_threads: int | None = None
    # what the budgets run on: "wall" seconds, or "cpu": the process's CPU seconds per thread,
    # so that a shared machine still gives the recipe its compute (see trainer.clock)
    clock: Literal["wall", "cpu"] = "wall"
    progress: bool = True
    # After saving: fit the abstention statistics (scoring.ood) of the final checkpoint on this
    # many fresh phantoms passed through intake, stored beside it. 0: skip (a checkpoint
    # without them never abstains; `python -m trainer ood fit` adds them later).
    ood_reference: int = 2000
    # Learning curves (curve.jsonl in the run folder): every ``curve_every_min`` minutes of each
    # stage, the model is measured on the first ``curve_images`` records of ``curve_data`` (an
    # annotation JSONL never trained on; default for stage 1: its held-out records). Stage 1:
    # the dense head's plane top-1 and box hits; stage 2: the answers' plane label accuracy and
    # detection F1, generated as the engine would. 0: no curve.
    curve_data: str | None = None
    curve_every_min: float = 0.0
    curve_images: int = 200

    def __post_init__(self) -> None:
        def need(ok: bool, key: str, what: str) -> None:
            if not ok:
                raise ConfigError(f"{key}: {what}")

        need(bool(self.model), "model", "a checkpoint folder or 'tiny' is required")
        need(bool(self.data) and bool(self.out), "data/out", "both are required")
        need(self.mode in ("lora", "full"), "mode", "must be 'lora' or 'full'")
        need(self.vision in ("frozen", "lora", "full"), "vision", "frozen, lora or full")
        need(
            self.prompt_detail in ("full", "compact", "brief"),
            "prompt_detail",
            "full, compact or brief",
        )
        need(self.dtype in ("bf16", "fp16", "fp32"), "dtype", "bf16, fp16 or fp32")
        need(self.lora.bias in ("none", "all", "lora_only"), "lora.bias", "none/all/lora_only")
        need(self.lora.rank > 0 and self.lora.alpha > 0, "lora", "rank and alpha must be > 0")
        need(0 <= self.lora.dropout < 1, "lora.dropout", "must be in [0, 1)")
        need(bool(self.lora.targets), "lora.targets", "at least one module name")
        need(self.epochs > 0, "epochs", "must be > 0")
        need(self.max_steps is None or self.max_steps > 0, "max_steps", "must be > 0")
        need(self.batch_size > 0 and self.grad_accum > 0, "batch_size", "and grad_accum > 0")
        need(self.vision_lr_mult > 0, "vision_lr_mult", "must be > 0")
        need(self.aux_dense_weight >= 0, "aux_dense_weight", "must be >= 0")
        need(
            self.aux_dense_weight == 0 or self.vision != "frozen",
            "aux_dense_weight",
            "needs a vision tower that trains (vision: full or lora)",
        )
        need(self.plane_warmup_steps >= 0, "plane_warmup_steps", "must be >= 0")
        need(
            self.ood_reference == 0 or self.ood_reference >= 20,
            "ood_reference",
            "0 (skip) or at least 20 reference images",
        )
        need(self.vision_stage_min >= 0, "vision_stage_min", "must be >= 0")
        need(
            self.vision_stage_steps is None or self.vision_stage_steps > 0,
            "vision_stage_steps",
            "must be > 0",
        )
        need(self.vision_stage_batch > 0, "vision_stage_batch", "must be > 0")
        need(self.curve_every_min >= 0, "curve_every_min", "must be >= 0")
        need(self.clock in ("wall", "cpu"), "clock", "'wall' or 'cpu'")
        need(self.curve_images > 0, "curve_images", "must be > 0")
        need(self.vision_stage_lr > 0, "vision_stage_lr", "must be > 0")
        need(
            not self.vision_stage or self.mode == "full",
            "vision_stage_min",
            "stage 1 trains the whole vision tower: mode must be full",
        )
        need(self.warmup_lines > 0, "warmup_lines", "must be > 0")
        need(self.lr > 0 and 0 <= self.min_lr_ratio <= 1, "lr", "lr > 0, min_lr_ratio in [0,1]")
        need(self.warmup_steps >= 0 and self.save_every > 0, "warmup_steps", "or save_every")
        need(self.max_pixels is None or self.max_pixels >= 28 * 28, "max_pixels", ">= 784")
        need(self.mode == "full" or self.model != "tiny", "mode", "a fresh tiny model needs full")

    @property
    def vision_stage(self) -> bool:
        return self.vision_stage_min > 0 or self.vision_stage_steps is not None

    @property
    def pool(self) -> bool:
        """Whether ``data`` is a phantom pool (:mod:`trainer.pool`)."""
        from trainer.pool import is_pool

        return is_pool(self.data)


for _cls in (LoraSettings, TinySpec, FitConfig):  # unknown keys are refused, at every level
    _cls.__pydantic_config__ = FORBID_UNKNOWN  # type: ignore[attr-defined]


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> FitConfig:
    """Read a YAML config, apply ``key=value`` overrides (values parsed as YAML), validate
    (trainer.config: pydantic, errors naming the key)."""
    return config_io.validate(FitConfig, config_io.read(path, overrides))


def config_to_dict(config: FitConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)
