"""A scripted engine for the web tests: the real engine's API, a fixed answer, no model.

It renders one known answer with scoring.answer and feeds it, line by line, through the real
incremental parser, so the events are exactly what the real engine would emit for that answer.
Environment knobs (read at each stream, so a worker subprocess can be steered):

The plane event carries a confidence (PLANE_CONFIDENCE), as the real engine's calibrated
plane line does.

- ABVLMQ_SCRIPTED_DELAY: seconds to wait before each line, or each batch of assess (default 0);
- ABVLMQ_SCRIPTED_FAIL: "1" makes every stream raise, like a crashing model.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from scoring.answer import Answer, AnswerParser, Deduction, Structure, parse, render
from scoring.events import Event
from scoring.rubric import default_rubric

ANSWER = Answer(
    structures=(
        Structure("gallbladder", (300, 420, 640, 610)),
        Structure("right_lobe", (120, 150, 880, 700)),
    ),
    planes=("GB",),
    deductions=(
        Deduction("GB.gallbladder.incomplete", 2, "Fundus cut off", (300, 420, 640, 610)),
        Deduction("ATT.mild", 2, "Shadow over the lower left", (100, 700, 300, 900)),
    ),
)
TEXT = render(ANSWER)
EXPECTED_TYPES = ["structure", "structure", "plane", "deduction", "deduction", "score"]
EXPECTED_SCORE, EXPECTED_GRADE = 6.0, "Good"
PLANE_CONFIDENCE = 0.82


def _with_confidence(events):
    for ev in events:
        if ev["type"] == "plane":
            ev["confidence"] = PLANE_CONFIDENCE
        yield ev


class ScriptedStream:
    def __init__(self, rubric) -> None:
        self.rubric = rubric
        self.assessment = None

    def __iter__(self) -> Iterator[Event]:
        if os.environ.get("ABVLMQ_SCRIPTED_FAIL") == "1":
            raise RuntimeError("scripted model failure")
        delay = float(os.environ.get("ABVLMQ_SCRIPTED_DELAY", "0"))
        parser = AnswerParser(self.rubric)
        for line in TEXT.split("\n"):
            if delay:
                time.sleep(delay)
            yield from _with_confidence(parser.feed(line + "\n"))
        yield from _with_confidence(parser.finish())
        self.assessment = parser.assessment


class ScriptedEngine:
    loads = 0  # how often this process loaded it: once per process is the contract
    batches: list[int] = []  # the size of each assess() batch in this process

    def __init__(self, model_dir: str, rubric=None) -> None:
        self.model_id = f"scripted@{os.path.basename(str(model_dir)) or 'none'}"
        self.rubric = rubric or default_rubric()

    @classmethod
    def load(cls, model_dir, adapter_dir=None, rubric=None, **kwargs) -> ScriptedEngine:
        cls.loads += 1
        return cls(model_dir, rubric)

    def assess(self, images, *, batch_size: int = 8, max_new_tokens=None, progress=None) -> list:
        """The scripted answer for every image, except the middle one of those given, which has
        no deductions (10, Excellent): a clip's best frame is known in advance. Taken in
        batches of ``batch_size`` as the real engine does, each batch's size recorded and
        ``progress(done, total)`` called after it (ABVLMQ_SCRIPTED_DELAY: seconds a batch
        takes)."""
        if os.environ.get("ABVLMQ_SCRIPTED_FAIL") == "1":
            raise RuntimeError("scripted model failure")
        delay = float(os.environ.get("ABVLMQ_SCRIPTED_DELAY", "0"))
        best = Answer(ANSWER.structures, ANSWER.planes, ())
        out = []
        step = max(batch_size, 1)
        for start in range(0, len(images), step):
            chunk = images[start : start + step]
            ScriptedEngine.batches.append(len(chunk))
            if delay:
                time.sleep(delay)
            for i, image in enumerate(chunk, start=start):
                image.load()
                answer = best if i == len(images) // 2 else ANSWER
                out.append(parse(render(answer, self.rubric), self.rubric))
            if progress is not None:
                progress(len(out), len(images))
        return out

    def stream(self, image) -> ScriptedStream:
        image.load()
        return ScriptedStream(self.rubric)
