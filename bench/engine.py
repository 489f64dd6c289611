"""Engine throughput on the demo model: images per second at batch 1, 8 and 32, peak memory.

    python -m bench.engine [--model models/demo] [--images 32]

The same phantom images go through ``Engine.assess`` at each batch size (greedy, left padding,
each batch runs until its longest answer ends). Target (issue 4): batch 8 at least 3x the
images per second of batch 1 on CPU.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

DEFAULT_MODEL = Path(__file__).parents[1] / "models" / "demo"
TARGET_RATIO_8 = 3.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _images(count: int, size: int = 224):
    from trainer.phantoms import generate

    return [generate(i, 2024, size)[0] for i in range(count)]


def run(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--images", type=int, default=32, help="images per batch size")
    parser.add_argument("--single", type=int, default=8, help="images for the batch-1 run")
    args = parser.parse_args(argv)

    from scoring.engine import Engine

    engine = Engine.load(args.model, device="cpu")
    images = _images(args.images)
    engine.assess(images[:2], batch_size=2)  # warm-up: first-call allocations, lazy imports
    rows: dict[int, dict] = {}
    for batch in (1, 8, 32):
        subset = images[: args.single] if batch == 1 else images
        t0 = time.perf_counter()
        results = engine.assess(subset, batch_size=batch)
        seconds = time.perf_counter() - t0
        rows[batch] = {
            "images": len(subset),
            "seconds": round(seconds, 3),
            "images_per_s": round(len(subset) / seconds, 3),
            "s_per_image": round(seconds / len(subset), 4),
            "complete": sum(r.complete for r in results),
            "peak_rss_mb": round(_peak_rss_mb(), 1),
        }
        r = rows[batch]
        print(
            f"batch {batch:>2}: {r['images_per_s']:.2f} images/s ({r['s_per_image']:.3f} s/image, "
            f"{r['complete']}/{r['images']} complete), peak RSS {r['peak_rss_mb']:.0f} MB",
            flush=True,
        )
    single = rows[1]["images_per_s"]
    ratios = {
        "batch8_vs_single": rows[8]["images_per_s"] / single,
        "batch32_vs_single": rows[32]["images_per_s"] / single,
    }
    return {
        "model_id": engine.model_id,
        "rows": rows,
        "ratios": ratios,
        "targets": {"batch8_vs_single": TARGET_RATIO_8},
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=1))
