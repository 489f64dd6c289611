"""The live view's fast path: one frame of a scanner's video in, the plane, its key structures,
an estimate of the score and "is this a scan of a known plane at all" out, in milliseconds.

The full assessment generates an answer token by token (a second or more a scan on two CPU
cores); a resident moving the probe needs an answer five times a second. The fast path runs
only the active model's vision tower, once per frame, through :meth:`scoring.engine.Engine.
features` (the same summary of the tower's tokens and layers the abstention reads), and reads
from it with a small linear head fitted on phantoms (``python -m trainer live-head``):

- ``planes``: a softmax over the rubric's planes (the non-standard view included), its top
  probability mapped to the share of such answers that were right on held-out phantoms
  (:class:`scoring.calibration.PlaneCalibration`, the same monotone map the full model's plane
  confidence goes through);
- ``structures``: for each key structure of the rubric, the probability it is shown;
- ``score``: a linear estimate of the rubric score (0-10), clipped, with its grade.

The out-of-distribution score is the checkpoint's own (:mod:`scoring.ood`) on the same
features, so a probe in air or a view of another organ reads "not a scan of a known plane"
rather than a plane. A frozen screen is told by the frames themselves (:class:`Smoother`):
the same picture for two seconds is no live scan.

The head lives beside the checkpoint (``live_head.npz``, with ``live_head.json`` saying how it
was made and how well it does); a checkpoint without one has no live view. Frames are scored in
memory and never written anywhere. Numpy here; torch only through the engine passed in.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from scoring.calibration import PlaneCalibration
from scoring.rubric import Rubric

HEAD_FILE = "live_head.npz"
INFO_FILE = "live_head.json"
STRUCTURE_SHOWN = 0.5  # a structure's probability at or above this is ticked as shown
MAX_FRAME_BYTES = 512 * 1024  # a downscaled frame is a few kB; anything near this is abuse
MAX_FRAME_SIDE = 1024  # decoded pixels per side, checked before the pixels are decoded
FROZEN_SECONDS = 2.0  # the same picture this long is a frozen screen, not a live scan
FROZEN_DIFFERENCE = 0.6  # mean absolute grey-level change (0-255) under which frames are "same"


class FrameRefused(ValueError):
    """A frame the fast path does not read (not an image, too large): ``code`` and words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def decode_frame(data: bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> Image.Image:
    """A JPEG or PNG frame's pixels (RGB), or :class:`FrameRefused`. The size is checked before
    anything is decoded, the header's dimensions before the pixels are."""
    if len(data) > max_bytes:
        raise FrameRefused("too_large", f"A frame is at most {max_bytes // 1024} kB.")
    if not (data.startswith(b"\xff\xd8\xff") or data.startswith(b"\x89PNG\r\n\x1a\n")):
        raise FrameRefused("not_an_image", "A frame must be a JPEG or PNG image.")
    try:
        with Image.open(BytesIO(data)) as im:
            if im.format not in ("JPEG", "PNG"):
                raise FrameRefused("not_an_image", "A frame must be a JPEG or PNG image.")
            if max(im.size) > MAX_FRAME_SIDE or min(im.size) < 8:
                raise FrameRefused(
                    "bad_size", f"A frame is 8 to {MAX_FRAME_SIDE} pixels a side, not {im.size}."
                )
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise FrameRefused("not_an_image", "The frame could not be read as an image.") from exc


# ------------------------------------------------------------------ the head


@dataclass(frozen=True)
class LiveHead:
    """Linear read-outs of the tower's features (standardised by ``mean`` and ``scale``)."""

    planes: tuple[str, ...]
    structures: tuple[str, ...]
    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    plane_w: np.ndarray  # (D, P)
    plane_b: np.ndarray  # (P,)
    structure_w: np.ndarray  # (D, S)
    structure_b: np.ndarray  # (S,)
    score_w: np.ndarray  # (D,)
    score_b: float
    calibration: PlaneCalibration | None = None

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """(N, D) features -> plane probabilities (N, P), structure probabilities (N, S),
        score estimates (N,)."""
        f = np.atleast_2d(np.asarray(features, np.float64))
        if f.shape[1] != self.dim:
            raise ValueError(
                f"this live head reads {self.dim} features, got {f.shape[1]}: "
                "it belongs to another checkpoint"
            )
        z = (f - self.mean) / self.scale
        logits = z @ self.plane_w + self.plane_b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        s = 1.0 / (1.0 + np.exp(-np.clip(z @ self.structure_w + self.structure_b, -40, 40)))
        score = np.clip(z @ self.score_w + self.score_b, 0.0, 10.0)
        return {"planes": p, "structures": s, "score": score}

    def confidence(self, raw: float) -> float:
        return float(self.calibration(raw)) if self.calibration is not None else float(raw)

    def save(self, folder: str | Path, info: dict[str, Any] | None = None) -> Path:
        path = Path(folder) / HEAD_FILE
        cal = self.calibration
        np.savez_compressed(
            path,
            planes=np.array(self.planes),
            structures=np.array(self.structures),
            mean=self.mean.astype(np.float32),
            scale=self.scale.astype(np.float32),
            plane_w=self.plane_w.astype(np.float32),
            plane_b=self.plane_b.astype(np.float32),
            structure_w=self.structure_w.astype(np.float32),
            structure_b=self.structure_b.astype(np.float32),
            score_w=self.score_w.astype(np.float32),
            score_b=np.array([self.score_b]),
            cal_x=np.array(cal.x if cal else []),
            cal_y=np.array(cal.y if cal else []),
        )
        if info is not None:
            (Path(folder) / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", "utf-8")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> LiveHead | None:
        """The head stored beside a checkpoint, or None when it has none."""
        path = Path(folder) / HEAD_FILE
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            cal = None
            if z["cal_x"].size:
                cal = PlaneCalibration(tuple(map(float, z["cal_x"])), tuple(map(float, z["cal_y"])))
            return cls(
                planes=tuple(str(p) for p in z["planes"]),
                structures=tuple(str(s) for s in z["structures"]),
                mean=z["mean"].astype(np.float64),
                scale=z["scale"].astype(np.float64),
                plane_w=z["plane_w"].astype(np.float64),
                plane_b=z["plane_b"].astype(np.float64),
                structure_w=z["structure_w"].astype(np.float64),
                structure_b=z["structure_b"].astype(np.float64),
                score_w=z["score_w"].astype(np.float64),
                score_b=float(z["score_b"][0]),
                calibration=cal,
            )


# ------------------------------------------------------------------ one frame


@dataclass(frozen=True)
class FrameResult:
    """What the fast path read of one frame."""

    known: bool  # False: not a scan of a known plane (out of distribution)
    plane: str | None  # the most likely plane (None when not known)
    confidence: float  # calibrated: the share of such answers right on held-out phantoms
    planes: dict[str, float]  # every plane's probability (the head's softmax)
    structures: dict[str, float]  # every structure's probability of being shown
    score: float  # the estimated rubric score, 0-10
    ood: float | None  # the checkpoint's out-of-distribution score (None: no statistics)
    ood_threshold: float | None
    size: tuple[int, int] = (0, 0)  # the frame's pixels as received
    colour: float = 0.0  # share of its pixels in colour: a scan is grey (see _colour_share)
    grey: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.zeros(0))


def frame_side(engine) -> int:
    """The side of the square ``engine``'s model reads (pixels): frames need be no larger."""
    from scoring.engine import pixel_range
    from scoring.model_input import input_side

    factor, low, high = pixel_range(engine.processor)
    return int(input_side(4096, factor, low, high))


class LiveScorer:
    """The active model's tower (an :class:`scoring.engine.Engine`) and its live head."""

    def __init__(self, engine, head: LiveHead) -> None:
        if tuple(head.planes) != tuple(engine.rubric.planes):
            raise ValueError("the live head was fitted on another rubric's planes")
        self.engine = engine
        self.head = head
        self.rubric: Rubric = engine.rubric

    @classmethod
    def load(cls, model_dir: str | Path, adapter_dir: str | Path | None = None, **options):
        """The engine of ``model_dir`` (and adapter) with the head stored beside its weights (the
        adapter's, when it has one); None when there is no head."""
        from scoring.engine import Engine  # torch: only when a live view is asked for

        head = LiveHead.load(adapter_dir) if adapter_dir else None
        head = head or LiveHead.load(model_dir)
        if head is None:
            return None
        return cls(Engine.load(model_dir, adapter_dir, **options), head)

    @property
    def side(self) -> int:
        return frame_side(self.engine)

    def score(self, image: Image.Image) -> FrameResult:
        return self.score_many([image])[0]

    def score_many(self, images: Sequence[Image.Image]) -> list[FrameResult]:
        features = self.engine.features(images)
        stats = self.engine.ood_stats
        ood = stats.score(features) if stats is not None else [None] * len(images)
        out = self.head.predict(features)
        results = []
        for n, image in enumerate(images):
            p = out["planes"][n]
            k = int(p.argmax())
            o = None if ood[n] is None else float(ood[n])
            known = o is None or not stats.abstains(o)
            results.append(
                FrameResult(
                    known=known,
                    plane=self.head.planes[k] if known else None,
                    confidence=round(self.head.confidence(float(p[k])), 4) if known else 0.0,
                    planes={
                        c: round(float(v), 4) for c, v in zip(self.head.planes, p, strict=True)
                    },
                    structures={
                        s: round(float(v), 4)
                        for s, v in zip(self.head.structures, out["structures"][n], strict=True)
                    },
                    score=round(float(out["score"][n]), 2),
                    ood=None if o is None else round(o, 3),
                    ood_threshold=None if stats is None else round(float(stats.threshold), 3),
                    size=image.size,
                    colour=_colour_share(image),
                    grey=_thumbnail(image),
                )
            )
        return results


def _colour_share(image: Image.Image) -> float:
    """The share of pixels whose channels differ by more than 60 levels: B-mode is grey, so
    this says a frame carries the screen's coloured furniture (or Doppler), not what it is."""
    a = np.asarray(image.convert("RGB"), np.int16)
    return round(float(((a.max(axis=2) - a.min(axis=2)) > 60).mean()), 4)


def _thumbnail(image: Image.Image) -> np.ndarray:
    """A 32 x 32 grey thumbnail: enough to tell a frozen screen, nothing to store."""
    return np.asarray(image.convert("L").resize((32, 32), Image.Resampling.BILINEAR), np.float32)


# ------------------------------------------------------------------ what the page shows


class Smoother:
    """What the resident sees: the frames of the last ``window`` seconds averaged, so the plane
    and the meter do not flicker from frame to frame.

    The plane is the one with the highest mean probability over the window's known frames, its
    confidence their mean calibrated confidence when they named it (a plane named in half the
    frames is half as sure); the structures are the mean probabilities of the plane's key
    structures; the quality is the mean score estimate. When most of the window's frames are
    unknown, or the picture has not changed for :data:`FROZEN_SECONDS`, the view says so.
    """

    def __init__(self, rubric: Rubric, window: float = 1.5) -> None:
        self.rubric = rubric
        self.window = window
        self.frames: deque[tuple[float, FrameResult]] = deque()
        self.still_since: float | None = None
        self.last_grey: np.ndarray | None = None

    def add(self, result: FrameResult, now: float | None = None) -> dict[str, Any]:
        now = time.monotonic() if now is None else now
        if self.last_grey is not None and result.grey.size and self.last_grey.size:
            same = float(np.abs(result.grey - self.last_grey).mean()) < FROZEN_DIFFERENCE
            if not same:
                self.still_since = None
            elif self.still_since is None:
                self.still_since = now
        self.last_grey = result.grey
        self.frames.append((now, result))
        while self.frames and self.frames[0][0] < now - self.window:
            self.frames.popleft()
        return self.view(now)

    def frozen(self, now: float) -> bool:
        return self.still_since is not None and now - self.still_since >= FROZEN_SECONDS

    def view(self, now: float | None = None) -> dict[str, Any]:
        now = time.monotonic() if now is None else now
        results = [r for _, r in self.frames]
        known = [r for r in results if r.known]
        last = results[-1] if results else None
        base = {
            "type": "live",
            "frames": len(results),
            "ood": last.ood if last else None,
            "ood_threshold": last.ood_threshold if last else None,
        }
        if self.frozen(now):
            return base | {"state": "frozen", "message": "The picture has not changed: frozen?"}
        if not results or len(known) * 2 < len(results):
            return base | {"state": "unknown", "message": "Not a scan of a known plane."}
        codes = list(known[0].planes)
        mean_p = {c: sum(r.planes[c] for r in known) / len(known) for c in codes}
        plane = max(codes, key=lambda c: mean_p[c])
        named = [r.confidence if r.plane == plane else 0.0 for r in known]
        confidence = sum(named) / len(results)
        score = sum(r.score for r in known) / len(known)
        key = self.rubric.planes[plane].structures
        shown = {s: round(sum(r.structures[s] for r in known) / len(known), 3) for s in key}
        return base | {
            "state": "scanning",
            "plane": plane,
            "plane_name": self.rubric.planes[plane].name,
            "confidence": round(confidence, 3),
            "quality": round(score, 2),
            "grade": self.rubric.grade(math.floor(score * 2 + 0.5) / 2),
            "structures": [
                {
                    "id": s,
                    "name": self.rubric.structures[s].name,
                    "p": p,
                    "shown": p >= STRUCTURE_SHOWN,
                }
                for s, p in shown.items()
            ],
        }
