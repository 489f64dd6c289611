import json
from functools import lru_cache
from pathlib import Path

from django.conf import settings


@lru_cache(maxsize=4)
def _figures(report: Path, mtime: float) -> dict | None:
    """The headline figures of a model's evaluation report, as whole percentages."""
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
        pct = lambda v: round(100 * float(v))  # noqa: E731
        return {
            "n": int(data["n_images"]),
            "plane": pct(data["planes"]["label_accuracy"]),
            "precision": pct(data["detection"]["precision"]),
            "recall": pct(data["detection"]["recall"]),
            "grade": pct(data["grades"]["accuracy"]),
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None


# The reports a model folder may hold, the upload path first: what a resident uploading a
# scanner's screen gets (``python -m trainer upload-path``, then ``evaluate``), before phantoms
# fed straight to the engine, which no upload is.
REPORTS = (
    ("eval-upload/1024x768/report.json", "phantom screens uploaded at 1024 x 768"),
    ("eval/report.json", "held-out phantoms"),
)


def model_figures(model_dir: Path) -> dict | None:
    """What ``python -m trainer evaluate`` measured for the model in ``model_dir``, read from
    its report on the upload path, else its ``eval/report.json`` (so the banner stays true
    when the model changes), or None; ``what`` says on which images."""
    for name, what in REPORTS:
        report = Path(model_dir) / name
        try:
            mtime = report.stat().st_mtime
        except OSError:
            continue
        figures = _figures(report, mtime)
        if figures is not None:
            return {**figures, "what": what}
    return None


def model_banner(request) -> dict:
    """Every page says "not for clinical use: demo model" while the demo model serves, with
    what its evaluation report measured."""
    if not settings.ABVLMQ_DEMO_BANNER:
        return {"demo_model": False}
    return {"demo_model": True, "demo_figures": model_figures(settings.ABVLMQ_MODEL_DIR)}
