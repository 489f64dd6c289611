"""Dataset versions: the split, the content hash and the export of a frozen set of records.

A dataset version is a list of :class:`Item` (a record id, the annotation record with its
image, the stored image file) frozen with a seed. Three rules, all plain Python:

- **The split** (:func:`assign_splits`): 70/15/15 train/val/test, stratified by the plane label
  set (``"GB"``, ``"LIV+RKL"``), deterministic for a seed. A record that an earlier version
  placed keeps its place: test in any earlier version means test now (so a later model is
  always judged on scans it never trained on), and a record an earlier version trained or
  validated on stays in train or val (so an earlier model is never judged on what it trained
  on). Only the records new to this version are drawn, each stratum's new records filling what
  its 70/15/15 lacks; a stratum whose locked test records exceed its share keeps them all.
- **The content hash** (:func:`content_hash`): sha256 over the records sorted by id, each with
  its split, its answer (the record as JSON with sorted keys, its image path left out) and the
  sha256 of its image bytes. The same records, answers, images and splits give the same hash.
- **The export** (:func:`write_export`): a folder the trainer reads as it is: ``images/``
  (every image, boxes or not), ``annotations.jsonl`` and ``train/val/test.jsonl`` (the
  trainer's records, ``python -m trainer validate --check-images`` passes on them),
  ``swift/<split>.jsonl`` (ms-swift's messages and images, image paths relative to the export
  folder; :mod:`trainer.export_swift`), ``coco/<split>.json`` with ``coco/<split>.csv`` (COCO
  boxes and the planes/deductions CSV that ``python -m trainer import-coco`` reads back,
  :mod:`trainer.coco`) and ``manifest.json`` (name, hash, seed, scans per split, plane and
  grade, and every file's sha256).
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scoring.records import check_record
from scoring.rubric import Rubric, default_rubric
from trainer.data import write_records
from trainer.export_swift import swift_sample

SPLITS: tuple[tuple[str, float], ...] = (("train", 0.70), ("val", 0.15), ("test", 0.15))
SPLIT_NAMES = tuple(name for name, _ in SPLITS)
MANIFEST = "manifest.json"


class ExportError(ValueError):
    """A version that cannot be exported; ``problems`` names each record and what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems[:20]))


def plane_key(planes: Iterable[str]) -> str:
    """The stratum of a record: its plane label set, sorted (``"LIV+RKL"``)."""
    return "+".join(sorted(planes)) or "-"


# --------------------------------------------------------------------------- the split


def _largest_remainder(shares: Mapping[str, float], total: int) -> dict[str, int]:
    """``total`` spread over ``shares`` (not necessarily summing to 1) by largest remainder."""
    weight = sum(shares.values())
    if total <= 0 or weight <= 0:
        return {k: 0 for k in shares}
    want = {k: v * total / weight for k, v in shares.items()}
    counts = {k: int(v) for k, v in want.items()}
    rest = total - sum(counts.values())
    for k in sorted(want, key=lambda k: (counts[k] - want[k], SPLIT_NAMES.index(k)))[:rest]:
        counts[k] += 1
    return counts


def assign_splits(
    items: Iterable[tuple[str, str]],
    seed: int,
    earlier: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Record id -> split for ``items`` ((record id, stratum) pairs; the stratum is
    :func:`plane_key` of its planes).

    ``earlier``: record id -> the split earlier versions gave it (``"test"`` when any of them
    had it in test; else its latest split). Those records keep their split; the new ones are
    drawn, in a seeded order, into what each stratum lacks of 70/15/15 of its size (with a
    carry between strata, so the whole version is 70/15/15 too when the strata are small).
    """
    earlier = earlier or {}
    strata: dict[str, list[str]] = defaultdict(list)
    for rid, key in items:
        strata[key].append(str(rid))
    out: dict[str, str] = {}
    carry = {name: 0.0 for name in SPLIT_NAMES}
    for key in sorted(strata):
        ids = sorted(set(strata[key]))
        n = len(ids)
        want = {name: share * n + carry[name] for name, share in SPLITS}
        target = {name: int(v) for name, v in want.items()}
        rest = n - sum(target.values())
        order = sorted(SPLIT_NAMES, key=lambda s: (target[s] - want[s], SPLIT_NAMES.index(s)))
        for name in order[:rest]:
            target[name] += 1
        for name in carry:
            carry[name] = want[name] - target[name]
        fixed = Counter()
        new: list[str] = []
        for rid in ids:
            split = earlier.get(rid)
            if split in SPLIT_NAMES:
                out[rid] = split
                fixed[split] += 1
            else:
                new.append(rid)
        random.Random(f"{int(seed)}:{key}").shuffle(new)
        lack = {name: max(0, target[name] - fixed[name]) for name in SPLIT_NAMES}
        # the lacks add up to at least len(new): the fixed ones fill n - len(new) places
        counts = _largest_remainder(lack, len(new))
        pos = 0
        for name in SPLIT_NAMES:
            for rid in new[pos : pos + counts[name]]:
                out[rid] = name
            pos += counts[name]
    return out


def earlier_splits(versions: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """The ``earlier`` argument of :func:`assign_splits` from earlier versions' record id ->
    split maps, oldest first: test in any of them wins, else the latest split."""
    out: dict[str, str] = {}
    for version in versions:
        for rid, split in version.items():
            if out.get(str(rid)) != "test":
                out[str(rid)] = split
    return out


# --------------------------------------------------------------------------- the hash


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Item:
    """One record of a version: ``id`` (unique, used for the image's file name), its split,
    the annotation record (a dict in the trainer's format, boxes in pixels; its ``image`` is
    replaced by the export's own path) and the stored image file it describes."""

    id: str
    split: str
    record: Mapping[str, Any]
    source: Path
    image_sha256: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def with_hash(self) -> Item:
        if self.image_sha256:
            return self
        return Item(
            self.id, self.split, self.record, self.source, file_sha256(self.source), self.extra
        )


def _answer(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("image", "meta")}


def content_hash(items: Iterable[Item]) -> str:
    """sha256 over the records sorted by id: id, split, answer and image hash of each."""
    digest = hashlib.sha256()
    for item in sorted((i.with_hash() for i in items), key=lambda i: i.id):
        line = {
            "id": item.id,
            "split": item.split,
            "answer": _answer(item.record),
            "image": item.image_sha256,
        }
        digest.update(json.dumps(line, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    return digest.hexdigest()


# --------------------------------------------------------------------------- the export


def image_name(item: Item) -> str:
    suffix = item.source.suffix.lower() or ".png"
    return f"images/{item.id}{suffix}"


def export_records(items: Sequence[Item], rubric: Rubric) -> list[dict[str, Any]]:
    """The records as the export writes them (image path inside the export, meta naming the
    record and its split), each checked against the rubric; :class:`ExportError` lists every
    record that fails."""
    out, problems = [], []
    for item in items:
        record = dict(item.record) | {"image": image_name(item)}
        meta = dict(record.get("meta") or {}) | {"id": item.id, "split": item.split}
        record["meta"] = meta | dict(item.extra)
        checked, faults = check_record(record, rubric)
        if checked is None or faults:
            problems += [f"record {item.id}: {f}" for f in faults]
            continue
        out.append(checked.to_dict())
    if problems:
        raise ExportError(problems)
    return out


def manifest_counts(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Scans per split, and per plane and per grade within each split (and overall)."""
    splits: Counter = Counter()
    planes: dict[str, Counter] = defaultdict(Counter)
    grades: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        split = r["meta"]["split"]
        splits[split] += 1
        for p in r["planes"]:
            planes[p][split] += 1
        grades[r["grade"]][split] += 1

    def table(rows: Mapping[str, Counter]) -> dict[str, dict[str, int]]:
        return {
            k: {s: rows[k][s] for s in SPLIT_NAMES} | {"total": sum(rows[k].values())}
            for k in sorted(rows)
        }

    return {
        "scans": len(records),
        "splits": {s: splits[s] for s in SPLIT_NAMES},
        "planes": table(planes),
        "grades": table(grades),
    }


def _coco(records: Sequence[Mapping[str, Any]], rubric: Rubric) -> dict[str, Any]:
    ids = {sid: n for n, sid in enumerate(rubric.structures, start=1)}
    images, annotations = [], []
    for n, r in enumerate(records, start=1):
        size = {"width": r["width"], "height": r["height"]}
        images.append({"id": n, "file_name": r["image"]} | size)
        for s in r["structures"]:
            x1, y1, x2, y2 = s["box"]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": n,
                    "category_id": ids[s["id"]],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    categories = [
        {"id": n, "name": rubric.structures[sid].name, "supercategory": "structure"}
        for sid, n in ids.items()
    ]
    return {"images": images, "annotations": annotations, "categories": categories}


def _write_coco(records: Sequence[Mapping[str, Any]], rubric: Rubric, out: Path, name: str):
    (out / f"{name}.json").write_text(json.dumps(_coco(records, rubric)), encoding="utf-8")
    with (out / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "planes", "deductions", "score"])
        for r in records:
            items = ";".join(d["item"] for d in r["deductions"])
            writer.writerow([r["image"], ";".join(r["planes"]), items, r["score"]])


def _write_swift(records: Sequence[Mapping[str, Any]], rubric: Rubric, out: Path, root: Path):
    """ms-swift's JSONL with image paths relative to the export folder (``root``)."""
    with out.open("w", encoding="utf-8") as fh:
        for r in records:
            record, _ = check_record(r, rubric)
            sample = swift_sample(record, root, rubric)
            sample["images"] = [r["image"]]
            fh.write(json.dumps(sample, ensure_ascii=False) + "\n")


def write_export(
    items: Sequence[Item],
    out_dir: str | Path,
    *,
    name: str,
    seed: int,
    rubric: Rubric | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the version's export into ``out_dir`` (made empty first); returns the manifest."""
    rubric = rubric or default_rubric()
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    items = sorted((i.with_hash() for i in items), key=lambda i: (SPLIT_NAMES.index(i.split), i.id))
    duplicates = [k for k, v in Counter(i.id for i in items).items() if v > 1]
    if duplicates:
        raise ExportError([f"record id {d} appears twice" for d in duplicates])
    records = export_records(items, rubric)
    for item in items:
        shutil.copyfile(item.source, out / image_name(item))
    write_records(records, out / "annotations.jsonl")
    (out / "swift").mkdir()
    (out / "coco").mkdir()
    for split in SPLIT_NAMES:
        part = [r for r in records if r["meta"]["split"] == split]
        write_records(part, out / f"{split}.jsonl")
        _write_swift(part, rubric, out / "swift" / f"{split}.jsonl", out)
        _write_coco(part, rubric, out / "coco", split)
    files = {str(p.relative_to(out)): file_sha256(p) for p in sorted(out.rglob("*")) if p.is_file()}
    manifest = {
        "name": name,
        "content_hash": content_hash(items),
        "seed": seed,
        "rubric_version": rubric.version,
        "counts": manifest_counts(records),
        "files": files,
    } | dict(extra or {})
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
