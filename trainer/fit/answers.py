"""Stage 2, the answer recipe: records -> chat batches with labels on the answer only, the loss
and token accuracy, the data order, the learning-rate schedule, and the learning curve's
measurement (answers generated as the engine would, scored by the evaluation's metrics)."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scoring.prompt import Detail, build_messages
from scoring.rubric import Rubric
from trainer.fit.settings import FitConfig
from trainer.resume import measured

IMAGE_PAD = "<|image_pad|>"


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

    def texts(self, records) -> list[str]:
        """Each record's whole conversation (system, image slot, prompt, answer) as text."""
        from trainer.data import to_conversation

        out = []
        for record in records:
            conv = to_conversation(record, self.root, self.rubric, self.detail)
            messages = build_messages(self.rubric, self.detail, answer=conv.answer)
            out.append(self.processor.apply_chat_template(messages, tokenize=False))
        return out

    def texts_images(self, records):
        from PIL import Image

        from scoring.engine import pixel_range
        from scoring.model_input import model_view

        images = []
        for record in records:  # as the engine shows them: on the model's square
            with Image.open(self.root / record.image) as im:
                images.append(model_view(im, *pixel_range(self.processor)))
        return self.texts(records), images

    def __call__(self, records, pixels=None):
        """``pixels``: (``pixel_values``, ``image_grid_thw``) of the records' images already
        prepared (a :class:`trainer.pool.Pool` batch); otherwise the images are read from
        ``root`` and the processor prepares them."""
        import torch

        self.processor.tokenizer.padding_side = "right"
        if pixels is None:
            texts, images = self.texts_images(records)
            batch = self.processor(text=texts, images=images, padding=True, return_tensors="pt")
        else:
            batch = self._tokenize(self.texts(records), *pixels)
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

    def _tokenize(self, texts: list[str], pixel_values, grid):
        """What the processor returns for ``texts`` and images of these prepared pixels: each
        image slot expanded to the image's visual tokens, and the modality of each token."""
        import torch
        from transformers import BatchFeature

        merge = self.processor.image_processor.merge_size**2
        expanded = []
        for text, thw in zip(texts, grid.tolist(), strict=True):
            n = thw[0] * thw[1] * thw[2] // merge
            if text.count(IMAGE_PAD) != 1:
                raise ValueError("each conversation must hold exactly one image slot")
            expanded.append(text.replace(IMAGE_PAD, IMAGE_PAD * n))
        enc = self.processor.tokenizer(expanded, padding=True, return_tensors="pt")
        image_id = self.processor.tokenizer.convert_tokens_to_ids(IMAGE_PAD)
        data = {
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "mm_token_type_ids": (enc["input_ids"] == image_id).to(torch.int64),
            "pixel_values": pixel_values,
            "image_grid_thw": grid,
        }
        return BatchFeature(data)


def append(path: Path, entry: Mapping[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def curve_records(config: FitConfig, rubric: Rubric, fallback, fallback_images=None):
    """The records the learning curve measures and their images (PIL, RGB): the first
    ``curve_images`` of ``curve_data``, or of ``fallback`` (whose images ``fallback_images``
    gives, or the files under ``data``) when there is no curve set."""
    from PIL import Image

    if config.curve_data is None:
        records = list(fallback)[: config.curve_images]
        if fallback_images is not None:
            return records, fallback_images(range(len(records)))
        root = Path(config.data)
    else:
        from trainer.data import load_records

        path = Path(config.curve_data)
        records, root = load_records(path, rubric)[: config.curve_images], path.parent
    images = []
    for r in records:
        with Image.open(root / r.image) as im:
            images.append(im.convert("RGB"))
    return records, images


def probe_answers(model, processor, config: FitConfig, rubric: Rubric, curve, images):
    """Stage 2's learning-curve point: the answers the engine would give on ``curve`` (records,
    with their PIL ``images``), scored by the evaluation's own metrics (plane label accuracy,
    detection precision/recall/F1)."""
    from scoring.engine import Engine
    from scoring.records import record_from_assessment
    from trainer.evaluate import evaluate

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


def lr_factor(config: FitConfig, step: int, progress: float) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine from 1 to ``min_lr_ratio``."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine


def progress(config: FitConfig, step: int, total: int, elapsed: float) -> float:
    warm = config.warmup_steps
    by_steps = (step - warm) / max(1, total - warm) if step >= warm else 0.0
    if config.time_budget_min:
        return max(by_steps, elapsed / (60 * config.time_budget_min))
    return by_steps


def loss_step(model, batch):
    """Mean cross-entropy over answer tokens, and (correct, count) for token accuracy."""
    import torch.nn.functional as F

    labels = batch.pop("labels")
    logits = model(**batch, use_cache=False).logits  # (B, T, V)
    logits, target = logits[:, :-1].float(), labels[:, 1:]  # predict token t+1 from t
    mask = target != -100
    loss = F.cross_entropy(logits[mask], target[mask])
    correct = (logits[mask].argmax(-1) == target[mask]).sum()
    return loss, correct, mask.sum()


def order(n: int, epoch: int, seed: int, rank: int, world: int) -> list[int]:
    """This process's share of a seeded permutation of the data for ``epoch``."""
    idx = list(range(n))
    random.Random(seed * 100_003 + epoch).shuffle(idx)
    return idx[rank::world]
