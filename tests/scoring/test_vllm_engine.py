"""The serving-engine backend (scoring/vllm_engine.py).

Without a server: the worker's vision tower alone gives the whole model's features (so
abstention is the same), a stream of server-sent events becomes token ids and probabilities,
and a server that does not answer is tried again, then reported as unavailable.

With the real vLLM server on the committed demo model (marker ``vllm``: `make test-serving`
starts it from .venv-vllm; `make test` leaves these out, see the README): the events and the
assessments equal the in-process engine's on the same images, confidences included.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from scoring.engine import Engine, EngineUnavailable
from scoring.vllm_engine import ServerError, VllmEngine, _sse_tokens
from trainer.ood import negatives, through_intake
from trainer.phantoms import generate

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "demo"
VLLM_PY = ROOT / ".venv-vllm" / "bin" / "python"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def in_process():
    return Engine.load(DEMO, device="cpu")


@pytest.mark.slow
def test_the_vision_tower_alone_gives_the_whole_models_features(in_process):
    import numpy as np

    thin = VllmEngine.load(DEMO, url="http://127.0.0.1:9/v1")
    # only the tower holds memory: the language model's weights are on the meta device
    assert all(p.is_meta for p in thin.model.model.language_model.parameters())
    assert not any(p.is_meta for p in thin.model.model.visual.parameters())
    images = [generate(index=i, seed=31, size=224)[0] for i in range(3)]
    images.append(through_intake(negatives("ct_like", 1, seed=2)[0])[0])
    assert np.array_equal(thin.features(images), in_process.features(images))
    assert thin.ood_scores(images) == in_process.ood_scores(images)
    assert thin.feature_bounds() == in_process.feature_bounds()


def test_a_recorded_stream_of_server_sent_events_gives_token_ids_and_probabilities():
    """The shape vLLM streams with logprobs and return_tokens_as_token_ids (recorded)."""
    chunks = [
        {"choices": [{"delta": {"role": "assistant"}, "logprobs": None}]},
        {"choices": [{"delta": {"content": "Struct"}, "logprobs": {"content": [
            {"token": "token_id:412", "logprob": -0.01, "bytes": [83]}]}}]},
        {"choices": [{"delta": {"content": "ures:"}, "logprobs": {"content": [
            {"token": "token_id:77", "logprob": 0.0, "bytes": [117]}]}}]},
    ]  # fmt: skip
    lines = [f"data: {json.dumps(c)}".encode() for c in chunks] + [b"", b"data: [DONE]"]
    got = list(_sse_tokens(lines))
    assert [t for t, _ in got] == [412, 77]
    assert got[0][1] == pytest.approx(0.99005, abs=1e-4) and got[1][1] == 1.0
    plain = {"choices": [{"logprobs": {"content": [{"token": "Str", "logprob": 0}]}}]}
    with pytest.raises(ServerError, match="token ids"):
        list(_sse_tokens([f"data: {json.dumps(plain)}".encode()]))
    with pytest.raises(ServerError, match="mid-answer"):
        list(_sse_tokens([b'data: {"error": {"message": "engine dead"}}']))


@pytest.mark.slow
def test_a_server_that_does_not_answer_is_tried_again_then_unavailable(tmp_path):
    port = _free_port()  # nothing listens there
    engine = VllmEngine.load(DEMO, url=f"http://127.0.0.1:{port}/v1", retries=2, timeout=5)
    image = generate(index=3, seed=31, size=224)[0]
    started = time.monotonic()
    with pytest.raises(EngineUnavailable, match="failed"):
        list(engine.stream(image))
    assert time.monotonic() - started >= 0.5 + 1.0  # two waits between three tries


# ------------------------------------------------------------------ the real server


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    if not VLLM_PY.exists():
        pytest.fail(".venv-vllm is missing: `make test-serving` creates it (scripts/vllm.sh)")
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1")
    argv = [
        str(VLLM_PY), "-m", "vllm.entrypoints.openai.api_server", "--model", str(DEMO),
        "--served-model-name", "abvlmq", "--host", "127.0.0.1", "--port", str(port),
        "--max-model-len", "1024", "--dtype", "float32", "--enforce-eager",
    ]  # fmt: skip
    with log.open("wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                    break
            except OSError:
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _same(a: list[dict], b: list[dict]) -> None:
    """Equal events, confidences within 0.01 (two float32 implementations of the same model)."""
    assert [e["type"] for e in a] == [e["type"] for e in b]
    for x, y in zip(a, b, strict=True):
        cx, cy = x.pop("confidence", None), y.pop("confidence", None)
        assert (cx is None) == (cy is None)
        if cx is not None:
            assert cx == pytest.approx(cy, abs=0.01)
        assert x == y


@pytest.mark.vllm
@pytest.mark.slow
def test_the_servers_answers_equal_the_in_process_engines(vllm_server, in_process):
    served = VllmEngine.load(DEMO, url=vllm_server)
    images = [generate(index=i, seed=515151, size=224)[0] for i in range(6)]
    images += [through_intake(im)[0] for im in images[:2]]
    for image in images:
        ours, theirs = in_process.stream(image), served.stream(image)
        _same(list(ours), list(theirs))
        a, b = ours.assessment, theirs.assessment
        assert (a.planes, a.score, a.grade, a.abstained) == (
            b.planes,
            b.score,
            b.grade,
            b.abstained,
        )
        assert [s.box for s in a.structures] == [s.box for s in b.structures]
        assert [d.item for d in a.deductions] == [d.item for d in b.deductions]
    # a batch (a clip's frames) goes as concurrent requests; the server batches them
    heard = []
    batch = served.assess(images[:4], batch_size=4, progress=lambda *p: heard.append(p))
    assert [r.score for r in batch] == [r.score for r in in_process.assess(images[:4])]
    assert heard == [(1, 4), (2, 4), (3, 4), (4, 4)]  # each answer counted as it came back
