"""Command line: ``python -m scoring rubric [--check FILE]`` and
``python -m scoring assess IMAGE... --model DIR [--adapter DIR] [--json]``."""

from __future__ import annotations

import argparse
import sys

from scoring.rubric import Rubric, RubricError, default_rubric, load_rubric


def _fmt(x: float) -> str:
    return f"{x:g}"


def rubric_table(rubric: Rubric) -> str:
    """The rubric as a plain-text table: planes, structures, items and points."""
    out = [f"{rubric.name}  (version {rubric.version}, max score {_fmt(rubric.max_score)})", ""]
    bands = [g.min for g in rubric.grades[1:]] + [rubric.max_score]
    out.append(
        "Grades: "
        + ", ".join(
            f"{g.name} [{_fmt(g.min)}, {_fmt(hi)}{']' if hi == rubric.max_score else ')'}"
            for g, hi in zip(rubric.grades, bands, strict=True)
        )
    )
    width = max(len(i.id) for i in rubric.items.values())
    for plane in rubric.planes.values():
        out += ["", f"{plane.code:<5} {plane.name}"]
        names = ", ".join(rubric.structures[s].name for s in plane.structures) or "-"
        out.append(f"      key structures: {names}")
        for iid in plane.items:
            item = rubric.items[iid]
            out.append(f"      {iid:<{width}}  -{_fmt(item.points):<3} {item.condition}")
    out += ["", "Global items (every standard plane)"]
    for item in rubric.global_items:
        group = f"  [one of: {item.group}]" if item.group else ""
        out.append(f"      {item.id:<{width}}  -{_fmt(item.points):<3} {item.condition}{group}")
    return "\n".join(out)


def _cmd_rubric(args: argparse.Namespace) -> int:
    if args.check:
        try:
            rubric = load_rubric(args.check)
        except RubricError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(
            f"ok: {args.check}: {len(rubric.planes)} planes, {len(rubric.items)} items, "
            f"version {rubric.version}"
        )
        return 0
    print(rubric_table(default_rubric()))
    return 0


def _cmd_assess(args: argparse.Namespace) -> int:
    import json

    from PIL import Image, UnidentifiedImageError

    from scoring.engine import Engine  # torch and transformers: only for this command

    images, names = [], []
    for path in args.images:
        try:
            with Image.open(path) as im:
                images.append(im.convert("RGB"))
        except (OSError, UnidentifiedImageError) as exc:
            print(f"error: cannot read image {path}: {exc}", file=sys.stderr)
            return 1
        names.append(path)
    engine = Engine.load(args.model, args.adapter, device=args.device, max_pixels=args.max_pixels)
    results = engine.assess(images, batch_size=args.batch_size)
    for name, result in zip(names, results, strict=True):
        if args.json:
            print(json.dumps({"image": name, "model_id": engine.model_id, **result.to_dict()}))
            continue
        print(
            f"{name}: {', '.join(result.planes) or 'no plane'}; score "
            f"{_fmt(result.score) if result.score is not None else '-'} "
            f"({result.grade or 'ungraded'}){'; needs review' if result.needs_review else ''}"
        )
        for s in result.structures:
            print(f"  structure {s.id} {list(s.box)} confidence {s.confidence}")
        for d in result.deductions:
            print(f"  -{_fmt(d.points)} {d.item}: {d.reason}")
        for e in result.errors:
            print(f"  error [{e['code']}] {e['message']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scoring", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("rubric", help="print the rubric, or check a rubric file")
    p.add_argument("--check", metavar="FILE", help="validate FILE; exit 1 with the error")
    p.set_defaults(func=_cmd_rubric)
    a = sub.add_parser("assess", help="assess images with a local Qwen2-VL checkpoint")
    a.add_argument("images", nargs="+", metavar="IMAGE", help="PNG/JPEG files")
    a.add_argument("--model", required=True, metavar="DIR", help="base checkpoint folder")
    a.add_argument("--adapter", metavar="DIR", help="LoRA adapter folder, merged into the base")
    a.add_argument("--json", action="store_true", help="one JSON object per image and line")
    a.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    a.add_argument("--max-pixels", type=int, help="cap on the pixels an image is resized to")
    a.add_argument("--batch-size", type=int, default=8)
    a.set_defaults(func=_cmd_assess)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
