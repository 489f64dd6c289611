"""The decoder and stream both engines build on: token ids (with their probabilities) in,
the parser's events with confidences out, the assessment at the end.

``Decoder`` turns a growing token stream into parser events, each structure, plane and
deduction with the confidence of its line (:func:`line_confidence`); ``mark_for_review`` flags
what goes to a person (low confidence, a score near a grade boundary, any error); ``abstain``
turns an assessment into the model's refusal for an image unlike its training (its
out-of-distribution score). ``Stream`` is the iteration both engines give a page: the
out-of-distribution check first, then a subclass's tokens (``tokens``: the in-process model in
a thread, or the vLLM server's stream), then the end. No torch here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scoring import ood
from scoring.answer import AnswerParser, Assessment
from scoring.calibration import GradeTrust
from scoring.events import AbstainEvent, Event, abstain_event
from scoring.model_input import Placement
from scoring.rubric import Rubric

ABVLMQ_FILE = "abvlmq.json"  # prompt form and rubric a checkpoint was trained with


@dataclass(frozen=True)
class ReviewThresholds:
    """When an assessment goes to a human: near a grade boundary, or not confident enough."""

    # score within this of an inner grade boundary, inclusive: with half points a 7.5 is as
    # much a Good as an Excellent, so a person decides
    boundary_margin: float = 0.5
    min_confidence: float = 0.5  # any structure/plane/deduction line below this
    # fitted on the checkpoint's calibration set (scoring.calibration): when present, the
    # grade's flag is the trust model's, not the two thresholds above
    grade_trust: GradeTrust | None = None
    box_threshold: float | None = None  # a box less confident than this is not drawn as found
    ood_threshold: float | None = None  # the checkpoint's abstention threshold (a feature)


def line_confidence(pieces: Sequence[tuple[str, float]]) -> float | None:
    """Geometric mean of the probabilities of a line's decision tokens.

    ``pieces`` are (decoded text, probability) of the tokens of one line. Every token counts
    except digits after the first of a number: the model's doubt between 412 and 413 is box
    jitter, not doubt about what it sees, and would otherwise drown the signal.
    """
    logs: list[float] = []
    prev_digit = False
    for text, p in pieces:
        digit = text.isdigit()
        if not text.strip() or (digit and prev_digit):
            prev_digit = digit
            continue
        prev_digit = digit
        logs.append(math.log(max(p, 1e-12)))
    if not logs:
        return None
    return round(math.exp(sum(logs) / len(logs)), 4)


class Decoder:
    """Token ids (with probabilities) in, parser events with confidences out.

    Used by both ``assess`` and ``stream`` so the two give the same assessment for the same
    tokens. Each token is decoded as the difference between the decoded prefixes, which is
    safe for byte-level tokens that split a character.
    """

    def __init__(
        self,
        tokenizer,
        rubric: Rubric,
        stop_ids: set[int],
        plane_map: Callable[[float], float] | None = None,
        placement: Placement | None = None,
        box_threshold: float | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.plane_map = plane_map  # the checkpoint's plane calibration, if it has one
        self.parser = AnswerParser(rubric)
        if placement is not None and not placement.square:  # boxes back onto the scan
            self.parser.box_map = placement.to_image
        self.stop_ids = stop_ids
        self.ids: list[int] = []
        self.text = ""
        self.lines: dict[int, list[tuple[str, float]]] = {}
        self.stopped = False
        self._n_structures = 0
        self._n_deductions = 0
        self.box_threshold = box_threshold  # the engine's: boxes under it are marked unsure

    def add(self, token_id: int, prob: float) -> list[Event]:
        if self.stopped:
            return []
        if token_id in self.stop_ids:
            self.stopped = True
            return []
        self.ids.append(token_id)
        full = self.tokenizer.decode(self.ids, skip_special_tokens=False)
        if full.endswith("\ufffd"):  # an incomplete UTF-8 sequence: wait for the next token
            return []
        piece, self.text = full[len(self.text) :], full
        line = self.text.count("\n", 0, len(self.text) - len(piece)) + 1
        for k, part in enumerate(piece.split("\n")):
            if part:
                self.lines.setdefault(line + k, []).append((part, prob))
        return self._annotate(self.parser.feed(piece))

    def finish(self, policy: ReviewThresholds, extra_errors: Sequence[Event] = ()) -> list[Event]:
        events = self._annotate(self.parser.finish())
        result = self.parser.assessment
        # an engine failure explains whatever the parser then found missing: report it first
        result.errors[:0] = list(extra_errors)  # type: ignore[list-item]
        events = [*extra_errors, *events]
        if policy.box_threshold is not None:  # the grade is scored already: only the drawing
            keep = [
                s for s in result.structures
                if s.confidence is None or s.confidence >= policy.box_threshold
            ]  # fmt: skip
            result.unsure_structures = [s for s in result.structures if s not in keep]
            result.structures = keep
        mark_for_review(result, policy, self.parser.rubric)
        return events

    @property
    def assessment(self) -> Assessment:
        return self.parser.assessment

    def _annotate(self, events: list[Event]) -> list[Event]:
        r = self.parser.assessment
        for ev in events:
            kind = ev["type"]
            if kind not in ("structure", "plane", "deduction"):
                continue
            conf = line_confidence(self.lines.get(ev["line"], []))  # type: ignore[typeddict-item]
            if conf is None:
                continue
            if kind == "plane" and self.plane_map is not None:
                conf = round(self.plane_map(conf), 4)
            ev["confidence"] = conf  # type: ignore[typeddict-unknown-key]
            if kind == "structure" and self.box_threshold is not None:
                # drawn as a guess, not as found: the box is less sure than the checkpoint's
                # threshold (the browser draws it dashed, the record leaves it out)
                ev["unsure"] = conf < self.box_threshold  # type: ignore[typeddict-unknown-key]
            if kind == "structure":
                i = self._n_structures
                r.structures[i] = replace(r.structures[i], confidence=conf)
                self._n_structures += 1
            elif kind == "deduction":
                i = self._n_deductions
                r.deductions[i] = replace(r.deductions[i], confidence=conf)
                self._n_deductions += 1
            else:
                r.plane_confidence = conf
        return events


def trust_features(
    result: Assessment, rubric: Rubric, ood_threshold: float | None = None
) -> dict[str, float]:
    """What the answer carries about its own grade (:data:`scoring.calibration.TRUST_FEATURES`):
    the same numbers at calibration (``trainer calibrate``) and in use."""
    lines = [s.confidence for s in (*result.structures, *result.unsure_structures)]
    deductions = [d.confidence for d in result.deductions if d.confidence is not None]
    lines = [c for c in (*lines, *deductions) if c is not None]
    bounds = [g.min for g in rubric.grades[1:]]
    distance = 3.0
    if result.score is not None and bounds:
        distance = min(3.0, min(abs(result.score - b) for b in bounds))
    ood_ratio = 0.0
    if result.ood_score is not None and ood_threshold:
        ood_ratio = min(5.0, max(0.0, result.ood_score / ood_threshold))
    return {
        "plane_confidence": float(result.plane_confidence or 0.0),
        "least_line": float(min(lines, default=1.0)),
        "mean_deduction": float(sum(deductions) / len(deductions)) if deductions else 1.0,
        "boundary_distance": float(distance),
        "ood_ratio": float(ood_ratio),
        "deductions": float(len(result.deductions)),
        "structures": float(len(result.structures) + len(result.unsure_structures)),
    }


def mark_for_review(result: Assessment, policy: ReviewThresholds, rubric: Rubric) -> None:
    """Flag the assessment for an instructor, and say why in words (``review_reasons``): an
    answer the model could not finish or read back, or a grade it is unsure of. With a fitted
    grade trust (``policy.grade_trust``) the grade is unsure below its threshold; without, a
    line below ``min_confidence`` or a score near a grade boundary makes it so."""
    reasons: list[str] = []
    if result.errors:
        reasons.append("the AI's answer could not be read in full")
    elif not result.complete:
        reasons.append("the AI did not finish its answer")
    if policy.grade_trust is not None and result.score is not None:
        features = trust_features(result, rubric, policy.ood_threshold)
        result.grade_trust = round(policy.grade_trust.probability(features), 4)
        if result.grade_trust < policy.grade_trust.threshold:
            why = policy.grade_trust.why(features)
            reasons.append("the AI is unsure of the grade" + (": " + "; ".join(why) if why else ""))
    elif result.score is not None:
        confidences = [s.confidence for s in result.structures] + [
            d.confidence for d in result.deductions
        ]
        confidences.append(result.plane_confidence)
        low = [c for c in confidences if c is not None and c < policy.min_confidence]
        bounds = [g.min for g in rubric.grades[1:]]
        near = [b for b in bounds if abs(result.score - b) <= policy.boundary_margin]
        why = []
        if low:
            why.append(f"one of its findings is uncertain ({min(low):.0%} sure)")
        if near:
            why.append(f"the score {result.score:g} is at the {near[0]:g}-point grade boundary")
        if why:
            reasons.append("the AI is unsure of the grade: " + "; ".join(why))
    result.review_reasons = reasons
    result.needs_review = bool(result.needs_review or reasons)


def abstain(result: Assessment, score: float, stats: ood.OodStats) -> AbstainEvent:
    """Turn ``result`` into the model's refusal: no findings, no grade, an instructor's look."""
    result.ood_score = score
    result.abstained = True
    result.needs_review = True
    result.complete = False
    result.review_reasons = [
        "the AI did not assess it: the image is unlike the scans it was trained on"
    ]
    return abstain_event(score, stats.threshold)


def read_info(folder: Path) -> dict[str, Any]:
    path = folder / ABVLMQ_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


class Stream:
    """Iterate for the parser's events while the model generates; then ``.assessment``.

    The out-of-distribution check comes first (an image unlike the model's training is
    declined with one event and nothing generated); then each token of ``tokens`` goes through
    the decoder until a stop token; then the end (``extra_errors``: what went wrong on the way,
    reported first). Leaving the loop early stops what ``tokens`` started, if it can.
    """

    def __init__(self, engine, image, max_new_tokens: int, tokenizer) -> None:
        self._engine = engine
        self._image = image
        self._max_new_tokens = max_new_tokens
        self._decoder = Decoder(
            tokenizer,
            engine.rubric,
            engine.stop_ids,
            engine.calibration.plane,
            Placement.of(image.size),
            engine.review.box_threshold,
        )
        self._started = False
        self._done = False
        self.extra_errors: list[Event] = []

    @property
    def assessment(self) -> Assessment:
        if not self._done:
            for _ in self:
                pass
        return self._decoder.assessment

    def tokens(self) -> Iterator[tuple[int, float]]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Event]:
        if self._started:
            return
        self._started = True
        score = self._engine.ood_scores([self._image])[0]
        result = self._decoder.assessment
        result.ood_score = score
        stats = self._engine.ood_stats
        if score is not None and stats is not None and stats.abstains(score):
            yield abstain(result, score, stats)
            self._done = True
            return
        tokens = self.tokens()
        try:
            for token_id, prob in tokens:
                yield from self._decoder.add(token_id, prob)
                if self._decoder.stopped:
                    break
        finally:
            close = getattr(tokens, "close", None)
            if close is not None:
                close()  # the generator's own clean-up: stop the model
        yield from self._decoder.finish(self._engine.review, self.extra_errors)
        self._done = True
