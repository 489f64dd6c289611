"""Reading a training config: YAML, ``key=value`` overrides, then pydantic validation of the
config dataclass (``FitConfig``, ``BaselineConfig``), with errors that name the key.

The dataclasses stay plain dataclasses (the code reads them as such); pydantic validates them
from the mapping: types (YAML's ``1e-4``, read as a string, is a number), unknown keys, nested
sections, and the dataclass's own ``__post_init__`` checks, whose :class:`ConfigError` message
reaches the user unchanged.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError

T = TypeVar("T")


class ConfigError(ValueError):
    """A config that cannot run; the message names the key and the problem."""


FORBID_UNKNOWN = ConfigDict(extra="forbid")  # set as __pydantic_config__ on each config class

_NUMBER = {"float_parsing", "float_type", "finite_number"}
_INTEGER = {"int_parsing", "int_type", "int_from_float"}


@cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def _message(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error["loc"]]
    path = ".".join(loc)
    where = ".".join(loc[:-1]) or "top level"
    kind, value = error["type"], error.get("input")
    if kind == "value_error":  # a __post_init__ check: its own message names the key
        return str(error["ctx"]["error"])
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        return f"{where}: unknown key(s) {loc[-1]}"
    if kind == "missing":
        return f"{where}: missing required key {loc[-1]!r}"
    if kind == "literal_error":
        return f"{path}: must be one of {error['ctx']['expected']}, got {value!r}"
    if kind in _NUMBER:
        return f"{path}: must be a number, got {value!r}"
    if kind in _INTEGER:
        return f"{path}: must be an integer, got {value!r}"
    if kind in ("dataclass_type", "dict_type", "dataclass_args_type"):
        return f"{path or 'top level'}: expected a mapping, got {type(value).__name__}"
    if kind == "list_type":
        return f"{path}: must be a list"
    if kind in ("string_type", "bool_type", "bool_parsing"):
        name = "str" if kind == "string_type" else "bool"
        return f"{path}: must be {name}, got {value!r}"
    return f"{path or 'top level'}: {error['msg']}"


def validate(cls: type[T], data: Any) -> T:
    """``cls`` (a config dataclass) from ``data``, or :class:`ConfigError` for the first fault."""
    if not isinstance(data, dict):
        raise ConfigError(f"top level: expected a mapping, got {type(data).__name__}")
    try:
        return _adapter(cls).validate_python(data)
    except ValidationError as exc:
        raise ConfigError(_message(exc.errors()[0])) from None


def set_path(data: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: {p} is not a mapping")
    node[last] = value


def read(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """A YAML config with ``key=value`` overrides applied (values parsed as YAML)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{p}: cannot be read ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping, got {type(data).__name__}")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected key=value")
        set_path(data, key.strip(), yaml.safe_load(raw) if raw else "")
    return data
