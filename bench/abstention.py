"""Abstention bench: does the model decline what it cannot read?

    python -m bench.abstention [--model models/demo] [--count 200]

1. AUROC of the out-of-distribution score: fresh phantoms against the negatives that
   ``trainer.ood`` draws (textures, text screens, CT/MR-like slices, flipped and rescaled
   phantoms, other organs), with the share of each set that abstains at the stored threshold.
2. Every real vendor DICOM in ``../shared/realdata/dicom`` (when that folder is beside the
   checkout; a bench may read it, the tests never do) through the same intake as an upload,
   then the engine: does it abstain, or is it refused by intake?
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata" / "dicom"


def real_scans(engine) -> list[dict]:
    from scoring.imaging import IntakeError, load_scan

    rows = []
    for path in sorted(REALDATA.glob("*.dcm")) if REALDATA.is_dir() else []:
        row: dict = {"file": path.name}
        try:
            result = load_scan(path.read_bytes())
        except IntakeError as exc:
            rows.append({**row, "outcome": f"refused by intake ({exc.code})"})
            continue
        if not result.is_ultrasound:
            rows.append({**row, "outcome": "refused by intake (not ultrasound)"})
            continue
        assessment = engine.assess([result.image])[0]
        row["ood_score"] = assessment.ood_score
        row["outcome"] = (
            "abstained"
            if assessment.abstained
            else (f"GRADED {assessment.grade} ({','.join(assessment.planes)})")
        )
        rows.append(row)
    return rows


def run(argv: list[str]) -> dict:
    from scoring.engine import Engine
    from trainer import ood as trainer_ood

    p = argparse.ArgumentParser(prog="python -m bench.abstention")
    p.add_argument("--model", default=str(ROOT / "models" / "demo"))
    p.add_argument("--count", type=int, default=200)
    args = p.parse_args(argv)
    engine = Engine.load(args.model, device="cpu")
    report = trainer_ood.measure(engine, count=args.count, seed=99)
    print(trainer_ood.markdown(report))
    rows = real_scans(engine)
    for row in rows:
        print(f"real {row['file']}: {row['outcome']}  ood={row.get('ood_score')}")
    handled = [r for r in rows if not r["outcome"].startswith("GRADED")]
    out = {
        "auroc_all": report["auroc_all"],
        "phantoms_abstained": report["phantoms"]["abstained"],
        "negatives": {k: v["auroc"] for k, v in report["negatives"].items()},
        "real_files": len(rows),
        "real_not_graded": len(handled),
        "ratios": {"auroc_over_chance": report["auroc_all"] / 0.5},
    }
    if rows:
        out["ratios"]["real_not_graded_share"] = len(handled) / len(rows)
        out["targets"] = {"real_not_graded_share": 1.0}
    print(json.dumps(out, indent=1, default=float))
    return out


if __name__ == "__main__":
    run(__import__("sys").argv[1:])
