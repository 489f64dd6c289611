"""The model's report and the worker read the same pixels (issue 31): the report's data set of
scanner-sized screens through intake (trainer/upload_path.py) holds exactly the image an upload
of the same screen stores, which is what a worker's engine reads."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.web.conftest import upload
from trainer.upload_path import screen, through_intake


@pytest.mark.parametrize(("size", "chrome"), [((640, 480), True), ((1024, 768), False)])
def test_the_report_path_and_the_worker_path_are_the_same_pixels(resident, size, chrome):
    data, record = screen(3, 515151, size, chrome)
    image, moved = through_intake(data, record)
    scan = upload(resident, data)
    with scan.image.open("rb") as fh, Image.open(fh) as stored:
        worker_sees = np.asarray(stored.convert("RGB"))
    assert worker_sees.shape[:2] == (moved["height"], moved["width"])
    assert np.array_equal(worker_sees, np.asarray(image))


def test_the_boxes_follow_the_crop(resident):
    data, record = next(
        got for i in range(20) if (got := screen(i, 515151, (1024, 768), True))[1]["structures"]
    )
    image, moved = through_intake(data, record)
    for before, after in zip(record["structures"], moved["structures"], strict=False):
        assert before["id"] == after["id"]
        x0, y0, x1, y1 = after["box"]
        assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height
    offset = moved["meta"]["crop_box"][:2]
    first = record["structures"][0]["box"]
    assert moved["structures"][0]["box"][:2] == [max(first[0] - offset[0], 0),
                                                  max(first[1] - offset[1], 0)]  # fmt: skip
