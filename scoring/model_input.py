"""What the model reads: a stored scan placed on a black square, and the way back for its boxes.

Intake stores the scanner's sector cropped to its bounding box, so a stored scan is as wide or
as tall as the sector happens to be (366 x 252, 296 x 370, 582 x 416 ... on scanner screens).
The model is trained and served on one shape: the scan placed on a black square of side
``max(width, height)``, centred across and at the top (the probe's side, where a sector's apex
is), which is what a phantom drawn on its own square looks like and what the training pool
stores (``trainer.pool``). Every engine pads the same way (:meth:`scoring.engine.Engine._prepare`,
which the vLLM client shares), and the answer's boxes, on the square's 0-1000 grid, are moved
back onto the stored scan's own 0-1000 grid by :meth:`Placement.to_image` before anything
reads them. A square scan is left as it is. Plain Python and Pillow.

Before this, a crop went to the processor as it was: a 366 x 252 crop became 6 x 8 merged
patches, 12 visual tokens laid out as the model had never seen (it was trained on 8 x 8, 16
tokens, of square phantoms), part of why phantoms through intake were declined and misread
(issue 31); and some squares came out at 6 x 6 (see :func:`input_side`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from scoring.boxes import NORM, NormBox


@dataclass(frozen=True)
class Placement:
    """Where a ``width`` x ``height`` scan sits on its ``side`` x ``side`` square."""

    width: int
    height: int

    @property
    def side(self) -> int:
        return max(self.width, self.height)

    @property
    def left(self) -> int:
        return (self.side - self.width) // 2

    @property
    def top(self) -> int:
        return 0

    @property
    def square(self) -> bool:
        return self.width == self.height

    @classmethod
    def of(cls, size: tuple[int, int]) -> Placement:
        return cls(int(size[0]), int(size[1]))

    def to_square_pixels(self, box: Sequence[float]) -> list[float]:
        """A pixel box on the scan -> the same pixels on the square."""
        x0, y0, x1, y1 = box
        return [x0 + self.left, y0 + self.top, x1 + self.left, y1 + self.top]

    def unit_box(self, box: Sequence[float]) -> tuple[float, float, float, float]:
        """A pixel box on the scan -> the square's [0, 1] coordinates."""
        x0, y0, x1, y1 = self.to_square_pixels(box)
        s = float(self.side)
        return (x0 / s, y0 / s, x1 / s, y1 / s)

    def to_image(self, box: Sequence[float]) -> NormBox:
        """A box on the square's 0-1000 grid -> the scan's own 0-1000 grid, clamped to the
        scan; a box wholly on the padding keeps one unit of area at the nearest edge."""
        if self.square:
            return tuple(int(v) for v in box)  # type: ignore[return-value]
        s = self.side

        def axis(v: float, offset: int, extent: int) -> float:
            return min(max((v * s / NORM - offset) * NORM / extent, 0.0), float(NORM))

        x0, x1 = axis(box[0], self.left, self.width), axis(box[2], self.left, self.width)
        y0, y1 = axis(box[1], self.top, self.height), axis(box[3], self.top, self.height)
        out = []
        for lo, hi in ((x0, x1), (y0, y1)):
            a, b = round(lo), round(hi)
            if b <= a:  # no area left on the scan: one unit, inside the grid
                a, b = (a - 1, a) if a >= NORM else (a, a + 1)
            out.append((a, b))
        (ax, bx), (ay, by) = out
        return (ax, ay, bx, by)


def input_side(side: int, factor: int, min_pixels: int, max_pixels: int) -> int:
    """The side a ``side`` px square is shown to the model at: Qwen2-VL's own rule (the
    nearest multiple of ``factor``, shrunk or grown into ``[min_pixels, max_pixels]``) in
    integer arithmetic. The processor's floating-point version of the same rule takes some
    squares one step too far (a 471 px square comes out at 84 px, 9 visual tokens instead of
    the 16 the demo model reads), so the square is resized here first and the processor then
    leaves it as it is."""
    s = max(factor, round(side / factor) * factor)
    if s * s > max_pixels:
        s = max(factor, math.isqrt(max_pixels) // factor * factor)
    elif s * s < min_pixels:
        s = -(-(math.isqrt(min_pixels - 1) + 1) // factor) * factor
    return s


def model_view(image: Image.Image, factor: int, min_pixels: int, max_pixels: int) -> Image.Image:
    """What the model reads of ``image``: RGB, on its black square, at :func:`input_side`."""
    img = squared(image.convert("RGB"))  # a copy: the caller may close a file-backed image
    s = input_side(img.width, factor, min_pixels, max_pixels)
    if img.width != s:
        img = img.resize((s, s), Image.Resampling.BICUBIC)
    return img


def squared(image: Image.Image) -> Image.Image:
    """``image`` placed on a black square (see the module's docstring); a square is returned
    as it is."""
    where = Placement.of(image.size)
    if where.square:
        return image
    canvas = Image.new(image.mode, (where.side, where.side), 0)
    canvas.paste(image, (where.left, where.top))
    return canvas
