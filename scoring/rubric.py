"""The scoring rubric: planes, key structures, deduction items and grade bands, as data.

A rubric is loaded from YAML (``scoring/rubrics/default.yaml``) and validated here; every
error names the file, the place in it and what is wrong. The score of an image is always
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

DEFAULT_RUBRIC_PATH = Path(__file__).parent / "rubrics" / "default.yaml"

ItemKind = Literal["missing", "incomplete", "plane", "global"]

_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_ITEM_RE = re.compile(r"^[A-Z][A-Z0-9]*(\.[A-Za-z0-9_]+)+$")


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
    v = _Validator(source)
    return v.rubric(data)


class _Validator:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> RubricError:
        return RubricError(self.source, where, problem)

    # small typed getters ------------------------------------------------------
    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a mapping, got {type(value).__name__}")
        return value

    def seq(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list, got {type(value).__name__}")
        return value

    def text(self, m: Mapping[str, Any], key: str, where: str, *, default: str | None = None):
        value = m.get(key, default)
        if not isinstance(value, str) or not value.strip():
            if value is None:
                raise self.fail(where, f"'{key}' is missing")
            raise self.fail(where, f"'{key}' must be a non-empty string, got {value!r}")
        if "\n" in value.strip() or "<|" in value:
            raise self.fail(where, f"'{key}' must be one line without special tokens")
        return value.strip()

    def number(self, m: Mapping[str, Any], key: str, where: str, *, positive: bool = True):
        value = m.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise self.fail(where, f"'{key}' must be a number, got {value!r}")
        if positive and value <= 0:
            raise self.fail(where, f"'{key}' must be greater than 0, got {value!r}")
        return float(value)

    def unknown_keys(self, m: Mapping[str, Any], allowed: set[str], where: str) -> None:
        extra = sorted(set(m) - allowed)
        if extra:
            raise self.fail(where, f"unknown key(s) {', '.join(map(repr, extra))}")

    # the rubric ---------------------------------------------------------------
    def rubric(self, data: Any) -> Rubric:
        top = self.mapping(data, "top level")
        self.unknown_keys(
            top,
            {
                "name",
                "max_score",
                "grades",
                "structure_rules",
                "structures",
                "planes",
                "global_items",
            },
            "top level",
        )
        name = self.text(top, "name", "top level")
        max_score = self.number(top, "max_score", "top level")
        grades = self.grades(top.get("grades"), max_score)
        structures = self.structures(top.get("structures"))
        rules = self.rules(top.get("structure_rules"))
        items: dict[str, Item] = {}
        planes: dict[str, Plane] = {}
        for n, raw in enumerate(self.seq(top.get("planes"), "planes")):
            code = raw.get("code") if isinstance(raw, Mapping) else None
            if code in planes:
                raise self.fail(f"planes[{n}]", f"plane code {code!r} defined twice")
            plane = self.plane(raw, n, structures, rules, items)
            planes[plane.code] = plane
        if not any(p.standard for p in planes.values()):
            raise self.fail("planes", "no standard plane defined")
        for n, raw in enumerate(self.seq(top.get("global_items", []), "global_items")):
            self.item(raw, f"global_items[{n}]", None, items)
        return Rubric(
            name=name,
            max_score=max_score,
            grades=grades,
            structures=structures,
            planes=planes,
            items=items,
            version=rubric_version(top),
            source=self.source,
            data=top,
        )

    def grades(self, raw: Any, max_score: float) -> tuple[Grade, ...]:
        out: list[Grade] = []
        for n, g in enumerate(self.seq(raw, "grades")):
            where = f"grades[{n}]"
            g = self.mapping(g, where)
            self.unknown_keys(g, {"name", "min"}, where)
            gmin = self.number(g, "min", where, positive=False)
            out.append(Grade(self.text(g, "name", where), gmin))
        if not out:
            raise self.fail("grades", "at least one grade band is needed")
        if out[0].min != 0:
            raise self.fail("grades[0]", f"the lowest band must start at 0, got {out[0].min:g}")
        for n in range(1, len(out)):
            if out[n].min <= out[n - 1].min:
                raise self.fail(f"grades[{n}]", "bands must be in increasing order of 'min'")
            if out[n].min > max_score:
                raise self.fail(f"grades[{n}]", f"'min' is above max_score {max_score:g}")
        if len({g.name for g in out}) != len(out):
            raise self.fail("grades", "grade names must be unique")
        return tuple(out)

    def structures(self, raw: Any) -> dict[str, StructureDef]:
        out: dict[str, StructureDef] = {}
        names: set[str] = set()
        for sid, s in self.mapping(raw, "structures").items():
            where = f"structures.{sid}"
            if not isinstance(sid, str) or not _ID_RE.match(sid):
                raise self.fail(where, "structure ids are lower_snake_case")
            s = self.mapping(s, where)
            self.unknown_keys(s, {"name"}, where)
            name = self.text(s, "name", where)
            if _norm(name) in names:
                raise self.fail(where, f"display name {name!r} used twice")
            names.add(_norm(name))
            out[sid] = StructureDef(sid, name)
        return out

    def rules(self, raw: Any) -> dict[str, tuple[float, str]]:
        m = self.mapping(raw, "structure_rules")
        out = {}
        for kind in ("missing", "incomplete"):
            where = f"structure_rules.{kind}"
            r = self.mapping(m.get(kind), where)
            cond = self.text(r, "condition", where)
            if "{name}" not in cond:
                raise self.fail(where, "'condition' must contain '{name}'")
            out[kind] = (self.number(r, "points", where), cond)
        self.unknown_keys(m, {"missing", "incomplete"}, "structure_rules")
        return out

    def plane(self, raw, n, structures, rules, items) -> Plane:
        where = f"planes[{n}]"
        p = self.mapping(raw, where)
        code = p.get("code")
        if not isinstance(code, str) or not _CODE_RE.match(code):
            raise self.fail(where, f"'code' must be 1-8 capitals/digits, got {code!r}")
        where = f"planes[{n}] ({code})"
        self.unknown_keys(p, {"code", "name", "standard", "structures", "items"}, where)
        name = self.text(p, "name", where)
        standard = p.get("standard", True)
        if not isinstance(standard, bool):
            raise self.fail(where, "'standard' must be true or false")
        struct_ids: list[str] = []
        item_ids: list[str] = []
        for k, s in enumerate(self.seq(p.get("structures", []), f"{where}.structures")):
            sw = f"{where}.structures[{k}]"
            s = self.mapping(s, sw)
            self.unknown_keys(s, {"id", "missing_tip", "incomplete_tip"}, sw)
            sid = s.get("id")
            if sid not in structures:
                raise self.fail(sw, f"structure {sid!r} is not defined under 'structures'")
            if sid in struct_ids:
                raise self.fail(sw, f"structure {sid!r} listed twice")
            struct_ids.append(sid)
            for kind in ("missing", "incomplete"):
                points, cond = rules[kind]
                iid = f"{code}.{sid}.{kind}"
                items[iid] = Item(
                    id=iid,
                    kind=kind,
                    condition=cond.format(name=structures[sid].name),
                    points=points,
                    tip=self.text(s, f"{kind}_tip", sw),
                    plane=code,
                    structure=sid,
                    group=f"{code}.{sid}",
                )
                item_ids.append(iid)
        if standard and not struct_ids:
            raise self.fail(where, "a standard plane needs at least one key structure")
        for k, raw_item in enumerate(self.seq(p.get("items", []), f"{where}.items")):
            item = self.item(raw_item, f"{where}.items[{k}]", code, items)
            item_ids.append(item.id)
        return Plane(code, name, standard, tuple(struct_ids), tuple(item_ids))

    def item(self, raw: Any, where: str, plane: str | None, items: dict[str, Item]) -> Item:
        m = self.mapping(raw, where)
        iid = m.get("id")
        if not isinstance(iid, str) or not _ITEM_RE.match(iid):
            raise self.fail(where, f"'id' must look like 'GB.wall_unclear', got {iid!r}")
        where = f"{where} (item {iid})"
        self.unknown_keys(m, {"id", "condition", "points", "tip", "group"}, where)
        if plane is not None and not iid.startswith(plane + "."):
            raise self.fail(where, f"a plane item's id must start with '{plane}.'")
        if iid in items:
            raise self.fail(where, f"item id {iid!r} defined twice")
        group = m.get("group")
        if group is not None and (not isinstance(group, str) or not group):
            raise self.fail(where, "'group' must be a non-empty string")
        item = Item(
            id=iid,
            kind="global" if plane is None else "plane",
            condition=self.text(m, "condition", where),
            points=self.number(m, "points", where),
            tip=self.text(m, "tip", where),
            plane=plane,
            group=group,
        )
        items[iid] = item
        return item
