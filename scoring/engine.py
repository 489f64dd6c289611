"""The inference engine: a local Qwen2-VL checkpoint (plus an optional LoRA adapter) in,
Assessments and live events out.

    engine = Engine.load("models/demo")                       # or base + adapter
    assessments = engine.assess([img1, img2, ...])            # batched greedy generation
    stream = engine.stream(img)
    for event in stream:                                      # parser events, as generated
        ...
    stream.assessment                                         # after the loop

The same code serves Qwen2-VL-2B-Instruct with the paper's LoRA adapter on a GPU and the tiny
demo model on a laptop: both are ordinary checkpoint folders. Structure, plane and deduction
events carry a ``confidence`` from the generated tokens' probabilities (see
:func:`line_confidence`); an assessment with low confidence, a score near a grade boundary or
any parser error is marked ``needs_review``. Generation failures become error events, never
exceptions out of ``stream``. Torch and transformers are imported here only, so the rest of
``scoring`` stays light.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from scoring import ood
from scoring.answer import Assessment
from scoring.calibration import Calibration
from scoring.engine_errors import EngineUnavailable  # noqa: F401  (re-exported)
from scoring.events import error_event
from scoring.model_input import Placement, model_view
from scoring.prompt import Detail, build_messages
from scoring.rubric import Rubric, default_rubric
from scoring.stream import (  # noqa: F401  (ReviewThresholds, line_confidence: re-exported)
    ABVLMQ_FILE,
    Decoder,
    ReviewThresholds,
    Stream,
    abstain,
    line_confidence,
    read_info,
)

DEFAULT_MAX_PIXELS = 1280 * 28 * 28  # Qwen2-VL's own default cap
MAX_INPUT_SIDE = 4096  # larger inputs are shrunk with PIL before the processor sees them


# ------------------------------------------------------------------ confidence


# ------------------------------------------------------------------ streaming plumbing


class _ProbRecorder:
    """A logits processor that records the greedy token's probability at every step.

    It runs last, sees the final scores (B, V) and leaves them untouched; the chosen token of
    greedy decoding is their argmax, so its softmax value is the token's probability.
    """

    def __init__(self) -> None:
        self.steps: list[torch.Tensor] = []  # each (B,)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.steps.append(torch.softmax(scores.float(), dim=-1).max(dim=-1).values.cpu())
        return scores


class _QueueStreamer:
    """A transformers streamer that forwards (token id, probability) to a queue."""

    _END = object()

    def __init__(self, recorder: _ProbRecorder) -> None:
        self.recorder = recorder
        self.queue: queue.Queue = queue.Queue()
        self._first = True

    def put(self, value: torch.Tensor) -> None:
        if self._first:  # generate() first puts the prompt; skip it
            self._first = False
            return
        token = int(value.reshape(-1)[0])
        step = len(self.recorder.steps) - 1
        prob = float(self.recorder.steps[step][0]) if step >= 0 else 1.0
        self.queue.put((token, prob))

    def end(self) -> None:
        self.queue.put(self._END)


class _Cancelled:
    """A stopping criterion: ends generation once the stream's consumer has gone away."""

    def __init__(self) -> None:
        self.flag = threading.Event()

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.flag.is_set(), device=input_ids.device)


class AssessmentStream(Stream):
    """:class:`scoring.stream.Stream` over this process's model: generation runs in a thread
    that hands each token to the stream through a queue; leaving the loop early (``break``, an
    exception, closing the generator) stops generation."""

    def __init__(self, engine: Engine, image: Image.Image, max_new_tokens: int) -> None:
        super().__init__(engine, image, max_new_tokens, engine.processor.tokenizer)

    def tokens(self) -> Iterator[tuple[int, float]]:
        recorder = _ProbRecorder()
        streamer = _QueueStreamer(recorder)
        cancel = _Cancelled()
        failure: list[BaseException] = []

        def work() -> None:
            try:
                inputs = self._engine._inputs([self._image])
                self._engine._generate(inputs, self._max_new_tokens, recorder, streamer, cancel)
            except BaseException as exc:  # reported as an event, not raised in a thread
                failure.append(exc)
            finally:
                streamer.end()

        thread = threading.Thread(target=work, name="abvlmq-generate", daemon=True)
        thread.start()
        try:
            while True:
                item = streamer.queue.get()
                if item is _QueueStreamer._END:
                    break
                yield item
        finally:
            cancel.flag.set()  # a no-op after a normal end; stops the model if we were left
            thread.join()
            if failure:
                exc = failure[0]
                message = f"Generation failed: {type(exc).__name__}: {exc}"
                self.extra_errors.append(error_event("engine", message))


# ------------------------------------------------------------------ the engine


class Engine:
    """A loaded model that assesses images. Build it with :meth:`Engine.load`."""

    def __init__(
        self,
        model,
        processor,
        *,
        model_id: str,
        rubric: Rubric | None = None,
        prompt_detail: Detail = "full",
        max_new_tokens: int = 512,
        review: ReviewThresholds | None = None,
        ood_stats: ood.OodStats | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        self.model = model
        # what the checkpoint's confidences mean (scoring.calibration); none: raw confidences
        self.calibration = calibration or Calibration()
        self.ood_stats = ood_stats  # None: this checkpoint cannot tell what it does not know
        self.processor = processor
        self.model_id = model_id
        self.rubric = rubric or default_rubric()
        self.prompt_detail: Detail = prompt_detail
        self.max_new_tokens = max_new_tokens
        cal = self.calibration
        if review is None and (
            cal.min_confidence is not None or cal.grade_trust is not None
            or cal.box_threshold is not None
        ):  # fmt: skip
            review = ReviewThresholds(
                boundary_margin=(
                    cal.boundary_margin
                    if cal.boundary_margin is not None
                    else ReviewThresholds.boundary_margin
                ),
                min_confidence=(
                    cal.min_confidence
                    if cal.min_confidence is not None
                    else ReviewThresholds.min_confidence
                ),
                grade_trust=cal.grade_trust,
                box_threshold=cal.box_threshold,
                ood_threshold=ood_stats.threshold if ood_stats is not None else None,
            )
        self.review = review or ReviewThresholds()
        tok = processor.tokenizer
        tok.padding_side = "left"  # generation continues every row from its right end
        self.stop_ids = {
            i
            for i in (tok.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>"))
            if isinstance(i, int) and i >= 0
        }
        self.pad_id = tok.convert_tokens_to_ids("<|endoftext|>")
        messages = build_messages(self.rubric, prompt_detail)
        self.prompt_text: str = processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        adapter_dir: str | Path | None = None,
        *,
        device: str | None = None,
        dtype: str | torch.dtype | None = None,
        max_pixels: int | None = None,
        rubric: Rubric | None = None,
        max_new_tokens: int = 512,
        review: ReviewThresholds | None = None,
    ) -> Engine:
        """Load a local Qwen2-VL checkpoint (and merge a LoRA adapter into it).

        ``device``: "cuda", "cpu", ... (default: CUDA when available). ``dtype``: default bf16 on
        a GPU that supports it, else fp16 on a GPU, fp32 on CPU. ``max_pixels`` caps the pixels
        an image is resized to (default: the checkpoint's processor setting).
        """
        from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

        model_dir = Path(model_dir)
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        torch_dtype = pick_dtype(dtype, dev)
        processor = AutoProcessor.from_pretrained(model_dir)
        if max_pixels is not None:
            cap_pixels(processor, max_pixels)
        model = Qwen2VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch_dtype)
        if adapter_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
        model.to(dev).eval()
        info = read_info(model_dir)
        stats = ood.OodStats.load(model_dir)
        if adapter_dir is not None:
            info.update(read_info(Path(adapter_dir)))
            # an adapter changes the vision tower: only its own statistics describe it
            stats = ood.OodStats.load(adapter_dir)
        return cls(
            model,
            processor,
            model_id=model_identity(model_dir, adapter_dir),
            rubric=rubric,
            prompt_detail=info.get("prompt_detail", "full"),
            max_new_tokens=max_new_tokens,
            review=review,
            ood_stats=stats,
            calibration=Calibration.from_info(info),
        )

    # -------------------------------------------------------------- public API

    @torch.inference_mode()
    def features(self, images: Sequence[Image.Image]) -> np.ndarray:
        """The vision tower's summary of each image (N, D): see :func:`scoring.ood.summarise`.

        The visual tokens the language model reads (from the same processor settings), plus the
        patch embedding and up to four blocks of the tower, caught with forward hooks that keep
        only this thread's pass, so threads may call it at once on one model.
        """
        batch = self.processor.image_processor(
            images=[self._prepare(im) for im in images], return_tensors="pt"
        )
        pixels = batch["pixel_values"].to(self.device)
        grid = batch["image_grid_thw"].to(self.device)  # (N, 3): t, h, w in patches
        visual = self.model.model.visual
        depth = len(visual.blocks)
        picked = sorted({depth * (i + 1) // 4 - 1 for i in range(4) if depth * (i + 1) // 4})
        caught: list[torch.Tensor] = []
        me = threading.get_ident()

        def keep(_module, _args, output) -> None:
            # another thread's pass through the same model (the live view's pool) is not ours
            if threading.get_ident() == me:
                caught.append(output)

        hooks = [visual.patch_embed.register_forward_hook(keep)]
        hooks += [visual.blocks[i].register_forward_hook(keep) for i in picked]
        try:
            tokens = self.model.get_image_features(pixels, grid).pooler_output  # N x (T_i, d)
        finally:
            for hook in hooks:
                hook.remove()
        merge = int(self.model.config.vision_config.spatial_merge_size)
        sizes = grid.prod(-1).tolist()  # patches per image
        layers = [torch.split(c.float().cpu(), sizes) for c in caught]  # L x N x (P_i, e)
        cfg = self.model.config.vision_config
        shape = (-1, cfg.in_channels, cfg.temporal_patch_size, cfg.patch_size, cfg.patch_size)
        patches = torch.split(pixels.float().cpu().reshape(shape), sizes)  # N x (P_i, C, T, p, p)
        rows = []
        for n, (tok, (t, h, w)) in enumerate(zip(tokens, grid.tolist(), strict=True)):
            per_frame = tok.float().cpu().numpy().reshape(t, (h // merge) * (w // merge), -1)
            own = [layer[n].numpy() for layer in layers]
            rows.append(
                ood.summarise(
                    per_frame.mean(axis=0), (h // merge, w // merge), own, patches[n].numpy()
                )
            )
        return np.stack(rows)

    def feature_bounds(self) -> tuple[int, ...]:
        """Group boundaries of :meth:`features`' columns (see :func:`scoring.ood.fit`)."""
        cfg = self.model.config.vision_config
        d = int(self.model.config.text_config.hidden_size)
        depth = len(self.model.model.visual.blocks)
        n_blocks = len({depth * (i + 1) // 4 - 1 for i in range(4) if depth * (i + 1) // 4})
        return ood.feature_bounds(d, [int(cfg.embed_dim)] * (1 + n_blocks), pixels=True)

    def ood_scores(self, images: Sequence[Image.Image]) -> list[float | None]:
        """Each image's out-of-distribution score; None when the checkpoint has no statistics
        or the vision tower cannot read the image (generation then reports the failure)."""
        if self.ood_stats is None or not images:
            return [None] * len(images)
        try:
            scores = self.ood_stats.score(self.features(images))
        except (RuntimeError, ValueError):
            return [None] * len(images)
        return [round(float(x), 4) for x in scores]

    def assess(
        self,
        images: Sequence[Image.Image],
        *,
        batch_size: int = 8,
        max_new_tokens: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Assessment]:
        """One Assessment per image, by batched greedy generation (left padding).
        ``progress(done, total)``, when given, hears how many images are assessed after each
        batch (a batch's answers all end together: there is nothing to report within one)."""
        limit = max_new_tokens or self.max_new_tokens
        out: list[Assessment] = []
        for start in range(0, len(images), max(batch_size, 1)):
            chunk = list(images[start : start + max(batch_size, 1)])
            out.extend(self._assess_batch(chunk, limit))
            if progress is not None:
                progress(len(out), len(images))
        return out

    def stream(self, image: Image.Image, *, max_new_tokens: int | None = None) -> AssessmentStream:
        """The parser's events for ``image`` while its answer is generated."""
        return AssessmentStream(self, image, max_new_tokens or self.max_new_tokens)

    # -------------------------------------------------------------- internals

    def _prepare(self, image: Image.Image) -> Image.Image:
        """What the model reads: ``image`` in RGB, shrunk when huge, on its black square
        (:mod:`scoring.model_input`; the answer's boxes are moved back by the decoder)."""
        img = image
        if max(img.size) > MAX_INPUT_SIDE:  # bound the processor's work on huge inputs
            img = img.copy()
            img.thumbnail((MAX_INPUT_SIDE, MAX_INPUT_SIDE), Image.Resampling.BILINEAR)
        return model_view(img, *pixel_range(self.processor))

    def _inputs(self, images: Sequence[Image.Image]):
        batch = self.processor(
            text=[self.prompt_text] * len(images),
            images=[self._prepare(im) for im in images],
            padding=True,
            return_tensors="pt",
        )
        return batch.to(self.device)

    @torch.inference_mode()
    def _generate(
        self, inputs, max_new_tokens: int, recorder: _ProbRecorder, streamer=None, cancel=None
    ):
        from transformers import LogitsProcessorList, StoppingCriteriaList

        return self.model.generate(
            **inputs,
            do_sample=False,
            max_new_tokens=max_new_tokens,
            logits_processor=LogitsProcessorList([recorder]),
            stopping_criteria=StoppingCriteriaList([cancel] if cancel else []),
            streamer=streamer,
            eos_token_id=sorted(self.stop_ids),
            pad_token_id=self.pad_id,
            use_cache=True,
        )

    def _assess_batch(self, images: list[Image.Image], max_new_tokens: int) -> list[Assessment]:
        scores = self.ood_scores(images)
        stats = self.ood_stats
        declined = [s is not None and stats is not None and stats.abstains(s) for s in scores]
        keep = [im for im, d in zip(images, declined, strict=True) if not d]
        kept_scores = [s for s, d in zip(scores, declined, strict=True) if not d]
        answered = iter(self._generate_batch(keep, max_new_tokens, kept_scores) if keep else [])
        results: list[Assessment] = []
        for score, d in zip(scores, declined, strict=True):
            if d:
                result = Assessment(rubric_version=self.rubric.version)
                abstain(result, score, stats)  # type: ignore[arg-type]
            else:
                result = next(answered)
            result.ood_score = score
            results.append(result)
        return results

    def _generate_batch(
        self,
        images: list[Image.Image],
        max_new_tokens: int,
        ood_scores: Sequence[float | None] | None = None,
    ) -> list[Assessment]:
        recorder = _ProbRecorder()
        failure: str | None = None
        try:
            inputs = self._inputs(images)
            sequences = self._generate(inputs, max_new_tokens, recorder)
            generated = sequences[:, inputs["input_ids"].shape[1] :].cpu()  # (B, T)
        except (RuntimeError, ValueError) as exc:
            failure = f"Generation failed: {type(exc).__name__}: {exc}"
            generated = torch.empty((len(images), 0), dtype=torch.long)
        probs = torch.stack(recorder.steps, dim=1) if recorder.steps else None  # (B, T)
        results: list[Assessment] = []
        for b in range(len(images)):
            dec = Decoder(
                self.processor.tokenizer,
                self.rubric,
                self.stop_ids,
                self.calibration.plane,
                Placement.of(images[b].size),
                self.review.box_threshold,
            )
            for t in range(generated.shape[1]):
                p = float(probs[b, t]) if probs is not None and t < probs.shape[1] else 1.0
                dec.add(int(generated[b, t]), p)
                if dec.stopped:
                    break
            extra = [error_event("engine", failure)] if failure else []
            if ood_scores is not None:  # before finish: the grade's trust reads it, as a stream's
                dec.assessment.ood_score = ood_scores[b]
            dec.finish(self.review, extra)
            results.append(dec.assessment)
        return results


# ------------------------------------------------------------------ helpers


def pixel_range(processor) -> tuple[int, int, int]:
    """(factor, min_pixels, max_pixels) of the image resize of ``processor`` (a processor, or
    its image processor itself)."""
    ip = getattr(processor, "image_processor", processor)
    size = ip.size or {}
    low = size.get("shortest_edge", size.get("min_pixels", getattr(ip, "min_pixels", None)))
    high = size.get("longest_edge", size.get("max_pixels", getattr(ip, "max_pixels", None)))
    return int(ip.patch_size) * int(ip.merge_size), int(low), int(high)


def cap_pixels(processor, max_pixels: int) -> None:
    """Resize images to at most ``max_pixels`` (and lower the minimum if it was above)."""
    ip = processor.image_processor
    low = ip.size["shortest_edge"] if "shortest_edge" in ip.size else ip.size["min_pixels"]
    ip.size = {"shortest_edge": min(int(low), int(max_pixels)), "longest_edge": int(max_pixels)}


def pick_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16}
    names |= {"float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}
    if dtype is not None:
        if dtype not in names:
            raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(names)}")
        return names[dtype]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32  # CPU bf16 matmuls are slow on most CPUs, and tiny models gain nothing


def _digest(folder: Path, names: Sequence[str]) -> str:
    """A content hash of a checkpoint's config and weights.

    Weight files up to 256 MB are hashed whole; larger ones by size, safetensors header (tensor
    names, shapes, offsets) and their first and last MiB, which is enough to tell released
    checkpoints apart without reading gigabytes at every start.
    """
    h = hashlib.sha256()
    for name in names:
        for path in sorted(folder.glob(name)):
            h.update(path.name.encode())
            size = path.stat().st_size
            h.update(str(size).encode())
            with path.open("rb") as fh:
                if size <= 256 << 20:
                    h.update(fh.read())
                else:
                    h.update(fh.read(1 << 20))
                    fh.seek(size - (1 << 20))
                    h.update(fh.read())
    return h.hexdigest()[:10]


def model_identity(model_dir: str | Path, adapter_dir: str | Path | None = None) -> str:
    """``name@hash`` of the base (``+name@hash`` of the adapter): short, stable, provenance."""
    base = Path(model_dir)
    weights = ("config.json", "*.safetensors")
    ident = f"{base.resolve().name}@{_digest(base, weights)}"
    if adapter_dir is not None:
        ad = Path(adapter_dir)
        ident += f"+{ad.resolve().name}@{_digest(ad, ('adapter_config.json', '*.safetensors'))}"
    return ident
