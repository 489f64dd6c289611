"""``python -m bench [NAME ...]``: run every bench in :data:`bench.BENCHES` (or those named)."""

from __future__ import annotations

import importlib
import json
import sys

from bench import BENCHES


def main(argv: list[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv)
    chosen = [m for m in BENCHES if not names or m.rsplit(".", 1)[-1] in names]
    results: dict[str, dict] = {}
    for module_name in chosen:
        print(f"== {module_name}", flush=True)
        module = importlib.import_module(module_name)
        results[module_name] = module.run([])
    print("\n== ratios")
    for module_name, result in results.items():
        for key, value in result.get("ratios", {}).items():
            target = result.get("targets", {}).get(key)
            verdict = "" if target is None else (" ok" if value >= target else " BELOW TARGET")
            goal = "" if target is None else f" (target >= {target:g})"
            print(f"{module_name}: {key} = {value:.2f}{goal}{verdict}")
    print(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
