"""What the model reads (scoring/model_input.py): a stored scan on its black square, and the
answer's boxes moved back onto the scan before anything reads them (issue 31)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from scoring.answer import AnswerParser
from scoring.model_input import Placement, squared

ANSWER = (
    "Structures:\n"
    "<|object_ref_start|>Gallbladder<|object_ref_end|><|box_start|>(0,100),(500,600)<|box_end|>\n"
    "Plane: GB\n"
    "Deductions: none\n"
    "Score: 10\n"
)


def test_the_parser_moves_each_box_off_the_square_in_its_event_and_its_result():
    place = Placement(296, 370)  # a tall crop: the square adds 37 px each side
    parser = AnswerParser()
    parser.box_map = place.to_image
    events = parser.feed(ANSWER) + parser.finish()
    (structure,) = [e for e in events if e["type"] == "structure"]
    assert structure["box"] == list(parser.assessment.structures[0].box)
    x0, y0, x1, y1 = parser.assessment.structures[0].box
    assert (y0, y1) == (100, 600)  # the square's top is the scan's: rows keep their numbers
    assert x0 == 0  # 0-37 px is padding: clamped onto the scan's left edge
    assert x1 == round((500 * 370 / 1000 - 37) * 1000 / 296)  # 500 on the square, 500 px


def test_a_square_scan_is_read_as_it_is_and_others_on_a_black_square():
    img = Image.new("RGB", (200, 200), (90, 90, 90))
    assert squared(img) is img
    wide = squared(Image.new("RGB", (366, 252), (90, 90, 90)))
    assert wide.size == (366, 366)
    assert wide.getpixel((10, 10)) == (90, 90, 90) and wide.getpixel((10, 300)) == (0, 0, 0)
    tall = squared(Image.new("RGB", (296, 370), (90, 90, 90)))
    assert tall.getpixel((10, 10)) == (0, 0, 0) and tall.getpixel((185, 10)) == (90, 90, 90)


DEMO = Path(__file__).parents[2] / "models" / "demo"


@pytest.mark.slow
@pytest.mark.skipif(not (DEMO / "model.safetensors").is_file(), reason="models/demo not built")
def test_the_engine_reads_a_crop_on_its_square_and_answers_on_the_crops_grid():
    pytest.importorskip("transformers")
    from scoring.engine import Engine
    from trainer.upload_path import screen, through_intake

    engine = Engine.load(DEMO, device="cpu")
    data, record = screen(4, 515151, (1024, 768), chrome=True)
    stored, _moved = through_intake(data, record)
    assert stored.width != stored.height
    seen = engine._prepare(stored)
    assert seen.size == (112, 112)  # one size for every crop: the 16 tokens the model reads
    (result,) = engine.assess([stored])
    for s in result.structures:
        x0, y0, x1, y1 = s.box
        assert 0 <= x0 < x1 <= 1000 and 0 <= y0 < y1 <= 1000
    streamed = engine.stream(stored).assessment
    assert [s.box for s in streamed.structures] == [s.box for s in result.structures]
