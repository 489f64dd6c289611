"""The rubric file's shape as pydantic models, and its faults in the rubric's own words.

``RubricDoc.model_validate(data, context={"structures": [...the ids under 'structures']})``
checks types, required and unknown keys, one-line texts, positive points, plane codes, item ids
and that each key structure of a plane is defined; ``schema_problem`` turns the first fault into
(where, problem) as ``scoring.rubric.RubricError`` reports it: "planes[5] (GB).items[0] (item
GB.wall_unclear)", "'points' must be a number, got 'three'". The rules across parts (unique ids,
rising grade bands) and the building of the rubric are ``scoring.rubric``'s. No torch, no Django.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_ITEM_RE = re.compile(r"^[A-Z][A-Z0-9]*(\.[A-Za-z0-9_]+)+$")

# Each error names its key the way the hand-written checks did before pydantic: "'points' must
# be a number, got 'three'". An absent required key reads as null, so it gets the same message
# as a null value (``_RubricPart`` fills them in).


def _fault(problem: str) -> PydanticCustomError:
    return PydanticCustomError("rubric", "{problem}", {"problem": problem})


def _text(value: Any, info: ValidationInfo) -> str:
    key = info.field_name
    if not isinstance(value, str) or not value.strip():
        if value is None:
            raise _fault(f"'{key}' is missing")
        raise _fault(f"'{key}' must be a non-empty string, got {value!r}")
    if "\n" in value.strip() or "<|" in value:
        raise _fault(f"'{key}' must be one line without special tokens")
    return value.strip()


def _number(value: Any, info: ValidationInfo) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise _fault(f"'{info.field_name}' must be a number, got {value!r}")
    return float(value)


def _positive(value: Any, info: ValidationInfo) -> float:
    number = _number(value, info)
    if number <= 0:
        raise _fault(f"'{info.field_name}' must be greater than 0, got {value!r}")
    return number


def _matching(pattern: re.Pattern[str], problem: str):
    def check(value: Any, info: ValidationInfo) -> str:
        if not isinstance(value, str) or not pattern.match(value):
            raise _fault(f"'{info.field_name}' {problem}, got {value!r}")
        return value

    return check


def _flag(value: Any, info: ValidationInfo) -> bool:
    if not isinstance(value, bool):
        raise _fault(f"'{info.field_name}' must be true or false")
    return value


def _group(value: Any, info: ValidationInfo) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise _fault(f"'{info.field_name}' must be a non-empty string")
    return value


def _structure_id(value: Any) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise _fault("structure ids are lower_snake_case")
    return value


def _defined_structure(value: Any, info: ValidationInfo) -> str:
    if value not in info.context["structures"]:  # the keys under 'structures' (a list)
        raise _fault(f"structure {value!r} is not defined under 'structures'")
    return value


Text = Annotated[str, BeforeValidator(_text)]
Number = Annotated[float, BeforeValidator(_number)]
Points = Annotated[float, BeforeValidator(_positive)]
PlaneCode = Annotated[str, BeforeValidator(_matching(_CODE_RE, "must be 1-8 capitals/digits"))]
ItemId = Annotated[str, BeforeValidator(_matching(_ITEM_RE, "must look like 'GB.wall_unclear'"))]
StructureId = Annotated[str, BeforeValidator(_structure_id)]


class _RubricPart(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _absent_keys_read_as_null(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data  # pydantic says it is no mapping
        required = {k: None for k, f in cls.model_fields.items() if f.is_required()}
        return {**required, **data}


class _GradeDoc(_RubricPart):
    min: Number
    name: Text


class _StructureDoc(_RubricPart):
    name: Text


class _RuleDoc(_RubricPart):
    model_config = ConfigDict(extra="ignore")  # as before pydantic: other keys go unread

    condition: Text
    points: Points


class _StructureRulesDoc(_RubricPart):
    missing: _RuleDoc
    incomplete: _RuleDoc


class ItemDoc(_RubricPart):
    id: ItemId
    condition: Text
    points: Points
    tip: Text
    group: Annotated[str | None, BeforeValidator(_group)] = None


class _KeyStructureDoc(_RubricPart):
    id: Annotated[str, BeforeValidator(_defined_structure)]
    missing_tip: Text
    incomplete_tip: Text


class _PlaneDoc(_RubricPart):
    code: PlaneCode
    name: Text
    standard: Annotated[bool, BeforeValidator(_flag)] = True
    structures: list[_KeyStructureDoc] = []
    items: list[ItemDoc] = []


class RubricDoc(_RubricPart):
    name: Text
    max_score: Points
    grades: list[_GradeDoc]
    structures: dict[StructureId, _StructureDoc]
    structure_rules: _StructureRulesDoc
    planes: list[_PlaneDoc]
    global_items: list[ItemDoc] = []


_NAMES = {("planes", "code"), ("items", "id"), ("global_items", "id")}
_NOT_A = {
    "model_type": "mapping",
    "model_attributes_type": "mapping",
    "dict_type": "mapping",
    "list_type": "list",
}


def schema_problem(exc: ValidationError, data: Any) -> tuple[str, str]:
    """The first fault pydantic found, as (where, problem) in the rubric's own words."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    owner = first["loc"] if first["type"] in _NOT_A else first["loc"][:-1]
    unknown = [e for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == owner]
    # A mapping's unknown keys come first, in one message; only the code of a plane and the id
    # of an item, which name them in the messages, are checked before.
    naming = len(owner) >= 2 and (owner[-2], first["loc"][-1]) in _NAMES
    if unknown and not naming:
        keys = sorted(str(e["loc"][-1]) for e in unknown)
        return _where(data, owner), f"unknown key(s) {', '.join(map(repr, keys))}"
    loc = tuple(p for p in first["loc"] if p != "[key]")
    kind = first["type"]
    if kind in _NOT_A:
        return _where(data, loc), f"must be a {_NOT_A[kind]}, got {type(first['input']).__name__}"
    if kind == "rubric" and first["loc"][-1:] != ("[key]",):
        return _where(data, loc[:-1]), first["msg"]  # a key's fault: named by its container
    return _where(data, loc), first["msg"]


def _where(data: Any, loc: tuple[int | str, ...]) -> str:
    """``('planes', 5, 'items', 0)`` -> ``planes[5] (GB).items[0] (item GB.wall_unclear)``."""
    if not loc:
        return "top level"
    out, node, parent = "", data, None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if isinstance(node, Mapping) and parent == "planes":
                code = node.get("code")
                if isinstance(code, str) and _CODE_RE.match(code):
                    out += f" ({code})"
            elif isinstance(node, Mapping) and parent in ("items", "global_items"):
                iid = node.get("id")
                if isinstance(iid, str) and _ITEM_RE.match(iid):
                    out += f" (item {iid})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, Mapping) else None
            parent = part
    return out
