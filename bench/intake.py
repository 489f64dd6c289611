"""Intake speed: where the time of ``scoring.imaging.load_scan`` goes, against an earlier intake.

    python -m bench.intake [--count 8] [--against 40af988] [--clip-frames 30]

Images: fresh phantoms at 512 px (seed 4242, never tuned to), generated scanner screens at
640 x 480 and 1024 x 768 (a phantom sector with a title bar, a side panel, a footer and a name
and an ID typed inside the sector, as ``bench.deid`` draws them), and the real vendor screens of
pydicom's test data. Each goes through intake with the stage times recorded (sector search,
colour-Doppler decision, each of the detector's views, Tesseract, the pixel rules' mask and
fill), then the same files through the intake of ``--against`` (a git revision: its
``scoring/`` is taken with ``git archive`` and run in a child process on this machine in the
same run), and the ratio of the medians is printed. A 640 x 480 clip of ``--clip-frames``
frames gives the amortised time a frame.

Targets (issue 30): a 1024 x 768 screen <= 0.5 s, a 512 px phantom <= 0.25 s, a clip frame
<= 0.15 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from fractions import Fraction
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).parents[1]
DEFAULT_AGAINST = "40af988"  # the intake before issue 30 (three full views, Tesseract on all)
TARGETS = {"phantom_512": 0.25, "screen_1024x768": 0.5, "clip_frame_640x480": 0.15}
REAL = ("US1_UNCR.dcm", "OBXXXX1A.dcm", "gdcm-US-ALOKA-16.dcm", "examples_ybr_color.dcm")


def _png(img: Image.Image) -> bytes:
    buf = BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def scanner_screen(n: int, seed: int, size: tuple[int, int], labels: bool = True) -> Image.Image:
    """A scanner's screen of ``size``: a phantom sector 80 % of the height, furniture around
    it with patient text, and (``labels``) a name and an ID typed inside the sector; the same
    screen with or without them."""
    from bench import deid

    w, h = size
    side = int(0.8 * h) // 16 * 16
    index = n
    while (got := deid._sector(index, seed, side)) is None:
        index += 1
    img, mask = got
    s = deid.Screen(w, h)
    ox, oy = (w - side) // 2, int(0.12 * h)
    s.img.paste(img, (ox, oy))
    s.sector[oy : oy + side, ox : ox + side] = mask
    rng = np.random.default_rng([seed, n])
    fonts = deid._fonts()
    draw = ImageDraw.Draw(s.img)
    draw.rectangle((0, 0, w, oy - 4), fill=(38, 38, 52))
    s.text((6, 6), f"{deid.SITES[n % 4]}  {deid.NAMES[n % 5]}  MRN 0012{n:03d}", fonts[-1],
           (235, 235, 235))  # fmt: skip
    for k, line in enumerate(("ID 4711-{n}", "DOB 1961-04-12", "Dr SMITH")):
        s.text((8, oy + 20 + 24 * k), line, fonts[2], (190, 190, 190))
    for k, label in enumerate((deid.NAMES[(n + 3) % 5].replace("^", " "), f"ID {n:06d}")):
        if not labels:
            break
        colour, want = deid.KINDS[(2 * n + k) % len(deid.KINDS)]
        deid.place_label(s, rng, label, deid.INSIDE_COLOURS[colour], colour, want)
    return s.img


def inputs(count: int) -> dict[str, list[bytes]]:
    from pydicom.data import get_testdata_file

    from trainer.phantoms.render import generate

    out: dict[str, list[bytes]] = defaultdict(list)
    for i in range(count):
        out["phantom_512"].append(_png(generate(index=i, seed=4242, size=512)[0].convert("RGB")))
        for size in ((640, 480), (1024, 768)):
            out[f"screen_{size[0]}x{size[1]}"].append(_png(scanner_screen(i, 4343, size)))
    for name in REAL:
        path = get_testdata_file(name)
        if path is not None:
            out["real_vendor_screens"].append(Path(path).read_bytes())
    return out


def _stages() -> tuple[dict[str, float], list]:
    """Wrap intake's steps with timers; returns the totals and the undo list."""
    import scoring.imaging as intake
    from scoring.imaging import ocr, textfind

    totals: dict[str, float] = defaultdict(float)
    undo = []

    def wrap(module, name: str, label: str) -> None:
        real = getattr(module, name)

        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                totals[label] += time.perf_counter() - t

        setattr(module, name, timed)
        undo.append((module, name, real))

    wrap(intake, "find_scan_area", "sector")
    wrap(textfind, "is_doppler", "doppler")
    wrap(textfind, "key_view", "key_view")
    wrap(textfind, "spikes", "spike_tiles")
    wrap(textfind, "lift_view", "lift_view")
    wrap(textfind, "_probability_once", "detector_network")
    wrap(ocr, "read_words", "tesseract")
    wrap(intake, "mask_text", "pixel_rules")
    wrap(intake, "sector_inpaint", "fill")
    return totals, undo


def measure(data: dict[str, list[bytes]]) -> dict:
    from scoring.imaging import load_scan, textfind

    load_scan(data["phantom_512"][0])  # the detector's session, imports
    report = {}
    for kind, files in data.items():
        times, stage = [], defaultdict(float)
        for blob in files:
            textfind._seen.clear()  # each file looked at afresh
            totals, undo = _stages()
            t = time.perf_counter()
            load_scan(blob)
            times.append(time.perf_counter() - t)
            for module, name, real in undo:
                setattr(module, name, real)
            for k, v in totals.items():
                stage[k] += v / len(files)
        report[kind] = {
            "median_s": round(float(np.median(times)), 3),
            "max_s": round(float(np.max(times)), 3),
            "stages_mean_s": {k: round(v, 3) for k, v in sorted(stage.items())},
        }
    return report


_CHILD = """
import json, sys, time
import numpy as np
from pathlib import Path
from scoring.imaging import load_scan
files = json.loads(sys.argv[1])
load_scan(Path(files["phantom_512"][0]).read_bytes())
out = {}
for kind, paths in files.items():
    times = []
    for p in paths:
        data = Path(p).read_bytes()
        t = time.perf_counter(); load_scan(data); times.append(time.perf_counter() - t)
    out[kind] = float(np.median(times))
print(json.dumps(out))
"""


def against(rev: str, data: dict[str, list[bytes]]) -> dict[str, float] | None:
    """Median seconds of the same files through ``rev``'s intake, in a child process."""
    with tempfile.TemporaryDirectory(prefix="abvlmq-bench-intake-") as folder:
        tree = Path(folder) / "tree"
        tree.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "scoring", "trainer"],
            capture_output=True, check=False,
        )  # fmt: skip
        if archive.returncode != 0:
            print(f"cannot take {rev}'s intake: {archive.stderr.decode().strip()}", flush=True)
            return None
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        files: dict[str, list[str]] = {}
        for kind, blobs in data.items():
            files[kind] = []
            for i, blob in enumerate(blobs):
                path = Path(folder) / f"{kind}_{i}"
                path.write_bytes(blob)
                files[kind].append(str(path))
        env = {**os.environ, "PYTHONPATH": str(tree)}
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, json.dumps(files)],
            capture_output=True, env=env, cwd=folder, check=False,
        )  # fmt: skip
        if child.returncode != 0:
            print(f"{rev}'s intake failed: {child.stderr.decode()[-400:]}", flush=True)
            return None
        return json.loads(child.stdout.decode().strip().splitlines()[-1])


def clip_frame_seconds(frames: int) -> dict:
    """A 640 x 480 screen clip whose sector content moves every frame: intake a frame."""
    import av

    from scoring.imaging.clip import load_clip

    screen = scanner_screen(0, 4444, (640, 480))
    arr = np.asarray(screen)
    sector = np.zeros(arr.shape[:2], bool)
    side = int(0.8 * 480) // 16 * 16
    ox, oy = (640 - side) // 2, int(0.12 * 480)
    sector[oy : oy + side, ox : ox + side] = True
    out = BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(10))
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for i in range(frames):
            moved = np.roll(arr, (i % 5) - 2, axis=0)  # the probe moves; the furniture does not
            frame = np.where(sector[:, :, None], moved, arr).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    t = time.perf_counter()
    clip = load_clip(out.getvalue(), sample=8)
    seconds = time.perf_counter() - t
    return {
        "frames": clip.frames,
        "seconds": round(seconds, 2),
        "per_frame_s": round(seconds / clip.frames, 3),
        "furniture_looked_at": clip.metadata.get("furniture_runs"),
    }


def run(argv: list[str]) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__)
    p.add_argument("--count", type=int, default=8, help="phantoms and screens of each size")
    p.add_argument("--against", default=DEFAULT_AGAINST, help="a git revision ('' for none)")
    p.add_argument("--clip-frames", type=int, default=30)
    args = p.parse_args(argv)
    data = inputs(args.count)
    report: dict = {"now": measure(data)}
    if args.clip_frames:
        report["clip_640x480"] = clip_frame_seconds(args.clip_frames)
    before = against(args.against, data) if args.against else None
    ratios = {}
    for kind, figures in report["now"].items():
        line = f"{kind:22s} median {figures['median_s']:.3f} s"
        if before and kind in before:
            ratio = before[kind] / max(figures["median_s"], 1e-6)
            ratios[f"{kind}_speedup"] = ratio
            line += f"   {args.against}: {before[kind]:.3f} s   ({ratio:.1f}x faster)"
        target = TARGETS.get(kind)
        if target:
            line += f"   target <= {target} s"
        print(line, flush=True)
        print("    " + "  ".join(f"{k} {v:.3f}" for k, v in figures["stages_mean_s"].items()))
    if "clip_640x480" in report:
        c = report["clip_640x480"]
        print(f"clip 640x480: {c['frames']} frames in {c['seconds']} s, {c['per_frame_s']} s a "
              f"frame (target <= {TARGETS['clip_frame_640x480']})", flush=True)  # fmt: skip
    report["against"] = {"revision": args.against, "median_s": before}
    report["ratios"] = ratios
    return report


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1:]), indent=1))
