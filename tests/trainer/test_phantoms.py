"""Synthetic phantoms: deterministic, and every record agrees with the rubric and its image."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from scoring.rubric import default_rubric
from trainer.phantoms import (
    DUAL_PAIRS,
    contact_sheet,
    generate,
    generate_dataset,
    main,
    showcase,
    split_records,
)
from trainer.phantoms.defects import BOUNDARIES, MARGIN, att_item

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
SIZE = 256  # the geometry is resolution independent; small images keep the suite fast


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def rubric():
    return default_rubric()


@pytest.fixture(scope="module")
def batch():
    """60 images: every single plane, every dual pair and NS forced at least once, then drawn."""
    views = [[c] for c in default_rubric().standard_planes] + [list(p) for p in DUAL_PAIRS]
    views += [["NS"]] * 2
    out = [generate(i, 11, SIZE, planes=v) for i, v in enumerate(views)]
    out += [generate(i, 11, SIZE) for i in range(len(views), 60)]
    return out


def test_it_is_deterministic_for_a_seed():
    a_img, a_rec = generate(5, 123, SIZE)
    b_img, b_rec = generate(5, 123, SIZE)
    assert _png(a_img) == _png(b_img)
    assert json.dumps(a_rec, sort_keys=True) == json.dumps(b_rec, sort_keys=True)


def test_another_seed_or_index_gives_another_image():
    base = _png(generate(5, 123, SIZE)[0])
    assert _png(generate(5, 124, SIZE)[0]) != base
    assert _png(generate(6, 123, SIZE)[0]) != base


def test_images_have_the_requested_size_and_a_black_background():
    img, rec = generate(0, 3, 320, planes=["GB"])
    assert img.size == (320, 320) and rec["width"] == rec["height"] == 320
    a = np.asarray(img.convert("L"))
    x1, y1, x2, y2 = rec["meta"]["sector_box"]
    assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 320
    assert a[y1:y2, x1:x2].mean() > 20  # the sector shows tissue
    if not rec["meta"]["chrome"]:
        assert a[:, : max(1, x1 - 2)].max() == 0  # nothing left of the sector


@pytest.mark.slow
def test_every_record_validates_against_the_rubric(batch, rubric):
    for img, rec in batch:
        planes = rec["planes"]
        items = [d["item"] for d in rec["deductions"]]
        assert rubric.check_planes(planes) == [], rec
        assert rubric.check_deductions(planes, items) == [], rec
        assert rec["score"] == rubric.score(items)
        assert rec["grade"] == rubric.grade(rec["score"])
        assert img.size == (rec["width"], rec["height"])
        assert set(rec) == {
            "image",
            "width",
            "height",
            "planes",
            "structures",
            "deductions",
            "score",
            "grade",
            "meta",
        }
        for key in ("seed", "index", "geometry", "chrome", "sector_box", "attenuation_share"):
            assert key in rec["meta"]


def test_structures_are_the_key_structures_minus_the_missing_ones(batch, rubric):
    for _, rec in batch:
        items = [d["item"] for d in rec["deductions"]]
        if rec["planes"] == ["NS"]:
            assert rec["structures"] == []
            assert items == ["NS.not_standard"] and rec["score"] == 0
            continue
        missing = {rubric.items[i].structure for i in items if rubric.items[i].kind == "missing"}
        shown = [s["id"] for s in rec["structures"]]
        expected = [s for s in rubric.structures_for(rec["planes"]) if s not in missing]
        assert shown == expected, rec


def test_boxes_are_pixel_ints_inside_the_image(batch):
    for _, rec in batch:
        w, h = rec["width"], rec["height"]
        boxes = [s["box"] for s in rec["structures"]]
        boxes += [d["box"] for d in rec["deductions"] if d["box"] is not None]
        for x1, y1, x2, y2 in boxes:
            assert all(isinstance(v, int) for v in (x1, y1, x2, y2))
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h


def test_a_missing_structure_has_no_box_and_an_incomplete_one_has_its_visible_box(batch, rubric):
    for _, rec in batch:
        boxes = {s["id"]: s["box"] for s in rec["structures"]}
        for d in rec["deductions"]:
            item = rubric.items[d["item"]]
            if item.kind == "missing":
                assert d["box"] is None and item.structure not in boxes
            if item.kind == "incomplete":
                assert d["box"] == boxes[item.structure]


def test_incomplete_organs_touch_the_sector_edge(batch, rubric):
    for img, rec in batch:
        sector = np.asarray(img.convert("L")) > 0
        for d in rec["deductions"]:
            item = rubric.items[d["item"]]
            if item.kind == "incomplete" and item.structure in (
                "gallbladder",
                "right_kidney",
                "left_kidney",
                "spleen",
            ):
                x1, y1, x2, y2 = d["box"]
                # a cut organ's box reaches the black outside of the sector on some side
                ring = np.zeros_like(sector)
                ring[max(0, y1 - 2) : y2 + 2, max(0, x1 - 2) : x2 + 2] = True
                ring[y1:y2, x1:x2] = False
                assert (~sector & ring).any(), rec


def test_the_attenuation_share_matches_its_band_with_a_margin(batch):
    seen = 0
    for _, rec in batch:
        share = rec["meta"]["attenuation_share"]
        att = [d for d in rec["deductions"] if d["item"].startswith("ATT.")]
        if share is None:
            assert att == []
            continue
        seen += 1
        assert len(att) == 1 and att[0]["item"] == att_item(share)
        assert att[0]["box"] is not None
        assert all(abs(share - b) >= MARGIN - 1e-9 for b in BOUNDARIES)
    assert seen >= 5


@pytest.mark.parametrize("item", ["ATT.mild", "ATT.moderate", "ATT.severe"])
def test_each_attenuation_band_is_rendered_darker(item):
    plain, _ = generate(1, 4, SIZE, planes=["RKL"], deductions=[])
    dark, rec = generate(1, 4, SIZE, planes=["RKL"], deductions=[item])
    assert [d["item"] for d in rec["deductions"]] == [item]
    x1, y1, x2, y2 = rec["deductions"][0]["box"]
    a = np.asarray(plain.convert("L"), dtype=float)[y1:y2, x1:x2]
    b = np.asarray(dark.convert("L"), dtype=float)[y1:y2, x1:x2]
    assert b.mean() < a.mean() - 5


def test_global_defects_change_the_image_visibly():
    base = np.asarray(generate(2, 8, SIZE, planes=["GB"], deductions=[])[0].convert("L"), float)
    hi = np.asarray(
        generate(2, 8, SIZE, planes=["GB"], deductions=["GAIN.high"])[0].convert("L"), float
    )
    lo = np.asarray(
        generate(2, 8, SIZE, planes=["GB"], deductions=["GAIN.low"])[0].convert("L"), float
    )
    inside = base > 0
    assert hi[inside].mean() > base[inside].mean() + 20
    assert lo[inside].mean() < base[inside].mean() - 20


def test_forced_missing_and_incomplete_structures_are_recorded(rubric):
    _, rec = generate(3, 9, SIZE, planes=["RKL"], deductions=["RKL.right_kidney.missing"])
    assert [s["id"] for s in rec["structures"]] == ["right_lobe"]
    assert [d["item"] for d in rec["deductions"]] == ["RKL.right_kidney.missing"]
    assert rec["score"] == 7.0
    _, rec = generate(3, 9, SIZE, planes=["GB"], deductions=["GB.gallbladder.incomplete"])
    assert "GB.gallbladder.incomplete" in [d["item"] for d in rec["deductions"]]


@pytest.mark.slow
def test_the_score_distribution_covers_every_grade(rubric):
    recs = [generate(i, 21, 128)[1] for i in range(120)]
    std = [r for r in recs if r["planes"] != ["NS"]]
    grades = Counter(r["grade"] for r in std)
    assert set(grades) == set(rubric.grade_names())
    assert grades["Excellent"] / len(std) >= 0.15
    assert grades["Poor"] / len(std) >= 0.08
    assert any(r["planes"] == ["NS"] for r in recs)
    assert any(r["meta"]["chrome"] for r in recs) and not all(r["meta"]["chrome"] for r in recs)


def test_the_split_is_stratified_70_15_15_and_disjoint():
    recs = [
        {"planes": [p], "image": f"images/{i:06d}.png"}
        for i, p in enumerate(["GB"] * 40 + ["PAN"] * 20 + ["NS"] * 13)
    ]
    parts = split_records(recs, seed=1)
    names = [[r["image"] for r in parts[k]] for k in ("train", "val", "test")]
    flat = [n for part in names for n in part]
    assert len(flat) == len(set(flat)) == len(recs)
    assert [len(p) for p in names] == [51, 11, 11]
    for plane, n in (("GB", 40), ("PAN", 20), ("NS", 13)):
        counts = [sum(r["planes"] == [plane] for r in parts[k]) for k in ("train", "val", "test")]
        assert abs(counts[0] - 0.7 * n) <= 1 and all(abs(c - 0.15 * n) <= 1 for c in counts[1:])
    assert split_records(recs, seed=1) == parts


def test_the_dataset_writer_and_cli(tmp_path):
    recs = generate_dataset(tmp_path / "a", 12, seed=5, split=True, size=128)
    lines = (tmp_path / "a" / "annotations.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == recs
    for r in recs:
        assert (tmp_path / "a" / r["image"]).is_file()
    split = [
        json.loads(x)
        for k in ("train", "val", "test")
        for x in (tmp_path / "a" / f"{k}.jsonl").read_text().splitlines()
    ]
    assert sorted(split, key=lambda r: r["image"]) == recs
    assert main(["--out", str(tmp_path / "b"), "--count", "3", "--seed", "5", "--size", "128"]) == 0
    again = [json.loads(x) for x in (tmp_path / "b" / "annotations.jsonl").read_text().splitlines()]
    assert again == recs[:3]


@pytest.mark.slow
def test_contact_sheet_shows_every_plane():
    pairs = showcase(seed=0, size=SIZE)
    planes = {p for _, r in pairs for p in r["planes"]}
    assert planes == set(default_rubric().planes)
    sheet = contact_sheet(pairs, cols=5, tile=200)
    assert sheet.size[0] == 1000 and sheet.size[1] >= 200 * ((len(pairs) + 4) // 5)
    ARTIFACTS.mkdir(exist_ok=True)
    sheet.save(ARTIFACTS / "phantoms_contact_sheet.png")
