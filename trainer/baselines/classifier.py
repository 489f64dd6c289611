"""Baseline 1: a plain CNN from scratch that names the plane and the deduction items.

Eight convolutions with BatchNorm on a grey image (112 px by default), global average pooling,
and two linear heads: plane codes (a softmax over the first code plus a multi-label sigmoid, as
the VLM's vision stage) and rubric items (multi-label). The answer is then built as the VLM's
is read: the plane (and a valid dual label), the items allowed for it, the score and grade by
the rubric. It draws no boxes; the detector baseline does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scoring.records import Record
from scoring.rubric import Rubric

from .common import (
    PREDICTIONS_FILE,
    BaselineConfig,
    as_float,
    choose_items,
    choose_planes,
    grey_tensor,
    train_and_save,
    write_predictions,
)


def build(n_planes: int, n_items: int):
    import torch
    from torch import nn

    def block(cin: int, cout: int, stride: int, k: int = 3) -> list[nn.Module]:
        conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)
        return [conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    widths = [(1, 24, 2, 5), (24, 24, 1, 3), (24, 48, 2, 3), (48, 48, 1, 3), (48, 96, 2, 3)]
    widths += [(96, 96, 1, 3), (96, 192, 2, 3), (192, 192, 1, 3)]
    layers: list[nn.Module] = []
    for cin, cout, stride, k in widths:
        layers += block(cin, cout, stride, k)

    class PlaneNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.planes = nn.Linear(192, n_planes)
            self.items = nn.Linear(192, n_items)

        def forward(self, x):
            h = torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)
            return self.planes(h), self.items(h)

    return PlaneNet()


def targets(records: Sequence[Record], rubric: Rubric):
    import torch

    planes, items = list(rubric.planes), list(rubric.items)
    tp = torch.zeros(len(records), len(planes))
    ti = torch.zeros(len(records), len(items))
    for k, r in enumerate(records):
        for c in r.planes:
            tp[k, planes.index(c)] = 1
        for d in r.deductions:
            ti[k, items.index(d.item)] = 1
    return tp, ti


def predict(model, images, records: Sequence[Record], rubric: Rubric) -> list[dict[str, Any]]:
    """Annotation records (with ``meta.plane_confidence``) for ``images`` (N, 1, S, S) uint8."""
    import torch

    planes, items = list(rubric.planes), list(rubric.items)
    out = []
    with torch.no_grad():
        for start in range(0, len(records), 128):
            lp, li = model(as_float(images[start : start + 128]))
            soft = torch.softmax(lp, -1)
            sig_p, sig_i = torch.sigmoid(lp), torch.sigmoid(li)
            for k, r in enumerate(records[start : start + 128]):
                chosen = choose_planes(sig_p[k].tolist(), rubric, planes)
                if not any(p > 0.5 for p in sig_p[k].tolist()):
                    chosen = [planes[int(soft[k].argmax())]]
                probs = dict(zip(items, sig_i[k].tolist(), strict=True))
                ids = choose_items(probs, chosen, rubric)
                score = rubric.score(ids)
                out.append(
                    {
                        "image": r.image,
                        "width": r.width,
                        "height": r.height,
                        "planes": chosen,
                        "structures": [],
                        "deductions": [{"item": i, "box": None} for i in ids],
                        "score": score,
                        "grade": rubric.grade(score),
                        "meta": {"plane_confidence": round(float(soft[k].max()), 5)},
                    }
                )
    return out


def label_accuracy(preds: Sequence[dict], records: Sequence[Record]) -> float:
    total = 0.0
    for p, r in zip(preds, records, strict=True):
        a, b = set(p["planes"]), set(r.planes)
        total += len(a & b) / max(1, len(a | b))
    return total / max(1, len(records))


def run_classifier(
    config: BaselineConfig, rubric: Rubric, train: Sequence[Record], curve: Sequence[Record]
) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    settings = config.classifier
    out = Path(config.out) / "classifier"
    root = Path(config.data)
    torch.manual_seed(config.seed)
    images = grey_tensor(root, train, settings.size)
    curve_images = grey_tensor(Path(config.curve_data).parent, curve, settings.size)
    tp, ti = targets(train, rubric)
    model = build(tp.shape[1], ti.shape[1])

    def step(idx: list[int]):
        x = as_float(images[idx])
        if torch.rand(()) < 0.5:  # gain jitter: scanners differ in overall brightness
            x = x * (0.8 + 0.4 * torch.rand(len(idx), 1, 1, 1))
        lp, li = model(x)
        y, z = tp[idx], ti[idx]
        bce = F.binary_cross_entropy_with_logits
        return F.cross_entropy(lp, y.argmax(-1)) + bce(lp, y) + bce(li, z)

    def probe() -> dict[str, Any]:
        preds = predict(model, curve_images, curve, rubric)
        grades = sum(p["grade"] == r.grade for p, r in zip(preds, curve, strict=True))
        return {
            "plane_accuracy": round(label_accuracy(preds, curve), 4),
            "grade_accuracy": round(grades / max(1, len(curve)), 4),
        }

    summary = train_and_save("classifier", model, step, len(train), config, probe)
    if config.test_data:
        from trainer.data import load_records

        test_path = Path(config.test_data)
        test = load_records(test_path, rubric)
        test_images = grey_tensor(test_path.parent, test, settings.size)
        preds = predict(model.eval(), test_images, test, rubric)
        summary["predictions"] = str(write_predictions(out / PREDICTIONS_FILE, preds))
    return summary
