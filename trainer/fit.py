"""Fine-tune Qwen2-VL on annotation records: LoRA adapters (the paper) or full fine-tuning.

    python -m trainer fit --config trainer/configs/paper_lora_2b.yaml [key=value ...]
    torchrun --nproc-per-node 4 -m trainer fit --config ...     # or: accelerate launch -m trainer

A run is a :class:`FitConfig` (validated dataclass) read from one YAML file, overridable with
``key=value`` (nested: ``lora.rank=8``); the resolved config is written to the run folder.
Recipe: setup -> train -> save -> cleanup. The loss covers the answer tokens only (and the
``<|im_end|>`` that ends them), never the prompt or the image. Every ``save_every`` optimizer
steps the full training state goes to ``<out>/state`` and a run started again with the same
``out`` resumes from it. Per-step loss and token accuracy go to ``<out>/log.jsonl``.
Distribution, mixed precision and gradient synchronisation come from ``accelerate``, so the same
code runs on one CPU, one GPU or under ``torchrun``/``accelerate launch``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from scoring.prompt import Detail, build_messages
from scoring.rubric import Rubric, default_rubric
from trainer import config as config_io
from trainer.clock import make_clock
from trainer.config import FORBID_UNKNOWN, ConfigError
from trainer.resume import measured
from trainer.tiny import TinySpec

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
    data: str  # folder holding the split files and the images they name
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
    # Stage 2 keeps stage 1's dense loss (trainer.vision_stage) on the vision tower, with this
    # weight, so what it learnt there is kept while the answer's loss reaches it. With no stage 1
    # the head starts from zero. The head is discarded after training.
    aux_dense_weight: float = 0.0
    # Stage 1 (trainer.vision_stage): before the answer training, the vision tower and merger
    # train alone for this many minutes (or ``vision_stage_steps`` steps) on dense per-token
    # targets (planes, structure cells and boxes, items) through a discarded linear head.
    # 0 and None: no stage 1. It does not count against ``time_budget_min``.
    vision_stage_min: float = 0.0
    vision_stage_steps: int | None = None
    vision_stage_batch: int = 32
    vision_stage_lr: float = 1e-3
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
        need(self.prompt_detail in ("full", "compact"), "prompt_detail", "full or compact")
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


for _cls in (LoraSettings, TinySpec, FitConfig):  # unknown keys are refused, at every level
    _cls.__pydantic_config__ = FORBID_UNKNOWN  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- config I/O


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> FitConfig:
    """Read a YAML config, apply ``key=value`` overrides (values parsed as YAML), validate
    (trainer.config: pydantic, errors naming the key)."""
    return config_io.validate(FitConfig, config_io.read(path, overrides))


def config_to_dict(config: FitConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


# --------------------------------------------------------------------------- data


class AnswerCollator:
    """Records -> a padded batch with ``labels`` on the answer tokens only."""

    def __init__(self, processor, rubric: Rubric, detail: Detail, root: Path) -> None:
        self.processor = processor
        self.rubric = rubric
        self.detail = detail
        self.root = root
        tok = processor.tokenizer
        self.im_start = tok.convert_tokens_to_ids("<|im_start|>")
        self.im_end = tok.convert_tokens_to_ids("<|im_end|>")
        self.header = len(tok("assistant\n", add_special_tokens=False)["input_ids"])
        self.newline = tok.convert_tokens_to_ids(tok.tokenize("\n"))
        # > 0: label only the answer's first ``lines`` lines (a warm-up stage whose every loss
        # token depends on the image: "Structures:" and the first structure and its box)
        self.lines = 0

    def texts_images(self, records):
        from PIL import Image

        from trainer.data import to_conversation

        texts, images = [], []
        for record in records:
            conv = to_conversation(record, self.root, self.rubric, self.detail)
            messages = build_messages(self.rubric, self.detail, answer=conv.answer)
            texts.append(self.processor.apply_chat_template(messages, tokenize=False))
            with Image.open(conv.image) as im:
                images.append(im.convert("RGB"))
        return texts, images

    def __call__(self, records):
        import torch

        texts, images = self.texts_images(records)
        self.processor.tokenizer.padding_side = "right"
        batch = self.processor(text=texts, images=images, padding=True, return_tensors="pt")
        ids = batch["input_ids"]  # (B, T)
        labels = torch.full_like(ids, -100)
        for b in range(ids.shape[0]):
            starts = (ids[b] == self.im_start).nonzero().flatten()
            begin = int(starts[-1]) + 1 + self.header  # after "<|im_start|>assistant\n"
            ends = (ids[b, begin:] == self.im_end).nonzero().flatten()
            end = begin + int(ends[0]) + 1 if len(ends) else ids.shape[1]
            if self.lines > 0 and len(self.newline) == 1:
                breaks = (ids[b, begin:end] == self.newline[0]).nonzero().flatten()
                if len(breaks) >= self.lines:
                    end = begin + int(breaks[self.lines - 1]) + 1
            labels[b, begin:end] = ids[b, begin:end]
        batch["labels"] = labels
        if self.lines > 0:  # nothing after the last label affects the loss: drop it
            keep = int((labels != -100).any(0).nonzero().max()) + 1
            width = ids.shape[1]
            for key, value in list(batch.items()):  # every per-token tensor
                if key != "pixel_values" and value.dim() == 2 and value.shape[1] == width:
                    batch[key] = value[:, :keep]
        return batch


# --------------------------------------------------------------------------- recipe


def _setup_model(config: FitConfig, out: Path, rubric: Rubric, records, accelerator):
    import torch
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

    base = Path(config.model)
    if config.model == "tiny":
        from scoring.records import record_to_answer
        from trainer.tiny import build_tiny

        base = out / "init"
        if accelerator.is_main_process and not (base / "config.json").is_file():
            spec = dataclasses.replace(config.tiny, prompt_detail=config.prompt_detail)
            answers = [record_to_answer(r, rubric) for r in records]
            images = [Path(config.data) / r.image for r in records[:64]]
            build_tiny(
                base, spec=spec, rubric=rubric, answers=answers, seed=config.seed, images=images
            )
        accelerator.wait_for_everyone()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[config.dtype]
    # Full fine-tuning keeps fp32 master weights (autocast does the bf16 maths); LoRA freezes the
    # base, which may then stay in the low-precision dtype to save memory.
    load_dtype = dtype if config.mode == "lora" else torch.float32
    processor = AutoProcessor.from_pretrained(base)
    if config.max_pixels:
        from scoring.engine import cap_pixels

        cap_pixels(processor, config.max_pixels)
    model = Qwen2VLForConditionalGeneration.from_pretrained(base, dtype=load_dtype)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    if config.mode == "lora":
        from peft import LoraConfig, get_peft_model

        text = "|".join(config.lora.targets)
        pattern = rf".*language_model\.layers\.\d+\.(self_attn|mlp)\.({text})"
        if config.vision == "lora":
            vis = "|".join(VISION_LORA_TARGETS)
            pattern = rf"({pattern}|.*visual\.blocks\.\d+\.(attn|mlp)\.({vis}))"
        lora = LoraConfig(
            r=config.lora.rank,
            lora_alpha=config.lora.alpha,
            lora_dropout=config.lora.dropout,
            bias=config.lora.bias,
            target_modules=pattern,
            modules_to_save=["visual"] if config.vision == "full" else None,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    elif config.vision == "frozen":
        for p in model.model.visual.parameters():
            p.requires_grad_(False)
    return base, processor, model


def _vision_stage(config: FitConfig, model, processor, records, rubric, accelerator, out, head):
    """Stage 1: the vision tower and merger alone on dense targets (trainer.vision_stage); then,
    for a fresh tiny model, the visual tokens are calibrated again to the text-embedding norm.
    The last ``VISION_HOLDOUT`` records (a tenth of a small set) are kept out of it and measure
    it (plane top-1, box IoU) in ``vision_stage.json``. Every process runs it on the same
    seeded batches; DDP then starts from rank 0's weights."""
    from trainer.tiny import calibrate_visual_tokens, sample_images
    from trainer.vision_stage import evaluate_head, pretrain_vision

    model.to(accelerator.device)
    visual = model.model.visual
    frozen = [p for p in visual.parameters() if not p.requires_grad]
    for p in frozen:
        p.requires_grad_(True)
    log_path = out / LOG_FILE
    every = max(1, config.log_every)

    def log(entry: dict[str, Any]) -> None:
        if not accelerator.is_main_process:
            return
        if entry.get("curve"):
            _append(out / CURVE_FILE, entry)
            accelerator.print(f"vision stage curve: {json.dumps(entry)}")
        elif entry["step"] % every == 0:
            _append(log_path, entry)
            if config.progress and entry["step"] % 50 == 0:
                accelerator.print(
                    f"vision stage: step {entry['step']} loss {entry['loss']:.4f} "
                    f"({entry['elapsed_s']:.0f} s)"
                )

    held = min(VISION_HOLDOUT, len(records) // 10)
    train, heldout = (records[:-held], records[-held:]) if held else (records, [])
    probe, probe_every = None, 60.0 * config.curve_every_min
    if probe_every:
        curve, curve_root = _curve_records(config, rubric, heldout)

        def probe() -> dict[str, Any]:
            return evaluate_head(head, processor, curve, curve_root, device=accelerator.device)

    try:
        result = pretrain_vision(
            head,
            processor,
            train,
            Path(config.data),
            minutes=config.vision_stage_min,
            max_steps=config.vision_stage_steps,
            batch_size=config.vision_stage_batch,
            lr=config.vision_stage_lr,
            seed=config.seed,
            device=accelerator.device,
            log=log,
            state_path=out / VISION_STATE if accelerator.is_main_process else None,
            probe=probe,
            probe_every_s=probe_every,
            clock=make_clock(config.clock, config.torch_threads),
        )
    finally:
        for p in frozen:
            p.requires_grad_(False)
    summary: dict[str, Any] = dataclasses.asdict(result)
    if heldout:
        visual.eval()
        summary["heldout"] = {"images": len(heldout)} | evaluate_head(
            head, processor, heldout, Path(config.data), device=accelerator.device
        )
        visual.train()
    if config.model == "tiny" and config.tiny.visual_norm_ratio is not None:
        pil = sample_images([Path(config.data) / r.image for r in records[:16]], config.seed)
        last = visual.merger.mlp[-1]
        old_bias = last.bias.detach().clone()
        scale = calibrate_visual_tokens(model, processor, pil, config.tiny.visual_norm_ratio)
        head.follow_calibration(old_bias, last.bias.detach(), scale)
    if accelerator.is_main_process:
        (out / "vision_stage.json").write_text(json.dumps(summary), encoding="utf-8")
    accelerator.print(f"vision stage: {json.dumps(summary)}")
    return result


def _append(path: Path, entry: Mapping[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def _curve_records(config: FitConfig, rubric: Rubric, fallback):
    """The records the learning curve measures, and the folder their images are in."""
    if config.curve_data is None:
        return list(fallback)[: config.curve_images], Path(config.data)
    from trainer.data import load_records

    path = Path(config.curve_data)
    return load_records(path, rubric)[: config.curve_images], path.parent


def _probe_answers(model, processor, config: FitConfig, rubric: Rubric, curve, root: Path):
    """Stage 2's learning-curve point: the answers the engine would give on ``curve``, scored
    by the evaluation's own metrics (plane label accuracy, detection precision/recall/F1)."""
    from PIL import Image

    from scoring.engine import Engine
    from scoring.records import record_from_assessment
    from trainer.evaluate import evaluate

    images = []
    for r in curve:
        with Image.open(root / r.image) as im:
            images.append(im.convert("RGB"))
    engine = Engine(
        model, processor, model_id="curve", rubric=rubric, prompt_detail=config.prompt_detail
    )
    # an answer runs to about 150 tokens; a young model's rambling is cut at 256
    answers = measured(model, lambda: engine.assess(images, batch_size=16, max_new_tokens=256))
    preds = [
        record_from_assessment(a, image=r.image, width=r.width, height=r.height)
        for a, r in zip(answers, curve, strict=True)
    ]
    report = evaluate(preds, [r.to_dict() for r in curve], rubric, n_boot=10)
    det, planes = report["detection"], report["planes"]
    return {
        "plane_accuracy": round(planes["label_accuracy"], 4),
        "detection_precision": round(det["precision"], 4),
        "detection_recall": round(det["recall"], 4),
        "detection_f1": round(det["f1"], 4),
        "grade_accuracy": round(report["grades"]["accuracy"], 4),
    }


def _lr_factor(config: FitConfig, step: int, progress: float) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine from 1 to ``min_lr_ratio``."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine


def _progress(config: FitConfig, step: int, total: int, elapsed: float) -> float:
    warm = config.warmup_steps
    by_steps = (step - warm) / max(1, total - warm) if step >= warm else 0.0
    if config.time_budget_min:
        return max(by_steps, elapsed / (60 * config.time_budget_min))
    return by_steps


def _loss_step(model, batch):
    """Mean cross-entropy over answer tokens, and (correct, count) for token accuracy."""
    import torch.nn.functional as F

    labels = batch.pop("labels")
    logits = model(**batch, use_cache=False).logits  # (B, T, V)
    logits, target = logits[:, :-1].float(), labels[:, 1:]  # predict token t+1 from t
    mask = target != -100
    loss = F.cross_entropy(logits[mask], target[mask])
    correct = (logits[mask].argmax(-1) == target[mask]).sum()
    return loss, correct, mask.sum()


def _order(n: int, epoch: int, seed: int, rank: int, world: int) -> list[int]:
    """This process's share of a seeded permutation of the data for ``epoch``."""
    idx = list(range(n))
    random.Random(seed * 100_003 + epoch).shuffle(idx)
    return idx[rank::world]


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
    curve: list = field(default_factory=list)
    curve_root: Path | None = None
    curve_every: float = 0.0
    bar: Any = None

    def curve_point(self) -> None:
        """Stage 2's learning-curve point for the model as it is now (see _probe_answers)."""
        config, accelerator = self.config, self.accelerator
        figures = _probe_answers(
            accelerator.unwrap_model(self.model),
            self.processor,
            config,
            self.rubric,
            self.curve,
            self.curve_root or self.data_dir,
        )
        entry = {"stage": "answer", "curve": True, "step": self.step}
        per_step = config.batch_size * config.grad_accum * self.world
        entry |= {"images_seen": self.step * per_step}
        entry |= figures | {"elapsed_s": round(self.clock() - self.started, 2)}
        _append(self.out / CURVE_FILE, entry)
        accelerator.print(f"answer stage curve: {json.dumps(entry)}")


def fit(config: FitConfig) -> Path:
    """Run the recipe: :func:`setup`, :func:`train`, :func:`save`. Returns the folder of the
    final checkpoint (full) or adapter (LoRA), or the state folder of a run stopped early on
    purpose (``stop_at``), which a rerun resumes."""
    run = setup(config)
    train(run)
    return save(run)


def setup(config: FitConfig) -> Run:
    """Build (or reload) the model, run stage 1 when asked, prepare the optimizer, and restore
    a saved state: everything before the first answer step."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from trainer.data import load_records

    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    clock = make_clock(config.clock, config.torch_threads)
    mp = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}[config.dtype]
    accelerator = Accelerator(mixed_precision=mp, cpu=not torch.cuda.is_available())
    set_seed(config.seed)
    rubric = default_rubric()
    out = Path(config.out)
    data_dir = Path(config.data)
    records = load_records(data_dir / config.train_split, rubric)[: config.limit]
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(
            yaml.safe_dump(config_to_dict(config), sort_keys=False), encoding="utf-8"
        )

    base, processor, model = _setup_model(config, out, rubric, records, accelerator)
    state_dir = out / STATE_DIR
    resuming = (state_dir / "progress.json").is_file()
    staged, head = False, None
    if config.vision_stage or config.aux_dense_weight > 0:
        from trainer.vision_stage import DenseHead

        head = DenseHead(model, rubric)
        head.head.to(accelerator.device)
    if config.vision_stage and not resuming:  # a resumed run has stage 1 in its saved weights
        _vision_stage(config, model, processor, records, rubric, accelerator, out, head)
        staged = True
    if head is not None and config.aux_dense_weight == 0:
        head.remove()
        head = None
    collate = AnswerCollator(processor, rubric, config.prompt_detail, data_dir)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    vision = [p for n, p in named if ".visual." in f".{n}"]
    others = [p for n, p in named if ".visual." not in f".{n}"]
    groups = [{"params": others, "lr_mult": 1.0}]
    if vision:
        groups.append({"params": vision, "lr_mult": config.vision_lr_mult})
    if head is not None:  # the dense head learns at the vision tower's rate
        groups.append({"params": list(head.head.parameters()), "lr_mult": config.vision_lr_mult})
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    world, rank = accelerator.num_processes, accelerator.process_index
    per_epoch = max(1, len(records) // (config.batch_size * world * config.grad_accum))
    total = config.max_steps or max(1, math.ceil(per_epoch * config.epochs))
    model, optimizer = accelerator.prepare(model, optimizer)
    if head is not None:  # saved and restored with the training state
        accelerator.register_for_checkpointing(head.head)

    step, spent = 0, 0.0  # optimizer steps done, training seconds spent in earlier sessions
    if staged:  # stage 1 is not redone by a resumed run
        _save_state(accelerator, state_dir, 0, 0.0)
    elif resuming:
        accelerator.load_state(str(state_dir))
        saved = json.loads((state_dir / "progress.json").read_text())
        step, spent = saved["step"], saved.get("elapsed_s", 0.0)
        accelerator.print(f"resumed from {state_dir} at step {step}")

    return Run(
        config=config,
        accelerator=accelerator,
        clock=clock,
        rubric=rubric,
        out=out,
        data_dir=data_dir,
        records=records,
        base=base,
        processor=processor,
        model=model,
        head=head,
        collate=collate,
        params=params,
        optimizer=optimizer,
        world=world,
        rank=rank,
        total=total,
        state_dir=state_dir,
        step=step,
        spent=spent,
    )


def train(run: Run) -> None:
    """Stage 2: the answer steps, on time or steps, saving every ``save_every`` steps."""
    import torch

    config, accelerator, clock = run.config, run.accelerator, run.clock
    model, optimizer, head, collate = run.model, run.optimizer, run.head, run.collate
    records, params, world, rank = run.records, run.params, run.world, run.rank
    total, state_dir, out, rubric = run.total, run.state_dir, run.out, run.rubric
    step, spent = run.step, run.spent
    micro = config.batch_size
    per_rank_batches = len(_order(len(records), 0, config.seed, rank, world)) // micro
    log_path = out / LOG_FILE
    bar = None
    if config.progress and accelerator.is_main_process:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=step, desc="fit", unit="step", dynamic_ncols=True)
    model.train()
    started = clock() - spent
    curve_every = 60.0 * config.curve_every_min if config.curve_data else 0.0
    curve, curve_root = _curve_records(config, rubric, []) if curve_every else ([], run.data_dir)
    run.started, run.curve_every = started, curve_every
    run.curve, run.curve_root = curve, curve_root
    last_curve = clock()

    stop = min(total, config.stop_at or total)
    finished = False
    while step < stop and not finished:
        elapsed = clock() - started
        if accelerator.num_processes > 1:  # every rank must take the same decision
            t = accelerator.reduce(torch.tensor([elapsed], device=accelerator.device), "max")
            elapsed = float(t.item())
        progress = _progress(config, step, total, elapsed)
        if step >= config.warmup_steps and progress >= 1.0:
            finished = True
            break
        lr = config.lr * _lr_factor(config, step, progress)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        # micro-batch k of the run, counted from the beginning, fixes epoch and position
        k0 = step * config.grad_accum
        collate.lines = config.warmup_lines if step < config.plane_warmup_steps else 0
        sums = torch.zeros(3)  # loss * n, correct, n
        aux_seen: list[float] = []
        for k in range(k0, k0 + config.grad_accum):
            epoch, pos = divmod(k, max(per_rank_batches, 1))
            order = _order(len(records), epoch, config.seed, rank, world)
            chunk = [records[i] for i in order[pos * micro : (pos + 1) * micro]]
            batch = collate(chunk)
            batch = batch.to(accelerator.device)
            last = k == k0 + config.grad_accum - 1
            sync = contextlib.nullcontext() if last else accelerator.no_sync(model)
            with sync:
                with accelerator.autocast():
                    loss, correct, n = _loss_step(model, batch)
                    total_loss = loss
                    if head is not None:
                        aux, _parts = head.loss_for(batch["image_grid_thw"].cpu(), chunk)
                        total_loss = loss + config.aux_dense_weight * aux
                        aux_seen.append(aux.item())
                accelerator.backward(total_loss / config.grad_accum)
            sums += torch.tensor([loss.item() * n.item(), correct.item(), n.item()])
        if config.max_grad_norm:
            accelerator.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        run.step = step
        sums = accelerator.reduce(sums.to(accelerator.device), "sum").cpu()
        entry = {
            "step": step,
            "epoch": round(step * config.grad_accum / max(per_rank_batches, 1), 4),
            "loss": round(float(sums[0] / sums[2]), 5),
            "token_accuracy": round(float(sums[1] / sums[2]), 5),
            "lr": lr,
            "tokens": int(sums[2]),
            "elapsed_s": round(clock() - started, 2),
        }
        if aux_seen:
            entry["aux_dense_loss"] = round(sum(aux_seen) / len(aux_seen), 5)
        if accelerator.is_main_process:
            if step % config.log_every == 0 or step == total:
                with log_path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry) + "\n")
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=entry["loss"], acc=entry["token_accuracy"])
        if step % config.save_every == 0 and step < stop:
            _save_state(accelerator, state_dir, step, clock() - started)
        due = curve_every and clock() - last_curve >= curve_every
        if due and accelerator.is_main_process:
            run.step = step
            run.curve_point()
            last_curve = clock()

    run.step, run.finished, run.bar = step, finished, bar


def save(run: Run) -> Path:
    """The final checkpoint (and its abstention statistics), or the state of a run stopped
    early on purpose; then the accelerator's cleanup."""
    from trainer.tiny import write_model_info

    config, accelerator, clock = run.config, run.accelerator, run.clock
    model, processor, rubric, base = run.model, run.processor, run.rubric, run.base
    out, state_dir, step, total = run.out, run.state_dir, run.step, run.total
    finished = run.finished
    curve_every, bar, started = run.curve_every, run.bar, run.started
    if bar is not None:
        bar.close()
    if curve_every and accelerator.is_main_process and (finished or step >= total):
        run.curve_point()  # the curve's last point is the final model
    _save_state(accelerator, state_dir, step, clock() - started)
    if step < total and not finished:  # stopped early on purpose (stop_at): resumable
        accelerator.end_training()
        return state_dir
    final = out / FINAL_DIR
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.save_pretrained(final)
        if config.mode == "full":
            processor.save_pretrained(final)
        write_model_info(
            final,
            prompt_detail=config.prompt_detail,
            rubric=rubric,
            extra={"base": str(base), "mode": config.mode, "steps": step},
        )
        if config.ood_reference:
            _fit_abstention(final, base if config.mode == "lora" else None, config)
    # ---- cleanup
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return final


def _fit_abstention(final: Path, base: Path | None, config: FitConfig) -> None:
    """Abstention statistics of the saved checkpoint (or adapter over ``base``), beside it."""
    from scoring.engine import Engine
    from trainer.ood import fit_stats

    engine = (
        Engine.load(final, device="cpu")
        if base is None
        else Engine.load(base, adapter_dir=final, device="cpu")
    )
    fit_stats(engine, final, count=config.ood_reference, seed=config.seed + 7)


def _save_state(accelerator, state_dir: Path, step: int, elapsed: float) -> None:
    accelerator.save_state(str(state_dir))
    if accelerator.is_main_process:
        progress = {"step": step, "elapsed_s": round(elapsed, 2)}
        (state_dir / "progress.json").write_text(json.dumps(progress))


# --------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Fine-tune Qwen2-VL from a YAML config (see trainer/configs/)."
    parser.add_argument("--config", required=True, type=Path, help="YAML run config")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. lr=1e-4")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f"error: {exc}")
        return 2
    final = fit(config)
    print(f"ok: {final}")
    return 0
