"""Baseline 2: torchvision's FCOS detector, from scratch, on a small CNN backbone with an FPN.

Grey 128 px images, three feature levels (strides 8, 16, 32), 64 FPN channels, a head of two
convolutions per branch (torchvision's default is four: half the cost on 2 cores); FCOS assigns a
box to a level by its size (anchor sizes 4, 8, 16 px give the ranges 0-32, 32-64 and > 64 px).
A plane's key structures appear once each, so the answer keeps the best box of each structure
whose score clears a threshold; the threshold is the one with the best F1 on the held-out
curve set (never the test set).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scoring.records import Record
from scoring.rubric import Rubric

from .common import (
    PREDICTIONS_FILE,
    BaselineConfig,
    grey_tensor,
    train_and_save,
    write_predictions,
)

THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)


def build(n_structures: int, size: int):
    import torch
    from torch import nn
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.fcos import FCOSHead
    from torchvision.ops import FeaturePyramidNetwork

    def block(cin: int, cout: int, stride: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    class Backbone(nn.Module):
        out_channels = 64

        def __init__(self) -> None:
            super().__init__()
            self.c2 = nn.Sequential(block(1, 24, 2), block(24, 32, 1), block(32, 48, 2))  # /4
            self.c3 = nn.Sequential(block(48, 64, 2), block(64, 64, 1))  # /8
            self.c4 = nn.Sequential(block(64, 128, 2), block(128, 128, 1))  # /16
            self.c5 = nn.Sequential(block(128, 192, 2), block(192, 192, 1))  # /32
            self.fpn = FeaturePyramidNetwork([64, 128, 192], self.out_channels)

        def forward(self, x):
            c3 = self.c3(self.c2(x))
            c4 = self.c4(c3)
            c5 = self.c5(c4)
            return self.fpn(OrderedDict([("0", c3), ("1", c4), ("2", c5)]))

    anchors = AnchorGenerator(sizes=((4,), (8,), (16,)), aspect_ratios=((1.0,),) * 3)
    model = FCOS(
        Backbone(),
        num_classes=n_structures + 1,  # labels 1..n; 0 is never a target
        min_size=size,
        max_size=size,
        image_mean=[0.145],
        image_std=[0.21],
        anchor_generator=anchors,
        head=FCOSHead(64, 1, n_structures + 1, num_convs=2),  # 2 convolutions a branch, not 4
        score_thresh=0.05,
        detections_per_img=60,
    )
    torch.nn.init.zeros_(model.head.regression_head.bbox_ctrness.weight)
    return model


def targets(records: Sequence[Record], rubric: Rubric, size: int):
    import torch

    structures = list(rubric.structures)
    out = []
    for r in records:
        sx, sy = size / r.width, size / r.height
        boxes = [[b.box[0] * sx, b.box[1] * sy, b.box[2] * sx, b.box[3] * sy] for b in r.structures]
        labels = [structures.index(b.id) + 1 for b in r.structures]
        out.append(
            {
                "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                "labels": torch.tensor(labels, dtype=torch.int64),
            }
        )
    return out


def raw_detections(model, images) -> list[list[tuple[int, float, list[float]]]]:
    """Per image: (structure index, score, box in model pixels), best box of each structure."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(images), 64):
            chunk = [im.float() / 255.0 for im in images[start : start + 64]]
            for det in model(chunk):
                best: dict[int, tuple[float, list[float]]] = {}
                found = zip(det["boxes"], det["labels"], det["scores"], strict=True)
                for box, label, score in found:
                    k, s = int(label) - 1, float(score)
                    if k >= 0 and (k not in best or s > best[k][0]):
                        best[k] = (s, box.tolist())
                out.append([(k, s, b) for k, (s, b) in sorted(best.items())])
    return out


def to_records(raw, records: Sequence[Record], rubric: Rubric, size: int, threshold: float):
    structures = list(rubric.structures)
    out = []
    for dets, r in zip(raw, records, strict=True):
        sx, sy = r.width / size, r.height / size
        found = [
            {
                "id": structures[k],
                "box": [round(b[0] * sx), round(b[1] * sy), round(b[2] * sx), round(b[3] * sy)],
            }
            for k, s, b in dets
            if s >= threshold
        ]
        size_of = {"image": r.image, "width": r.width, "height": r.height}
        out.append(size_of | {"planes": [], "structures": found})
    return out


def detection_figures(preds: Sequence[dict], records: Sequence[Record]) -> dict[str, float]:
    from trainer import metrics

    det = metrics.detection_metrics(
        [
            ([(s["id"], s["box"]) for s in p["structures"]], [(b.id, b.box) for b in r.structures])
            for p, r in zip(preds, records, strict=True)
        ],
        n_boot=0,
    )
    return {
        "detection_precision": round(det["precision"], 4),
        "detection_recall": round(det["recall"], 4),
        "detection_f1": round(det["f1"], 4),
        "mean_iou": round(det["mean_iou"] or 0.0, 4),
    }


def best_threshold(raw, records: Sequence[Record], rubric: Rubric, size: int) -> tuple[float, dict]:
    scored = []
    for t in THRESHOLDS:
        figures = detection_figures(to_records(raw, records, rubric, size, t), records)
        scored.append((figures["detection_f1"], t, figures))
    _f1, t, figures = max(scored, key=lambda x: (x[0], x[1]))
    return t, figures


def run_detector(
    config: BaselineConfig, rubric: Rubric, train: Sequence[Record], curve: Sequence[Record]
) -> dict[str, Any]:
    import torch

    settings = config.detector
    size = settings.size
    out = Path(config.out) / "detector"
    torch.manual_seed(config.seed)
    images = grey_tensor(Path(config.data), train, size)
    curve_images = grey_tensor(Path(config.curve_data).parent, curve, size)
    boxes = targets(train, rubric, size)
    model = build(len(rubric.structures), size)

    def step(idx: list[int]):
        chunk = [images[i].float() / 255.0 for i in idx]
        losses = model(chunk, [boxes[i] for i in idx])
        return sum(losses.values())

    def probe() -> dict[str, Any]:
        raw = raw_detections(model, curve_images)
        return detection_figures(to_records(raw, curve, rubric, size, 0.3), curve)

    summary = train_and_save("detector", model, step, len(train), config, probe)
    model.eval()
    threshold, figures = best_threshold(raw_detections(model, curve_images), curve, rubric, size)
    summary["threshold"] = {"value": threshold, "chosen_on": "curve set", **figures}
    if config.test_data:
        from trainer.data import load_records

        test_path = Path(config.test_data)
        test = load_records(test_path, rubric)
        raw = raw_detections(model, grey_tensor(test_path.parent, test, size))
        preds = to_records(raw, test, rubric, size, threshold)
        summary["predictions"] = str(write_predictions(out / PREDICTIONS_FILE, preds))
    return summary
