"""A scripted engine that honours the rubric it is loaded with, as the real one does: its
answer (GB, mild attenuation) is rendered and parsed under that rubric."""

from __future__ import annotations

import os

from scoring.answer import Answer, AnswerParser, Deduction, Structure, render
from scoring.rubric import default_rubric

ANSWER = Answer(
    structures=(
        Structure("gallbladder", (300, 420, 640, 610)),
        Structure("right_lobe", (120, 150, 880, 700)),  # the rubric's rule: every key structure
    ),
    planes=("GB",),
    deductions=(Deduction("ATT.mild", 2, "Shadow at the bottom"),),
)


class _Stream:
    def __init__(self, rubric) -> None:
        self.rubric, self.assessment = rubric, None

    def __iter__(self):
        parser = AnswerParser(self.rubric)
        yield from parser.feed(render(ANSWER, self.rubric) + "\n")
        yield from parser.finish()
        self.assessment = parser.assessment


class RubricAwareEngine:
    loads: list[tuple[str, str | None, str]] = []  # (model_dir, adapter_dir, rubric version)

    def __init__(self, model_dir, adapter_dir, rubric) -> None:
        self.rubric = rubric or default_rubric()
        self.model_id = f"aware@{os.path.basename(str(model_dir))}"
        RubricAwareEngine.loads.append((str(model_dir), adapter_dir, self.rubric.version))

    @classmethod
    def load(cls, model_dir, adapter_dir=None, rubric=None, **kwargs):
        return cls(model_dir, adapter_dir, rubric)

    def stream(self, image):
        image.load()
        return _Stream(self.rubric)
