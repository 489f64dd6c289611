"""render and parse are inverse; the incremental parser does not care how text is chunked."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.answer import AnswerParser, parse, parse_events, render
from tests.scoring.strategies import RUBRIC, answers


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(answers())
def test_parse_of_render_is_the_answer(answer):
    text = render(answer, RUBRIC)
    assessment = parse(text, RUBRIC)
    assert assessment.errors == []
    assert assessment.answer == answer
    assert assessment.complete and not assessment.needs_review
    expected = RUBRIC.score(d.item for d in answer.deductions)
    assert assessment.score == expected == assessment.stated_score
    assert assessment.grade == RUBRIC.grade(expected)
    assert assessment.rubric_version == RUBRIC.version


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(answers(), st.data())
def test_every_chunking_gives_the_same_events(answer, data):
    text = render(answer, RUBRIC)
    whole, _ = parse_events(text, RUBRIC)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=40)))
    parser = AnswerParser(RUBRIC)
    events = []
    start = 0
    for cut in [*cuts, len(text)]:
        events += parser.feed(text[start:cut])
        start = cut
    events += parser.finish()
    assert events == whole
    assert parser.assessment.answer == answer


@settings(max_examples=50, deadline=None)
@given(answers())
def test_character_by_character_streaming_emits_each_event_once_its_line_ends(answer):
    text = render(answer, RUBRIC)
    parser = AnswerParser(RUBRIC)
    seen_at = []
    for n, ch in enumerate(text):
        for event in parser.feed(ch):
            seen_at.append((event["type"], n))
    tail = parser.finish()
    # every event but the score arrives on the newline that ends its line
    assert all(text[n] == "\n" for _, n in seen_at)
    assert [e["type"] for e in tail] == ["score"]
    order = [t for t, _ in seen_at] + ["score"]
    assert order == sorted(order, key=["structure", "plane", "deduction", "score"].index)
