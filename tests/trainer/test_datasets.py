"""Dataset versions without Django (trainer/datasets.py): the stratified 70/15/15 split, the
test scans locked across versions, the content hash, and the export the trainer, ms-swift and
COCO tools read (every image in it, ``python -m trainer validate --check-images`` passing)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from scoring.rubric import default_rubric
from trainer.coco import import_coco
from trainer.data import load_records
from trainer.datasets import (
    ExportError,
    Item,
    assign_splits,
    content_hash,
    earlier_splits,
    plane_key,
    write_export,
)

ROOT = Path(__file__).resolve().parents[2]
RUBRIC = default_rubric()
PLANES = ["GB", "RKL", "PAN", "NS"]


def _strata(n: int, start: int = 0) -> list[tuple[str, str]]:
    return [(str(i), PLANES[i % len(PLANES)]) for i in range(start, start + n)]


# --------------------------------------------------------------------------- the split


def test_the_split_is_70_15_15_within_every_plane_and_fixed_by_the_seed():
    items = _strata(400)
    split = assign_splits(items, seed=5)
    assert split == assign_splits(list(reversed(items)), seed=5)  # order does not matter
    assert split != assign_splits(items, seed=6)
    for plane in PLANES:
        ids = [rid for rid, key in items if key == plane]
        counts = Counter(split[i] for i in ids)
        assert counts == {"train": 70, "val": 15, "test": 15}, (plane, counts)


def test_small_strata_still_add_up_to_70_15_15_overall():
    items = [(str(i), f"P{i % 13}") for i in range(100)]  # 13 planes, 7 or 8 scans each
    counts = Counter(assign_splits(items, seed=0).values())
    assert counts == {"train": 70, "val": 15, "test": 15}


def test_a_later_version_keeps_every_earlier_test_scan_in_test_and_draws_only_new_ones():
    v1 = assign_splits(_strata(100), seed=3)
    v2_items = _strata(100) + _strata(40, start=100)
    v2 = assign_splits(v2_items, seed=3, earlier=earlier_splits([v1]))
    assert all(v2[i] == s for i, s in v1.items())  # test stays test; train and val stay too
    new = Counter(v2[str(i)] for i in range(100, 140))
    assert new["test"] > 0 and new["train"] > new["val"]
    assert Counter(v2.values()) == {"train": 98, "val": 21, "test": 21}


def test_a_scan_in_test_in_any_earlier_version_is_test_even_after_moving_elsewhere():
    v1 = {"a": "test", "b": "train"}
    v2 = {"a": "train", "b": "val"}  # made by hand: the rule is "test in any earlier version"
    assert earlier_splits([v1, v2]) == {"a": "test", "b": "val"}
    # a stratum whose locked test scans exceed its share keeps them all in test; the new ones
    # fill train and val in their 70:15 proportion (the stratum's 20: 14 train, 3 val)
    locked = {str(i): "test" for i in range(10)}
    split = assign_splits([(str(i), "GB") for i in range(20)], seed=0, earlier=locked)
    assert all(split[str(i)] == "test" for i in range(10))
    assert Counter(split[str(i)] for i in range(10, 20)) == {"train": 8, "val": 2}


def test_plane_key_is_the_sorted_label_set():
    assert plane_key(["RKL", "LIV"]) == plane_key(["LIV", "RKL"]) == "LIV+RKL"


# --------------------------------------------------------------------------- records and images


def _record(n: int, plane: str) -> dict:
    if plane == "NS":
        item = "NS.not_standard"
        return {
            "image": "x", "width": 64, "height": 48, "planes": ["NS"], "structures": [],
            "deductions": [{"item": item, "box": None}], "score": RUBRIC.score([item]),
        }  # fmt: skip
    sid = {"GB": "gallbladder", "RKL": "right_kidney", "PAN": "pancreas"}[plane]
    others = [s for s in RUBRIC.structures_for([plane]) if s != sid]
    items = [f"{plane}.{s}.missing" for s in others]
    return {
        "image": "x",
        "width": 64,
        "height": 48,
        "planes": [plane],
        "structures": [{"id": sid, "box": [4 + n % 10, 6, 40, 30]}],
        "deductions": [{"item": i, "box": None} for i in items],
        "score": RUBRIC.score(items),
    }


def _items(folder: Path, n: int, seed: int = 0) -> list[Item]:
    folder.mkdir(parents=True, exist_ok=True)
    pairs = _strata(n)
    splits = assign_splits(pairs, seed)
    out = []
    for rid, plane in pairs:
        path = folder / f"stored-{rid}.png"
        Image.new("RGB", (64, 48), (int(rid) % 250, 20, 20)).save(path)
        out.append(Item(rid, splits[rid], _record(int(rid), plane), path))
    return out


def test_the_content_hash_follows_records_answers_images_and_splits(tmp_path):
    items = _items(tmp_path / "src", 12)
    first = content_hash(items)
    assert first == content_hash(list(reversed(items)))
    changed_answer = dict(items[0].record) | {"score": 0.0}
    other = [Item(items[0].id, items[0].split, changed_answer, items[0].source), *items[1:]]
    assert content_hash(other) != first
    moved = [Item(items[0].id, "val" if items[0].split != "val" else "test", items[0].record,
                  items[0].source), *items[1:]]  # fmt: skip
    assert content_hash(moved) != first
    Image.new("RGB", (64, 48), (1, 2, 3)).save(items[1].source)  # another image, same name
    assert content_hash(items) != first


# --------------------------------------------------------------------------- the export


@pytest.fixture
def exported(tmp_path):
    items = _items(tmp_path / "src", 40)
    out = tmp_path / "export"
    manifest = write_export(items, out, name="v1", seed=0)
    return items, out, manifest


def test_the_export_holds_every_image_and_the_trainer_validates_it(exported):
    items, out, _ = exported
    images = sorted(p.name for p in (out / "images").iterdir())
    assert images == sorted(f"{i.id}.png" for i in items)
    assert sum(1 for i in items if not i.record["structures"]) == 10  # the NS ones: no boxes
    for name in ("annotations.jsonl", "train.jsonl", "val.jsonl", "test.jsonl"):
        done = subprocess.run(
            [sys.executable, "-m", "trainer", "validate", "--data", str(out / name),
             "--check-images"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("ok:"), done.stdout
    records = load_records(out / "annotations.jsonl", check_images=True)
    assert len(records) == 40
    by_id = {r.meta["id"]: r for r in records}
    assert all(by_id[i.id].meta["split"] == i.split for i in items)
    test = load_records(out / "test.jsonl")
    assert {r.meta["id"] for r in test} == {i.id for i in items if i.split == "test"}


def test_the_manifest_counts_scans_per_split_plane_and_grade(exported):
    items, out, manifest = exported
    assert manifest == json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    splits = Counter(i.split for i in items)
    assert counts["scans"] == 40
    assert counts["splits"] == {s: splits[s] for s in ("train", "val", "test")}
    for plane in PLANES:
        want = Counter(i.split for i in items if i.record["planes"] == [plane])
        assert counts["planes"][plane] == {**{s: want[s] for s in counts["splits"]}, "total": 10}
    grades = Counter(RUBRIC.grade(i.record["score"]) for i in items)
    assert {g: row["total"] for g, row in counts["grades"].items()} == dict(grades)
    assert manifest["content_hash"] == content_hash(items)
    assert "images/0.png" in manifest["files"] and "coco/test.json" in manifest["files"]


def test_the_swift_export_names_every_image_relative_to_the_export(exported):
    _, out, _ = exported
    lines = []
    for split in ("train", "val", "test"):
        lines += [json.loads(line) for line in (out / "swift" / f"{split}.jsonl").open()]
    assert len(lines) == 40
    for sample in lines:
        (image,) = sample["images"]
        assert not Path(image).is_absolute() and (out / image).is_file()
        roles = [m["role"] for m in sample["messages"]]
        assert roles == ["system", "user", "assistant"]
        assert sample["messages"][1]["content"].startswith("<image>")


def test_the_coco_export_reads_back_through_import_coco(exported):
    items, out, _ = exported
    originals = {r.image: r for r in load_records(out / "annotations.jsonl")}
    back = []
    for split in ("train", "val", "test"):
        coco = json.loads((out / "coco" / f"{split}.json").read_text())
        assert len(coco["images"]) == sum(1 for i in items if i.split == split)  # boxes or not
        back += import_coco(out / "coco" / f"{split}.json", out / "coco" / f"{split}.csv")
    assert len(back) == 40
    for r in back:
        o = originals[r.image]
        assert (r.planes, r.structures, r.item_ids, r.score) == (
            o.planes, o.structures, o.item_ids, o.score,
        )  # fmt: skip


def test_a_record_the_rubric_refuses_stops_the_export_naming_it(tmp_path):
    items = _items(tmp_path / "src", 4)
    bad = dict(items[0].record) | {"planes": ["XX"]}
    items[0] = Item(items[0].id, items[0].split, bad, items[0].source)
    with pytest.raises(ExportError) as caught:
        write_export(items, tmp_path / "out", name="bad", seed=0)
    assert "record 0" in str(caught.value)
