"""The scoring rubric: planes, key structures, deduction items and grade bands, as data.

A rubric is loaded from YAML (``scoring/rubrics/default.yaml``) and validated: its shape by the
schema in ``scoring.rubric_schema`` (pydantic), the rules across its parts here; every error
names the file, the place in it and what is wrong. The score of an image is always
computed from its itemized deductions by :meth:`Rubric.score`, never taken from free text.
Plain Python: no torch, no Django.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from scoring.rubric_schema import ItemDoc, RubricDoc, schema_problem

DEFAULT_RUBRIC_PATH = Path(__file__).parent / "rubrics" / "default.yaml"

ItemKind = Literal["missing", "incomplete", "plane", "global"]


class RubricError(ValueError):
    """A rubric file that cannot be used. The message names the file, the place and the fault."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        self.source, self.where, self.problem = source, where, problem
        super().__init__(f"{source}: {where}: {problem}")


@dataclass(frozen=True)
class Grade:
    name: str
    min: float


@dataclass(frozen=True)
class StructureDef:
    id: str
    name: str


@dataclass(frozen=True)
class Item:
    """One deduction item. ``points`` is what it subtracts (a positive number)."""

    id: str
    kind: ItemKind
    condition: str
    points: float
    tip: str
    plane: str | None = None  # None for global items
    structure: str | None = None  # the key structure a missing/incomplete item is about
    group: str | None = None  # items sharing a group are mutually exclusive


@dataclass(frozen=True)
class Plane:
    code: str
    name: str
    standard: bool
    structures: tuple[str, ...]
    items: tuple[str, ...]  # ids of this plane's own items (structure items first)


@dataclass(frozen=True)
class Rubric:
    name: str
    max_score: float
    grades: tuple[Grade, ...]
    structures: Mapping[str, StructureDef]
    planes: Mapping[str, Plane]
    items: Mapping[str, Item]
    version: str
    source: str = field(default="<memory>", compare=False)
    data: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        table: dict[str, str] = {}
        for s in self.structures.values():
            table[_norm(s.name)] = s.id
            table[_norm(s.id)] = s.id
        object.__setattr__(self, "_by_name", table)

    __hash__ = None  # type: ignore[assignment]  # holds dicts; compare by value, key by version

    # ----------------------------------------------------------------- scoring
    def score(self, item_ids: Iterable[str]) -> float:
        """``max_score`` minus the points of the items, clamped to ``[0, max_score]``.

        Unknown ids raise ``KeyError``: callers validate first (see :meth:`check_deductions`).
        """
        total = sum(self.items[i].points for i in item_ids)
        return float(min(self.max_score, max(0.0, self.max_score - total)))

    def grade(self, score: float) -> str:
        """The band whose lower bound is the largest one not above ``score``."""
        if math.isnan(score):
            raise ValueError("score is NaN")
        score = min(self.max_score, max(0.0, score))
        current = self.grades[0].name
        for g in self.grades:
            if score >= g.min:
                current = g.name
        return current

    def grade_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.grades)

    def grade_at_least(self, grade: str | None, minimum: str) -> bool:
        """Whether ``grade`` is ``minimum``'s band or a higher one; False when either is not a
        band of this rubric (a grade from another rubric version, or none)."""
        names = self.grade_names()  # lowest band first
        return grade in names and minimum in names and names.index(grade) >= names.index(minimum)

    # ----------------------------------------------------------------- lookups
    @property
    def standard_planes(self) -> tuple[str, ...]:
        return tuple(c for c, p in self.planes.items() if p.standard)

    @property
    def global_items(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items.values() if i.kind == "global")

    def items_for(self, planes: Iterable[str]) -> list[Item]:
        """The items that can apply to an image labelled with ``planes``, plane items first."""
        out: list[Item] = []
        codes = list(planes)
        for code in codes:
            out.extend(self.items[i] for i in self.planes[code].items)
        if any(self.planes[c].standard for c in codes):
            out.extend(self.global_items)
        return out

    def structures_for(self, planes: Iterable[str]) -> list[str]:
        seen: dict[str, None] = {}
        for code in planes:
            for s in self.planes[code].structures:
                seen.setdefault(s, None)
        return list(seen)

    def unaccounted(
        self, planes: Iterable[str], boxed: Iterable[str], item_ids: Iterable[str]
    ) -> list[tuple[str, str]]:
        """The rubric's rule for key structures: on a standard plane every key structure is
        either boxed (displayed, or displayed incompletely with that deduction) or carries its
        "not displayed" deduction. Returns the key structures of ``planes`` that are neither,
        each with the "not displayed" item that accounts for it (that of the first plane that
        has the structure), in the planes' order. Empty for a non-standard image."""
        codes = [c for c in planes if c in self.planes]
        if not any(self.planes[c].standard for c in codes):
            return []
        have, shown = set(item_ids), set(boxed)
        out: list[tuple[str, str]] = []
        for sid in self.structures_for(codes):
            if sid in shown:
                continue
            owners = [c for c in codes if sid in self.planes[c].structures]
            if any(f"{c}.{sid}.missing" in have for c in owners):
                continue
            out.append((sid, f"{owners[0]}.{sid}.missing"))
        return out

    def structure_item(self, plane: str, structure: str, kind: Literal["missing", "incomplete"]):
        return self.items[f"{plane}.{structure}.{kind}"]

    def structure_id(self, name: str) -> str | None:
        """Structure id for a display name or an id (case and spacing tolerant), else None."""
        return self._by_name.get(_norm(name))

    # ----------------------------------------------------------------- checks
    def check_planes(self, planes: Iterable[str]) -> list[str]:
        codes = list(planes)
        problems = [f"unknown plane code {c!r}" for c in codes if c not in self.planes]
        if not codes:
            problems.append("no plane label")
        if len(set(codes)) != len(codes):
            problems.append(f"plane label repeated in {codes}")
        known = [c for c in codes if c in self.planes]
        if len(known) > 1 and any(not self.planes[c].standard for c in known):
            problems.append("a non-standard label cannot be combined with another plane")
        return problems

    def check_deductions(self, planes: Iterable[str], item_ids: Iterable[str]) -> list[str]:
        """Problems with applying ``item_ids`` to an image labelled ``planes`` (empty if fine)."""
        codes = [c for c in planes if c in self.planes]
        allowed = {i.id for i in self.items_for(codes)}
        problems: list[str] = []
        groups: dict[str, str] = {}
        seen: set[str] = set()
        for iid in item_ids:
            if iid in seen:
                problems.append(f"deduction {iid!r} applied twice")
                continue
            seen.add(iid)
            item = self.items.get(iid)
            if item is None:
                problems.append(f"unknown deduction item {iid!r}")
                continue
            if iid not in allowed:
                problems.append(f"deduction {iid!r} does not apply to plane(s) {'/'.join(codes)}")
                continue
            if item.group:
                if item.group in groups:
                    problems.append(
                        f"deductions {groups[item.group]!r} and {iid!r} exclude each other"
                    )
                else:
                    groups[item.group] = iid
        return problems


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


# --------------------------------------------------------------------- loading


def load_rubric(path: str | Path | None = None) -> Rubric:
    """Load and validate a rubric YAML file (the default rubric when ``path`` is None)."""
    p = Path(path) if path is not None else DEFAULT_RUBRIC_PATH
    source = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RubricError(source, "file", f"cannot be read ({exc.strerror or exc})") from exc
    return rubric_from_text(text, source=source)


def rubric_from_text(text: str, *, source: str = "<text>") -> Rubric:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or str(exc)
        raise RubricError(source, where, f"not valid YAML ({problem})") from exc
    return rubric_from_data(data, source=source)


@lru_cache(maxsize=1)
def default_rubric() -> Rubric:
    return load_rubric(DEFAULT_RUBRIC_PATH)


def rubric_version(data: Mapping[str, Any]) -> str:
    """A stable content hash: independent of YAML comments, key order and formatting."""
    canon = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "r-" + hashlib.sha256(canon.encode("utf-8")).hexdigest()[:12]


def rubric_from_data(data: Any, *, source: str = "<data>") -> Rubric:
    """Validate ``data`` (a parsed rubric file) and build the rubric; :class:`RubricError` if not.

    The file's shape (types, required and unknown keys, one-line texts, positive points, the
    structures a plane names) is the pydantic schema in ``scoring.rubric_schema``; what ties its
    parts together (item ids are unique, the grade bands rise) is checked after it by ``_build``.
    """
    structures = data.get("structures") if isinstance(data, Mapping) else None
    defined = list(structures) if isinstance(structures, Mapping) else []
    try:
        doc = RubricDoc.model_validate(data, context={"structures": defined})
    except ValidationError as exc:
        where, problem = schema_problem(exc, data)
        raise RubricError(source, where, problem) from None
    return _build(doc, data, source)


# --------------------------------------------------------------------- the rules across parts


def _build(doc: RubricDoc, data: Mapping[str, Any], source: str) -> Rubric:
    def fail(where: str, problem: str) -> RubricError:
        return RubricError(source, where, problem)

    grades = tuple(Grade(g.name, g.min) for g in doc.grades)
    if not grades:
        raise fail("grades", "at least one grade band is needed")
    if grades[0].min != 0:
        raise fail("grades[0]", f"the lowest band must start at 0, got {grades[0].min:g}")
    for n in range(1, len(grades)):
        if grades[n].min <= grades[n - 1].min:
            raise fail(f"grades[{n}]", "bands must be in increasing order of 'min'")
        if grades[n].min > doc.max_score:
            raise fail(f"grades[{n}]", f"'min' is above max_score {doc.max_score:g}")
    if len({g.name for g in grades}) != len(grades):
        raise fail("grades", "grade names must be unique")

    structures: dict[str, StructureDef] = {}
    names: set[str] = set()
    for sid, s in doc.structures.items():
        if _norm(s.name) in names:
            raise fail(f"structures.{sid}", f"display name {s.name!r} used twice")
        names.add(_norm(s.name))
        structures[sid] = StructureDef(sid, s.name)

    rules = {"missing": doc.structure_rules.missing, "incomplete": doc.structure_rules.incomplete}
    for kind, rule in rules.items():
        if "{name}" not in rule.condition:
            raise fail(f"structure_rules.{kind}", "'condition' must contain '{name}'")

    items: dict[str, Item] = {}

    def add_item(raw: ItemDoc, where: str, plane: str | None) -> str:
        where = f"{where} (item {raw.id})"
        if plane is not None and not raw.id.startswith(plane + "."):
            raise fail(where, f"a plane item's id must start with '{plane}.'")
        if raw.id in items:
            raise fail(where, f"item id {raw.id!r} defined twice")
        items[raw.id] = Item(
            id=raw.id,
            kind="global" if plane is None else "plane",
            condition=raw.condition,
            points=raw.points,
            tip=raw.tip,
            plane=plane,
            group=raw.group,
        )
        return raw.id

    planes: dict[str, Plane] = {}
    for n, p in enumerate(doc.planes):
        if p.code in planes:
            raise fail(f"planes[{n}]", f"plane code {p.code!r} defined twice")
        where = f"planes[{n}] ({p.code})"
        struct_ids: list[str] = []
        item_ids: list[str] = []
        for k, s in enumerate(p.structures):
            sw = f"{where}.structures[{k}]"
            if s.id in struct_ids:
                raise fail(sw, f"structure {s.id!r} listed twice")
            struct_ids.append(s.id)
            for kind, rule in rules.items():
                iid = f"{p.code}.{s.id}.{kind}"
                items[iid] = Item(
                    id=iid,
                    kind=kind,
                    condition=rule.condition.format(name=structures[s.id].name),
                    points=rule.points,
                    tip=getattr(s, f"{kind}_tip"),
                    plane=p.code,
                    structure=s.id,
                    group=f"{p.code}.{s.id}",
                )
                item_ids.append(iid)
        if p.standard and not struct_ids:
            raise fail(where, "a standard plane needs at least one key structure")
        for k, raw_item in enumerate(p.items):
            item_ids.append(add_item(raw_item, f"{where}.items[{k}]", p.code))
        planes[p.code] = Plane(p.code, p.name, p.standard, tuple(struct_ids), tuple(item_ids))
    if not any(p.standard for p in planes.values()):
        raise fail("planes", "no standard plane defined")
    for n, raw_item in enumerate(doc.global_items):
        add_item(raw_item, f"global_items[{n}]", None)

    return Rubric(
        name=doc.name,
        max_score=doc.max_score,
        grades=grades,
        structures=structures,
        planes=planes,
        items=items,
        version=rubric_version(data),
        source=source,
        data=data,
    )
