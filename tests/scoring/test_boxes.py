from __future__ import annotations

import pytest

from scoring.boxes import clamp_box, from_norm, iou, is_valid_norm, to_norm


def test_pixel_boxes_convert_to_the_0_1000_grid_and_back():
    assert to_norm((128, 64, 384, 256), 512, 256) == (250, 250, 750, 1000)
    assert from_norm((250, 250, 750, 1000), 512, 256) == (128, 64, 384, 256)


def test_conversion_clamps_and_orders_corners():
    assert to_norm((-10, 300, 600, 20), 512, 256) == (0, 78, 1000, 1000)
    assert clamp_box((5, 5, -3, 9), 4, 4) == (0, 4, 4, 4)
    assert from_norm((-5, 0, 1200, 500), 100, 100) == (0, 0, 100, 50)


def test_zero_sized_images_are_refused():
    with pytest.raises(ValueError):
        to_norm((0, 0, 1, 1), 0, 10)


def test_iou_of_known_boxes():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0


def test_valid_normalised_boxes():
    assert is_valid_norm((0, 0, 1000, 1000))
    assert not is_valid_norm((0, 0, 1001, 10))
    assert not is_valid_norm((10, 0, 10, 10))
    assert not is_valid_norm((0, 0, 5))
