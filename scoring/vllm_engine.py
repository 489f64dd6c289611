"""The engine as a thin client of an OpenAI-compatible server (vLLM) that serves the model.

    ABVLMQ_ENGINE=vllm  (abvlmq_web.settings maps it to scoring.vllm_engine:VllmEngine)
    engine = VllmEngine.load("models/demo", url="http://127.0.0.1:8100/v1")
    stream = engine.stream(img); for event in stream: ...; stream.assessment

The server batches every request it holds (continuous batching), so many analyses in flight
at once (a worker with a thread pool) keep it full. The worker sends the prompt the
checkpoint was trained with and the image (a PNG data URL), and reads the answer as it is
generated, token by token with its log-probability (``logprobs``, the token ids themselves with
vLLM's ``return_tokens_as_token_ids``): the same :class:`scoring.stream.Decoder` turns them into
the same events, with the same confidences, calibration and review flags as the in-process
engine (:class:`scoring.engine.Engine`, which this class extends).

Abstention still comes from the model's own view of the image: the worker holds the vision
tower alone (its weights read from the checkpoint; the language model is built on PyTorch's
meta device and never materialised), computes the same features and scores them against the
checkpoint's OOD statistics before a request is sent. For the tiny demo model that is a few MB;
for Qwen2-VL-2B about a third of the weights (the 675 M-parameter tower), against the whole
model a second copy would need (docs/architecture.md says why this and not the server's).

Failures: a refused or dropped connection is tried again (``retries``, with a back-off) while
no token has arrived; past that, or once the answer had begun, :class:`ServerError` is raised
(an :class:`scoring.engine.EngineUnavailable`): the analysis goes back to the queue without
counting an attempt, and the sweeper sends it again; its events are numbered, so the replay of
the same greedy answer stores nothing twice. A server that stalls past ``timeout`` seconds
between chunks is a failure too.
"""

from __future__ import annotations

import base64
import io
import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from PIL import Image

from scoring import ood
from scoring.calibration import Calibration
from scoring.engine import Engine, EngineUnavailable, ReviewThresholds, model_identity
from scoring.prompt import build_messages
from scoring.rubric import Rubric
from scoring.stream import Stream, read_info

DEFAULT_URL = "http://127.0.0.1:8100/v1"
SERVED_NAME = "abvlmq"  # --served-model-name of the server (the adapter's name with LoRA)


class ServerError(EngineUnavailable):
    """The serving engine could not be reached or stopped answering: the analysis goes back to
    the queue (not an attempt against the scan) and the sweeper sends it again."""


def vision_only(model_dir: Path, adapter_dir: Path | None = None):
    """A Qwen2-VL whose vision tower alone holds weights (read from the checkpoint, an
    adapter's vision LoRA merged in); everything else lives on the meta device."""
    import torch
    from safetensors import safe_open
    from transformers import AutoConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.modeling_qwen2_vl import (
        Qwen2VisionTransformerPretrainedModel,
    )

    config = AutoConfig.from_pretrained(model_dir)
    with torch.device("meta"):  # shapes only: the language model never gets memory
        model = Qwen2VLForConditionalGeneration(config)
    visual = Qwen2VisionTransformerPretrainedModel._from_config(config.vision_config)
    wanted = set(visual.state_dict())
    found: dict[str, Any] = {}
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as fh:
            for key in fh.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                for prefix in ("model.visual.", "visual."):
                    if key.startswith(prefix) and key[len(prefix) :] in wanted:
                        found[key[len(prefix) :]] = fh.get_tensor(key).float()
    missing = sorted(wanted - set(found))
    if missing:
        raise ValueError(f"{model_dir}: no weights for the vision tower's {missing[:3]}")
    visual.load_state_dict(found)
    if adapter_dir is not None:
        _merge_vision_lora(visual, Path(adapter_dir))
    model.model.visual = visual.float().eval()
    return model


def _merge_vision_lora(visual, adapter_dir: Path) -> None:
    """W += B @ A * alpha / r for the adapter's LoRA pairs on the vision tower's layers."""
    from safetensors.torch import load_file

    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    scale = float(cfg["lora_alpha"]) / float(cfg["r"])
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
    modules = dict(visual.named_modules())
    for key, a in weights.items():
        if ".visual." not in key or ".lora_A." not in key:
            continue
        b = weights[key.replace(".lora_A.", ".lora_B.")]
        name = key.split(".visual.", 1)[1].split(".lora_A.", 1)[0]
        layer = modules[name]
        layer.weight.data += (b.float() @ a.float()) * scale


def _data_url(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class VllmStream(Stream):
    """:class:`scoring.stream.Stream` over the server's streamed tokens."""

    def __init__(self, engine: VllmEngine, image: Image.Image, max_new_tokens: int) -> None:
        super().__init__(engine, image, max_new_tokens, engine.tokenizer)

    def tokens(self) -> Iterator[tuple[int, float]]:
        return iter(self._engine.tokens(self._image, self._max_new_tokens))


class VllmEngine(Engine):
    """:class:`scoring.engine.Engine`'s interface over an OpenAI-compatible server."""

    def __init__(
        self,
        visual_model,
        processor,
        *,
        url: str,
        served_name: str,
        timeout: float,
        retries: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(visual_model, processor, **kwargs)
        self.url = url.rstrip("/")
        self.served_name = served_name
        self.timeout = timeout
        self.retries = retries
        self.tokenizer = processor.tokenizer
        self.messages = build_messages(self.rubric, self.prompt_detail)
        self._features_lock = threading.Lock()  # the tower's hooks are per call

    @classmethod
    def load(  # type: ignore[override]
        cls,
        model_dir: str | Path,
        adapter_dir: str | Path | None = None,
        *,
        url: str = DEFAULT_URL,
        served_name: str = SERVED_NAME,
        timeout: float = 60.0,
        retries: int = 3,
        rubric: Rubric | None = None,
        max_new_tokens: int = 512,
        review: ReviewThresholds | None = None,
        max_pixels: int | None = None,
        **_ignored: Any,
    ) -> VllmEngine:
        from transformers import AutoProcessor

        from scoring.engine import cap_pixels

        model_dir = Path(model_dir)
        processor = AutoProcessor.from_pretrained(model_dir)
        if max_pixels is not None:
            cap_pixels(processor, max_pixels)
        info = read_info(model_dir)
        stats = ood.OodStats.load(model_dir)
        if adapter_dir is not None:
            info.update(read_info(Path(adapter_dir)))
            stats = ood.OodStats.load(adapter_dir)
        return cls(
            vision_only(model_dir, Path(adapter_dir) if adapter_dir else None),
            processor,
            url=url,
            served_name=served_name,
            timeout=timeout,
            retries=retries,
            model_id=model_identity(model_dir, adapter_dir),
            rubric=rubric,
            prompt_detail=info.get("prompt_detail", "full"),
            max_new_tokens=max_new_tokens,
            review=review,
            ood_stats=stats,
            calibration=Calibration.from_info(info),
        )

    @property
    def device(self):
        return next(self.model.model.visual.parameters()).device

    def features(self, images):
        with self._features_lock:
            return super().features(images)

    # -------------------------------------------------------------- the server

    def request_body(self, image: Image.Image, max_new_tokens: int) -> dict:
        content: list[dict] = []
        for part in self.messages[1]["content"]:
            if part["type"] == "image":
                content.append(
                    {"type": "image_url", "image_url": {"url": _data_url(self._prepare(image))}}
                )
            else:
                content.append(part)
        return {
            "model": self.served_name,
            "messages": [self.messages[0], {"role": "user", "content": content}],
            "stream": True,
            "temperature": 0.0,
            "max_tokens": max_new_tokens,
            "logprobs": True,
            "top_logprobs": 0,
            "return_tokens_as_token_ids": True,  # vLLM: tokens as "token_id:<n>"
            "skip_special_tokens": False,
        }

    def tokens(self, image: Image.Image, max_new_tokens: int) -> Iterator[tuple[int, float]]:
        """(token id, probability) of the answer, as the server streams it."""
        import requests

        body = self.request_body(image, max_new_tokens)
        for attempt in range(self.retries + 1):
            got_any = False
            try:
                with requests.post(
                    f"{self.url}/chat/completions",
                    json=body,
                    stream=True,
                    timeout=(min(10.0, self.timeout), self.timeout),
                ) as response:
                    if response.status_code >= 500:
                        raise ServerError(f"the server answered {response.status_code}")
                    if response.status_code != 200:
                        raise ServerError(
                            f"the server refused the request ({response.status_code}): "
                            f"{response.text[:300]}"
                        )
                    for token_id, prob in _sse_tokens(response.iter_lines()):
                        got_any = True
                        yield token_id, prob
                return
            except (requests.ConnectionError, requests.Timeout, ServerError) as exc:
                if got_any or attempt == self.retries:
                    raise ServerError(f"the serving engine at {self.url} failed: {exc}") from exc
                time.sleep(min(8.0, 0.5 * 2**attempt))

    def assess(
        self,
        images: Sequence[Image.Image],
        *,
        batch_size: int = 8,
        max_new_tokens=None,
        progress: Callable[[int, int], None] | None = None,
    ):
        """One Assessment per image: the requests go at once, and the server batches them.
        ``progress(done, total)``, when given, hears each answer as it comes back."""
        limit = max_new_tokens or self.max_new_tokens
        with ThreadPoolExecutor(max_workers=max(1, batch_size)) as pool:
            streams = [VllmStream(self, im, limit) for im in images]
            futures = [pool.submit(lambda s=s: s.assessment) for s in streams]
            if progress is not None:
                for done, future in enumerate(as_completed(futures), start=1):
                    future.result()  # a failed answer raises here, before it is counted
                    progress(done, len(images))
            return [f.result() for f in futures]

    def stream(self, image: Image.Image, *, max_new_tokens: int | None = None) -> VllmStream:
        return VllmStream(self, image, max_new_tokens or self.max_new_tokens)


def _sse_tokens(lines) -> Iterator[tuple[int, float]]:
    """Server-sent events of a streamed chat completion -> (token id, probability)."""
    for raw in lines:
        if not raw:
            continue
        line = raw.decode() if isinstance(raw, bytes) else raw
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        chunk = json.loads(data)
        if "error" in chunk:
            raise ServerError(f"the server failed mid-answer: {chunk['error']}")
        for choice in chunk.get("choices", []):
            logprobs = (choice.get("logprobs") or {}).get("content") or []
            for entry in logprobs:
                token = entry["token"]
                if not token.startswith("token_id:"):
                    raise ServerError(
                        "the server did not return token ids (is it vLLM, with "
                        "return_tokens_as_token_ids?)"
                    )
                yield int(token.split(":", 1)[1]), math.exp(float(entry["logprob"]))
