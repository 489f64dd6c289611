"""The training pool takes the path an upload takes (issue 31).

A phantom on a scanner's screen reaches the model through intake (crop to the sector, masking)
and onto the model's black square (scoring/model_input.py). The pool draws tens of thousands,
so a phantom without screen text takes intake's equivalent (the same sector finder, the crop,
nothing inside changed) instead of the whole ``load_scan``: these tests hold the equivalent to
``load_scan``'s pixels, and the pool's image, boxes and maps to what an upload of the same screen
gives the engine.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("transformers")

from scoring.imaging import load_scan
from scoring.model_input import Placement, input_side, model_view, squared
from scoring.rubric import default_rubric
from trainer.phantoms import generate
from trainer.upload_path import (
    SIZES,
    intake_pixels,
    on_screen,
    phantom_side,
    pool_item,
    screen,
    through_intake,
)

SEED = 31


def _png(image) -> bytes:
    buf = BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_the_crop_alone_is_not_intakes_equivalent_even_without_screen_text():
    """Why the pool runs ``load_scan`` on every phantom: intake's pixel rules sometimes fill
    bright anatomy of a phantom with no screen text of its own, which a plain crop would not."""
    from scoring.imaging.sector import find_scan_area

    size = SIZES[1]
    phantom, record = generate(index=11, seed=SEED, size=phantom_side(size))
    assert not record["meta"]["chrome"]
    canvas = on_screen(phantom, size)[0]
    stored, box = intake_pixels(canvas)
    upload = load_scan(_png(canvas))
    assert tuple(upload.crop_box) == box
    assert np.array_equal(np.asarray(stored), np.asarray(upload.image))
    rgb = np.asarray(canvas)
    (x0, y0, x1, y1), sector = find_scan_area(rgb)
    crop = rgb[y0:y1, x0:x1] * sector[y0:y1, x0:x1][:, :, None]
    assert upload.metadata["text_pixels_masked"] > 0
    assert not np.array_equal(crop, np.asarray(upload.image))


def _view(image):
    return model_view(image, 28, 112 * 112, 112 * 112)


@pytest.mark.parametrize("size", SIZES)
def test_a_pool_item_is_what_the_engine_reads_of_the_same_upload(size):
    rubric = default_rubric()
    for index in range(3):
        image, record, maps = pool_item(index, SEED, size, 16, rubric, _view)
        data, screen_record = screen(index, SEED, size, chrome=False)
        stored, moved = through_intake(data, screen_record)
        assert np.array_equal(np.asarray(image), np.asarray(_view(stored)))
        # the boxes: the stored scan's, moved onto the square
        place = Placement.of(stored.size)
        assert record["width"] == record["height"] == place.side
        got = [(s["id"], s["box"]) for s in record["structures"]]
        want = [(s["id"], place.to_square_pixels(s["box"])) for s in moved["structures"]]
        assert got == want
        # the maps: each structure's share sits in the cells its box covers, and nowhere else
        for k, sid in enumerate(rubric.structures):
            box = next((b for s, b in got if s == sid), None)
            if box is None:
                continue
            cells = np.argwhere(maps[k] > 0.02)
            assert len(cells), sid
            x0, y0, x1, y1 = (v * 16 / place.side for v in box)
            assert cells[:, 0].min() >= int(y0) - 1 and cells[:, 0].max() <= int(y1) + 1
            assert cells[:, 1].min() >= int(x0) - 1 and cells[:, 1].max() <= int(x1) + 1


def test_every_square_reaches_the_processor_at_one_size():
    """Qwen2-VL's processor takes some squares a step too far in floating point (a 471 px
    square to 84 px: 9 visual tokens where the demo model reads 16) and a crop of another shape
    to another grid (366 x 252 to 84 x 112); the model view reads every one at 112 px."""
    from transformers import Qwen2VLImageProcessor

    ip = Qwen2VLImageProcessor(min_pixels=112 * 112, max_pixels=112 * 112)
    grids = set()
    for side in (150, 170, 224, 300, 366, 430, 471, 582, 608, 1000):
        out = ip(images=[_view(Image.new("RGB", (side, side * 2 // 3)))], return_tensors="pt")
        grids.add(tuple(out["image_grid_thw"][0].tolist()))
    assert grids == {(1, 8, 8)}
    raw = ip(images=[Image.new("RGB", (471, 471))], return_tensors="pt")
    assert tuple(raw["image_grid_thw"][0].tolist()) == (1, 6, 6)  # why input_side exists
    raw = ip(images=[Image.new("RGB", (366, 252))], return_tensors="pt")
    assert tuple(raw["image_grid_thw"][0].tolist()) == (1, 6, 8)  # why the square
    assert input_side(366, 28, 112 * 112, 112 * 112) == 112
    assert input_side(100, 28, 200_000, 1_000_000) == 448  # grown into a range
    assert input_side(2000, 28, 3136, 1_003_520) == 980  # shrunk into it


def test_boxes_come_back_from_the_square_onto_the_scan():
    wide, tall = Placement(366, 252), Placement(296, 370)
    for place in (wide, tall):
        img = squared(Image.new("RGB", (place.width, place.height), (40, 40, 40)))
        assert img.size == (place.side, place.side)
        box = [30, 40, 200, 180]  # pixels on the scan
        on_square = place.to_square_pixels(box)
        norm = [round(v * 1000 / place.side) for v in on_square]
        back = place.to_image(norm)
        want = [box[0] * 1000 / place.width, box[1] * 1000 / place.height,
                box[2] * 1000 / place.width, box[3] * 1000 / place.height]  # fmt: skip
        assert max(abs(a - b) for a, b in zip(back, want, strict=True)) <= 4
    # a box wholly on the padding keeps one unit of area at the scan's edge
    assert tall.to_image((0, 0, 50, 50)) == (0, 0, 1, 50)
    assert tall.to_image((950, 0, 1000, 50)) == (999, 0, 1000, 50)
    assert Placement(200, 200).to_image((1, 2, 3, 4)) == (1, 2, 3, 4)


def test_a_structure_the_crop_cut_off_is_deducted_as_not_displayed():
    from scoring.records import check_record
    from trainer.upload_path import cut_by_intake

    rubric = default_rubric()
    _, record = generate(index=2, seed=SEED, size=224, planes=["GB"], deductions=[])
    assert not check_record(record, rubric)[1] and record["score"] == 10
    cut = {**record, "structures": [s for s in record["structures"] if s["id"] != "gallbladder"]}
    assert check_record(cut, rubric)[1]  # as the crop left it: neither boxed nor deducted
    fixed = cut_by_intake(cut, rubric)
    assert "GB.gallbladder.missing" in [d["item"] for d in fixed["deductions"]]
    assert fixed["score"] == 10 - rubric.items["GB.gallbladder.missing"].points
    assert not check_record(fixed, rubric)[1]
    assert cut_by_intake(record, rubric) is record  # nothing cut: the record as it was
