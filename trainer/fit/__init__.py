"""Fine-tune Qwen2-VL on annotation records: LoRA adapters (the paper) or full fine-tuning.

    python -m trainer fit --config trainer/configs/paper_lora_2b.yaml [key=value ...]
    torchrun --nproc-per-node 4 -m trainer fit --config ...     # or: accelerate launch -m trainer

A run is a :class:`FitConfig` (validated dataclass) read from one YAML file, overridable with
``key=value`` (nested: ``lora.rank=8``); the resolved config is written to the run folder.
Recipe, as a torchtune recipe: :func:`setup` -> :func:`train` -> :func:`save`. The loss covers
the answer tokens only (and the ``<|im_end|>`` that ends them), never the prompt or the image.
Every ``save_every`` optimizer steps the full training state goes to ``<out>/state`` and a run
started again with the same ``out`` resumes from it. Per-step loss and token accuracy go to
``<out>/log.jsonl``. Distribution, mixed precision and gradient synchronisation come from
``accelerate``, so the same code runs on one CPU, one GPU or under ``torchrun``.

The recipe's parts, each a module of this package:

- :mod:`~trainer.fit.settings`: the config (:class:`FitConfig`) and its validation;
- :mod:`~trainer.fit.model`: the base model (a fresh tiny one or a checkpoint) and LoRA;
- :mod:`~trainer.fit.vision`: stage 1, the vision tower alone on dense targets;
- :mod:`~trainer.fit.answers`: stage 2, the answers: batches, loss, schedule, curve;
- :mod:`~trainer.fit.state`: what a run holds between phases, and its saved state.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
from pathlib import Path

import yaml

from scoring.rubric import default_rubric
from trainer.clock import make_clock
from trainer.config import ConfigError
from trainer.fit.answers import (
    AnswerCollator,
    curve_records,
    loss_step,
    lr_factor,
    order,
    progress,
)
from trainer.fit.model import setup_model
from trainer.fit.settings import (
    CONFIG_FILE,
    FINAL_DIR,
    LOG_FILE,
    STATE_DIR,
    VISION_HOLDOUT,
    FitConfig,
    LoraSettings,
    config_to_dict,
    load_config,
)
from trainer.fit.state import Run, keep_trainable_only, load_progress, save_state
from trainer.fit.vision import training_images, vision_stage

__all__ = [
    "VISION_HOLDOUT",
    "AnswerCollator",
    "ConfigError",
    "FitConfig",
    "LoraSettings",
    "Run",
    "fit",
    "load_config",
    "save",
    "setup",
    "train",
]


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

    accelerator, clock = _accelerator(config)
    rubric = default_rubric()
    out, data_dir = Path(config.out), Path(config.data)
    records, sample = _records(config, rubric, data_dir)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(
            yaml.safe_dump(config_to_dict(config), sort_keys=False), encoding="utf-8"
        )
    base, processor, model = setup_model(config, out, rubric, records, accelerator, sample)
    state_dir = out / STATE_DIR
    resuming = load_progress(state_dir) is not None
    images = None
    if config.vision_stage or config.aux_dense_weight > 0 or config.pool:
        images = training_images(config, processor, records, rubric)
    head = _dense_head(config, model, images, rubric, accelerator)
    staged = False
    if config.vision_stage and not resuming:  # a resumed run has stage 1 in its saved weights
        vision_stage(config, model, processor, images, rubric, accelerator, out, head)
        staged = True
    if head is not None and config.aux_dense_weight == 0:
        head.remove()
        head = None
    if not config.pool:
        images = None  # stage 2 reads the files
    collate = AnswerCollator(processor, rubric, config.prompt_detail, data_dir)
    params, groups = _parameter_groups(config, model, head)
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    world, rank = accelerator.num_processes, accelerator.process_index
    per_epoch = max(1, len(records) // (config.batch_size * world * config.grad_accum))
    total = config.max_steps or max(1, math.ceil(per_epoch * config.epochs))
    model, optimizer = accelerator.prepare(model, optimizer)
    if config.mode == "lora":
        keep_trainable_only(accelerator)
    if head is not None:  # saved and restored with the training state
        accelerator.register_for_checkpointing(head.head)
    step, spent = _restore(accelerator, state_dir, staged, resuming)
    return Run(
        config=config, accelerator=accelerator, clock=clock, rubric=rubric, out=out,
        data_dir=data_dir, records=records, base=base, processor=processor, model=model,
        head=head, collate=collate, params=params, optimizer=optimizer, world=world,
        rank=rank, total=total, state_dir=state_dir, step=step, spent=spent, images=images,
    )  # fmt: skip


def _accelerator(config: FitConfig):
    """The accelerator (mixed precision from ``dtype``), seeded, and the run's clock."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    clock = make_clock(config.clock, config.torch_threads)
    mp = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}[config.dtype]
    accelerator = Accelerator(mixed_precision=mp, cpu=not torch.cuda.is_available())
    set_seed(config.seed)
    return accelerator, clock


def _records(config: FitConfig, rubric, data_dir: Path):
    """The training records (a pool's or a split's) and a sample of their images."""
    from trainer.data import load_records
    from trainer.pool import pool_images

    if config.vision_stage_maps and not config.pool:
        raise ConfigError("vision_stage_maps: the structure maps come from a pool; data is not one")
    if config.pool:
        records = load_records(data_dir / "records.jsonl", rubric)[: config.limit]
        return records, pool_images(data_dir, range(min(64, len(records))))
    records = load_records(data_dir / config.train_split, rubric)[: config.limit]
    return records, [data_dir / r.image for r in records[:64]]


def _dense_head(config: FitConfig, model, images, rubric, accelerator):
    """Stage 1's dense head on the vision tower, when stage 1 or the auxiliary loss needs it."""
    if not (config.vision_stage or config.aux_dense_weight > 0):
        return None
    from trainer.pool import MAP_GRID
    from trainer.tower_pretrain import DenseHead, merged_grid

    cells = 0
    if config.vision_stage_maps:
        merge = int(model.config.vision_config.spatial_merge_size)
        rows = merged_grid(images.batch([0])[1], merge)[0][0]
        cells = (MAP_GRID // rows) ** 2
    head = DenseHead(model, rubric, map_cells=cells, readout=config.vision_stage_readout)
    head.head.to(accelerator.device)
    return head


def _parameter_groups(config: FitConfig, model, head):
    """The trainable parameters, and the optimizer's groups: the vision tower and the dense
    head at ``vision_lr_mult`` of the rate, the rest at the rate."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    vision = [p for n, p in named if ".visual." in f".{n}"]
    others = [p for n, p in named if ".visual." not in f".{n}"]
    groups = [{"params": others, "lr_mult": 1.0}]
    if vision:
        groups.append({"params": vision, "lr_mult": config.vision_lr_mult})
    if head is not None:  # the dense head learns at the vision tower's rate
        groups.append({"params": list(head.head.parameters()), "lr_mult": config.vision_lr_mult})
    return [p for _, p in named], groups


def _restore(accelerator, state_dir: Path, staged: bool, resuming: bool) -> tuple[int, float]:
    """(optimizer steps done, training seconds spent in earlier sessions): a saved state
    restored, or stage 1's end saved so that a resumed run does not redo it."""
    if staged:
        save_state(accelerator, state_dir, 0, 0.0)
        return 0, 0.0
    if resuming:
        accelerator.load_state(str(state_dir))
        step, spent = load_progress(state_dir) or (0, 0.0)
        accelerator.print(f"resumed from {state_dir} at step {step}")
        return step, spent
    return 0, 0.0


def train(run: Run) -> None:
    """Stage 2: the answer steps, on time or steps, saving every ``save_every`` steps."""
    import torch

    config, accelerator, clock = run.config, run.accelerator, run.clock
    model, optimizer = run.model, run.optimizer
    step, total, world, rank = run.step, run.total, run.world, run.rank
    per_rank_batches = (
        len(order(len(run.records), 0, config.seed, rank, world)) // config.batch_size
    )
    bar = None
    if config.progress and accelerator.is_main_process:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=step, desc="fit", unit="step", dynamic_ncols=True)
    model.train()
    started = clock() - run.spent
    curve_every = 60.0 * config.curve_every_min if config.curve_data else 0.0
    if curve_every:
        fallback = run.images.images_of if run.images is not None else None
        run.curve, run.curve_images = curve_records(config, run.rubric, run.records, fallback)
    run.started, run.curve_every = started, curve_every
    last_curve = clock()

    stop = min(total, config.stop_at or total)
    finished = False
    while step < stop and not finished:
        elapsed = clock() - started
        if accelerator.num_processes > 1:  # every rank must take the same decision
            t = accelerator.reduce(torch.tensor([elapsed], device=accelerator.device), "max")
            elapsed = float(t.item())
        done = progress(config, step, total, elapsed)
        if step >= config.warmup_steps and done >= 1.0:
            finished = True
            break
        lr = config.lr * lr_factor(config, step, done)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        sums, aux_seen = _accumulate(run, step, per_rank_batches)
        if config.max_grad_norm:
            accelerator.clip_grad_norm_(run.params, config.max_grad_norm)
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
        _log_step(run, entry, bar)
        if step % config.save_every == 0 and step < stop:
            save_state(accelerator, run.state_dir, step, clock() - started)
        due = curve_every and clock() - last_curve >= curve_every
        if due and accelerator.is_main_process:
            run.curve_point()
            last_curve = clock()

    run.step, run.finished, run.bar = step, finished, bar


def _accumulate(run: Run, step: int, per_rank_batches: int):
    """The ``grad_accum`` micro-batches of optimizer step ``step``, forward and backward:
    (loss x tokens, tokens right, tokens) summed, and the dense head's losses seen."""
    import torch

    config, accelerator, model = run.config, run.accelerator, run.model
    micro = config.batch_size
    # micro-batch k of the run, counted from the beginning, fixes epoch and position
    k0 = step * config.grad_accum
    run.collate.lines = config.warmup_lines if step < config.plane_warmup_steps else 0
    sums = torch.zeros(3)  # loss * n, correct, n
    aux_seen: list[float] = []
    for k in range(k0, k0 + config.grad_accum):
        epoch, pos = divmod(k, max(per_rank_batches, 1))
        order_k = order(len(run.records), epoch, config.seed, run.rank, run.world)
        idx = order_k[pos * micro : (pos + 1) * micro]
        chunk = [run.records[i] for i in idx]
        maps = None
        if run.images is not None:  # a pool: the pixels are prepared already
            pixels, grid, _recs, maps = run.images.batch(idx)
            batch = run.collate(chunk, pixels=(pixels, grid))
        else:
            batch = run.collate(chunk)
        batch = batch.to(accelerator.device)
        last = k == k0 + config.grad_accum - 1
        sync = contextlib.nullcontext() if last else accelerator.no_sync(model)
        with sync:
            with accelerator.autocast():
                loss, correct, n = loss_step(model, batch)
                total_loss = loss
                if run.head is not None:
                    grid_thw = batch["image_grid_thw"].cpu()
                    aux, _parts = run.head.loss_for(grid_thw, chunk, maps)
                    total_loss = loss + config.aux_dense_weight * aux
                    aux_seen.append(aux.item())
            accelerator.backward(total_loss / config.grad_accum)
        sums += torch.tensor([loss.item() * n.item(), correct.item(), n.item()])
    return sums, aux_seen


def _log_step(run: Run, entry: dict, bar) -> None:
    """One step's figures to ``log.jsonl`` (every ``log_every`` steps and the last) and the bar."""
    if not run.accelerator.is_main_process:
        return
    if entry["step"] % run.config.log_every == 0 or entry["step"] == run.total:
        with (run.out / LOG_FILE).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
    if bar is not None:
        bar.update(1)
        bar.set_postfix(loss=entry["loss"], acc=entry["token_accuracy"])


def save(run: Run) -> Path:
    """The final checkpoint (and its abstention statistics), or the state of a run stopped
    early on purpose; then the accelerator's cleanup."""
    from trainer.tiny_qwen import write_model_info

    config, accelerator, clock = run.config, run.accelerator, run.clock
    model, processor, rubric, base = run.model, run.processor, run.rubric, run.base
    out, state_dir, step, total = run.out, run.state_dir, run.step, run.total
    finished = run.finished
    curve_every, bar, started = run.curve_every, run.bar, run.started
    if bar is not None:
        bar.close()
    if curve_every and accelerator.is_main_process and (finished or step >= total):
        run.curve_point()  # the curve's last point is the final model
    save_state(accelerator, state_dir, step, clock() - started)
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
            fit_abstention(final, base if config.mode == "lora" else None, config)
    # ---- cleanup
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return final


def fit_abstention(final: Path, base: Path | None, config: FitConfig) -> None:
    """Abstention statistics of the saved checkpoint (or adapter over ``base``), beside it."""
    from scoring.engine import Engine
    from trainer.ood import fit_stats

    engine = (
        Engine.load(final, device="cpu")
        if base is None
        else Engine.load(base, adapter_dir=final, device="cpu")
    )
    fit_stats(engine, final, count=config.ood_reference, seed=config.seed + 7)


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
