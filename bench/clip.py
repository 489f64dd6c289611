"""Clips on the demo model: assessing a clip's N-frame sample in one batch against N
single-frame assessments of the same frames.

    python -m bench.clip [--model models/demo] [--frames 8] [--seconds 4]

A phantom clip (H.264 MP4, 6 fps) goes through ``scoring.imaging.clip.load_clip`` (decode,
every frame de-identified, the sample drawn, the clip re-encoded), then its sample through
``Engine.assess`` once as one batch and once frame by frame. Batching should make N frames cost
well under N single frames: target, the singles take at least 2x as long as the batch for 8.
"""

from __future__ import annotations

import argparse
import time
from fractions import Fraction
from io import BytesIO
from pathlib import Path

DEFAULT_MODEL = Path(__file__).parents[1] / "models" / "demo"
TARGET = 2.0


def _mp4(seconds: float, fps: int = 6, size: int = 224) -> bytes:
    import av
    import numpy as np

    from trainer.phantoms import generate

    out = BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(int(seconds * fps)):
            rgb = np.asarray(generate(i % 12, 2024, size)[0].convert("RGB"))
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def run(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.clip", description=__doc__)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--frames", type=int, default=8, help="frames sampled and assessed")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the clip")
    args = parser.parse_args(argv)

    from scoring.engine import Engine
    from scoring.imaging.clip import load_clip

    data = _mp4(args.seconds)
    t0 = time.perf_counter()
    clip = load_clip(data, sample=args.frames)
    intake_s = time.perf_counter() - t0
    samples = clip.samples
    engine = Engine.load(args.model, device="cpu")
    engine.assess(samples[:2], batch_size=2)  # warm-up: first-call allocations, lazy imports

    t0 = time.perf_counter()
    batched = engine.assess(samples, batch_size=len(samples))
    batch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    singles = [engine.assess([image], batch_size=1)[0] for image in samples]
    singles_s = time.perf_counter() - t0

    n = len(samples)
    print(
        f"clip intake: {clip.frames} frames in {intake_s:.2f} s "
        f"({clip.frames / intake_s:.1f} frames/s, de-identified and re-encoded)",
        flush=True,
    )
    print(f"{n} frames as one batch: {batch_s:.2f} s ({batch_s / n:.3f} s/frame)", flush=True)
    print(f"{n} frames one by one:   {singles_s:.2f} s ({singles_s / n:.3f} s/frame)", flush=True)
    same = sum(a.score == b.score for a, b in zip(batched, singles, strict=True))
    return {
        "model_id": engine.model_id,
        "frames": n,
        "clip_frames": clip.frames,
        "intake_seconds": round(intake_s, 3),
        "batch_seconds": round(batch_s, 3),
        "singles_seconds": round(singles_s, 3),
        "same_score_batched_and_single": f"{same}/{n}",
        "ratios": {f"clip{n}_singles_vs_batch": singles_s / batch_s},
        "targets": {f"clip{n}_singles_vs_batch": TARGET},
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=1))
