"""Typed readers of settings from the environment; a bad value fails loudly at start-up."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"Set the environment variable {name}.")
    return value


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}.") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def reminder_time(raw: str | None, *, default: tuple[int, int]) -> tuple[int, int]:
    """ "HH:MM" as (hour, minute); absent or unreadable: ``default`` (a warning in the log), so
    a typo in a schedule never stops the application or its reminders."""
    if raw is None or not raw.strip():
        return default
    try:
        hour, minute = (int(part) for part in raw.strip().split(":"))
        if 0 <= hour < 24 and 0 <= minute < 60:
            return hour, minute
    except ValueError:
        pass
    _warn(f"{raw!r} is not a time of day (HH:MM); keeping {default[0]:02d}:{default[1]:02d}")
    return default


def lenient_int(raw: str | None, *, default: int, low: int | None = None) -> int:
    """An integer setting read leniently: absent or unreadable (or below ``low``) keeps the
    default, with a warning in the log."""
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
        if low is None or value >= low:
            return value
    except ValueError:
        pass
    _warn(f"{raw!r} is not a usable number; keeping {default}")
    return default


def _warn(message: str) -> None:
    import logging

    logging.getLogger("abvlmq_web.settings").warning("setting: %s", message)
